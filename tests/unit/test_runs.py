"""``scrapy runs`` (crawler/commands/runs.py) on a folder of known runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from crawler.commands.runs import list_runs, table
from tests.support.paths import ROOT


def report(spider: str, run_id: str, start: str, **changes: Any) -> dict[str, Any]:
    return {
        "spider": spider,
        "run_id": run_id,
        "finish_reason": "finished",
        "started_at": f"{start}+00:00",
        "finished_at": f"{start}+00:00",
        "duration_seconds": 75.5,
        "items": {
            "scraped": {"product": 180},
            "stored": {},
            "rejected": {"product": 10},
            "rejected_by_reason": {},
        },
        "failures": {"count": 6, "by_reason": {}},
        "problems": [],
        **changes,
    }


@pytest.fixture
def output(tmp_path: Path) -> Path:
    out = tmp_path / "output"
    runs = [
        report("products", "2026-11-20T02-00-00Z", "2026-11-20T02:00:00"),
        report(
            "comments",
            "2026-11-21T02-00-00Z",
            "2026-11-21T02:00:00",
            finish_reason="shutdown",
            problems=["the run stopped early (shutdown)"],
            items={"scraped": {"comment": 3}, "rejected": {}},
            failures={"count": 0},
        ),
        report("products", "2026-11-22T02-00-00Z", "2026-11-22T02:00:00", duration_seconds=3.25),
    ]
    for run in runs:
        folder = out / run["spider"] / run["run_id"]
        folder.mkdir(parents=True)
        (folder / "report.json").write_bytes(orjson.dumps(run))
    (out / "products" / "killed").mkdir()  # a run killed before its report
    return out


def test_newest_first_with_the_counts(output: Path) -> None:
    runs = list_runs(output)
    assert [(r["spider"], r["run_id"]) for r in runs] == [
        ("products", "killed"),  # by its folder's time: now
        ("products", "2026-11-22T02-00-00Z"),
        ("comments", "2026-11-21T02-00-00Z"),
        ("products", "2026-11-20T02-00-00Z"),
    ]
    killed, newest, broken, _ = runs
    assert killed["verdict"] == "unfinished" and killed["report"] is None
    assert newest == {
        "spider": "products",
        "run_id": "2026-11-22T02-00-00Z",
        "started_at": "2026-11-22T02:00:00+00:00",
        "duration_seconds": 3.25,
        "finish_reason": "finished",
        "verdict": "good",
        "valid": 180,
        "rejected": 10,
        "failed": 6,
        "report": str(output / "products" / "2026-11-22T02-00-00Z" / "report.json"),
    }
    assert (broken["verdict"], broken["finish_reason"], broken["valid"]) == (
        "broken",
        "shutdown",
        3,
    )


def test_spider_and_limit(output: Path) -> None:
    runs = list_runs(output, spider="products", limit=2)
    assert [r["run_id"] for r in runs] == ["killed", "2026-11-22T02-00-00Z"]
    assert list_runs(output, spider="brands") == []


def test_table(output: Path) -> None:
    lines = table(list_runs(output)).splitlines()
    assert lines[0].split()[:3] == ["started", "(UTC)", "duration"]
    assert "2026-11-22 02:00:00  3.2 s" in lines[2]
    assert "1 m 16 s" in lines[4] and lines[4].rstrip().endswith("report.json")


def scrapy_runs(output: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRAWLER_OUTPUT_DIR": str(output), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "runs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command(output: Path) -> None:
    done = scrapy_runs(output, "--json", "--spider", "products", "--limit", "3")
    assert done.returncode == 0, done.stderr
    assert [r["run_id"] for r in orjson.loads(done.stdout)] == [
        "killed",
        "2026-11-22T02-00-00Z",
        "2026-11-20T02-00-00Z",
    ]
    text = scrapy_runs(output)
    assert text.returncode == 0 and len(text.stdout.splitlines()) == 5
    bad = scrapy_runs(output, "--limit", "-1")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].endswith("--limit must be 0 or more, got -1.")
    assert "No runs in" in scrapy_runs(output / "none").stdout
