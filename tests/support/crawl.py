"""Helpers for the crawl tests: run a real crawl in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.support.paths import ROOT


@dataclass
class CrawlResult:
    items: list[dict[str, Any]]
    stats: dict[str, Any]
    output_dir: Path
    returncode: int
    stderr: str
    #: the simulator's /_sim/stats after the crawl, where a test took them
    sim_stats: dict[str, Any] = field(default_factory=dict)

    def ids(self, item_type: str) -> list[int]:
        return [item["id"] for item in self.items if item["item_type"] == item_type]

    def feed_records(self, spider: str, kind: str) -> list[dict[str, Any]]:
        """Every record of the run's ``<kind>-NNNNN.jsonl`` batch files."""
        records = []
        for path in sorted(self.output_dir.glob(f"{spider}/*/{kind}-*.jsonl")):
            records.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
        return records


def run_crawl(
    spider: str,
    marketplace_url: str,
    tmp_path: Path,
    args: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    timeout: float = 300,
) -> CrawlResult:
    output_dir = tmp_path / "output"
    out = tmp_path / f"crawl-{spider}.json"
    spec = {
        "spider": spider,
        "args": args or {},
        "settings": {
            "MARKETPLACE_URL": marketplace_url,
            "OUTPUT_DIR": str(output_dir),
            "LOG_LEVEL": "WARNING",
            **(settings or {}),
        },
        "out": str(out),
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = crawl_log(tmp_path, spider)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as stderr:  # a file, not a pipe: a test can read it during the crawl
        proc = subprocess.run(
            [
                sys.executable,
                str(ROOT / "tests" / "support" / "crawl_runner.py"),
                orjson.dumps(spec).decode(),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=timeout,
        )
    text = log.read_text(errors="replace")
    if not out.exists():
        raise AssertionError(f"crawl {spider} wrote no result:\n{text[-4000:]}")
    data = orjson.loads(out.read_bytes())
    return CrawlResult(data["items"], data["stats"], output_dir, proc.returncode, text)


def crawl_log(tmp_path: Path, spider: str) -> Path:
    """Where :func:`run_crawl` writes the crawl's log (its stderr), line by line
    as the crawl goes: a test that runs a crawl in a thread can wait on a line."""
    return tmp_path / f"crawl-{spider}.log"


def duplicates(values: list[Any]) -> list[Any]:
    return [value for value, count in Counter(values).items() if count > 1]
