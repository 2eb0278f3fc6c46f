"""What the README's and the manual's commands leave in the checkout is ignored
by git (issue 12, item 7), so that docs/scrapyd.md's "clean `git status`"
holds after them: feeds, the HTTP cache, a redis-server's dump, the local
MongoDB's data, new benchmark results."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.paths import ROOT

LEFT_BY_COMMANDS = [
    "output/products/sim-tiny/products-00001.jsonl",  # any crawl, make demo
    "output/demo/demo-2026-12-01T10-00-00Z.log",  # make demo's crawl log
    ".scrapy/httpcache/products/ab/abcdef/response_body",  # -s HTTPCACHE_ENABLED=True
    "dump.rdb",  # redis-server started in the checkout (docs/distributed.md)
    ".mongo-data/db/WiredTiger",  # scripts/mongo-start.sh
    ".mongo-data/secantusd.log",
    "bench/results/2026-12-01T10-00-00Z.json",  # make bench
    "bench/results/ratelimit-2026-12-01T10-00-00Z-latency.json",
]


@pytest.mark.parametrize("path", LEFT_BY_COMMANDS)
def test_what_the_commands_leave_is_ignored(path: str) -> None:
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, capture_output=True
    )
    if proc.returncode == 128:
        pytest.skip("not a git checkout")
    assert proc.returncode == 0, f"{path} would show in `git status`"


def test_the_committed_benchmark_results_stay_tracked() -> None:
    proc = subprocess.run(
        ["git", "ls-files", "bench/results"], cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip("not a git checkout")
    assert proc.stdout.split(), "docs/benchmarks.md cites committed results"
