"""The image guard's resolver in the crawl tests (``IMAGES_RESOLVER``).

It answers the simulator's refused names with the addresses the guard must
refuse (a metadata service, a private host) and every other name with an
error: the tests' crawls never ask the system's DNS, and since the guard
refuses these names before any connection, nothing is ever sent to those
addresses (the crawl tests check the refusal; tests/unit/test_ssrf.py checks
the rules themselves)."""

from __future__ import annotations

#: the simulator's refused names (sim/images.py) and what they resolve to here
SIM_ZONE = {
    "metadata.sim.test": ["169.254.169.254"],
    "private.sim.test": ["10.0.0.7"],
}


def sim_resolver(host: str) -> list[str]:
    try:
        return SIM_ZONE[host]
    except KeyError:
        raise OSError(f"{host}: not a name of the tests' zone") from None
