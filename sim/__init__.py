"""Local simulator of the marketplace JSON API the crawler targets.

`python -m sim --port 0 --size tiny` serves the listings, product-detail and reviews
endpoints (in the real API's shape, which docs/simulator.md summarises) from a
deterministic, lazily generated catalogue, with fault knobs (`sim.faults`) and a
ground truth at `/_sim/truth`. `sim.testing.SimProcess` starts it as a subprocess
for tests and benchmarks.
"""
