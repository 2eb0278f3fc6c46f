"""The README's simulator commands work as written (issue 12, item 7): its
"A first crawl" blocks are run by bash, as a new user would paste them, with
only the port changed (8000 may be taken on a test machine) and the output
folders set to the test's; they find the simulator's products, and with the
local MongoDB recipe store them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import orjson

from sim.testing import free_port
from tests.support.paths import ROOT

FENCE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def readme_blocks() -> list[str]:
    """The bash blocks of the README's "A first crawl" that run the simulator."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A first crawl", 1)[1].split("\n## ", 1)[0]
    return [block for block in FENCE.findall(section) if "python -m sim" in block]


def test_the_readme_crawls_a_running_simulator_and_finds_its_products(
    truth, tmp_path: Path
) -> None:
    blocks = readme_blocks()
    assert len(blocks) == 2, "the simulator crawl, then the same with MongoDB"
    assert "mongo-start.sh" in blocks[1]
    port = str(free_port())
    script = "\n".join(blocks).replace("8000", port)
    env = {
        **os.environ,
        "CRAWLER_OUTPUT_DIR": str(tmp_path / "output"),
        "MONGO_DATA_DIR": str(tmp_path / "mongo"),
    }
    for name in ("MARKETPLACE_URL", "CATEGORIES", "MONGO_URI", "VIRTUAL_ENV"):
        env.pop(name, None)
    log = tmp_path / "readme.log"
    with log.open("wb") as stderr:  # a file: a pipe would wait for the background jobs
        proc = subprocess.Popen(
            ["bash", "-e", "-c", script],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=300)
        finally:
            try:  # whatever the script left running (it kills both on success)
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
    err = log.read_text(errors="replace")
    assert proc.returncode == 0, err[-4000:]
    valid = sorted(truth["products"]["valid"])
    for run_id in ("sim-tiny", "sim-tiny-mongo"):
        folder = tmp_path / "output" / "products" / run_id
        ids = [
            orjson.loads(line)["id"]
            for path in sorted(folder.glob("products-*.jsonl"))
            for line in path.read_bytes().splitlines()
        ]
        assert sorted(ids) == valid, run_id
    assert f"'items/stored/product': {len(valid)}," in err  # the MongoDB run's stats
