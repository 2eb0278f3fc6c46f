"""Parquet feeds in real crawls (crawler/parquet.py, docs/parquet.md): the run
folder's Parquet twins and a ``parquet`` feed read back with pyarrow, row for
row against the JSON Lines feed, and a JOBDIR job killed and resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from crawler import settings as project_settings
from crawler.items import Product
from crawler.parquet import ARROW_SCHEMAS
from sim.testing import SimProcess
from tests.support.crawl import duplicates, run_crawl
from tests.support.paths import ROOT
from tests.support.truth import categories

#: products in batch files of 50: the tiny catalogue makes several
BATCH = 50


def feeds(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project's FEEDS, products in batches of :data:`BATCH`, plus ``extra``."""
    out = {
        uri: {**options, "batch_item_count": BATCH} if "products" in uri else dict(options)
        for uri, options in project_settings.FEEDS.items()
    }
    return {**out, **(extra or {})}


def lines(path: Path) -> list[Any]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def rows(path: Path) -> list[Any]:
    """A Parquet file's rows in their JSON form (times as ISO 8601 with the offset)."""
    table = pq.read_table(path)
    assert table.schema == ARROW_SCHEMAS[Product]
    return [orjson.loads(orjson.dumps(row)) for row in table.to_pylist()]


def assert_twins(run_dir: Path) -> list[Any]:
    """Each JSON Lines batch file has a Parquet twin with the same rows; all records."""
    batches = sorted(run_dir.glob("products-*.jsonl"))
    assert len(batches) >= 2
    assert sorted(run_dir.glob("products-*.parquet")) == [
        p.with_suffix(".parquet") for p in batches
    ]
    records = []
    for path in batches:
        assert rows(path.with_suffix(".parquet")) == lines(path), path.name
        records += lines(path)
    assert not list(run_dir.glob(".*.tmp"))  # no temporary file left
    return records


def test_parquet_twins_and_feed_equal_the_json_lines_feed(
    sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    whole = tmp_path / "products.parquet"
    result = run_crawl(
        "products",
        sim.url,
        tmp_path,
        args={"run_id": "parquet"},
        settings={
            "CATEGORIES": categories(truth),
            "PARQUET_FEEDS": "beside",
            # a row group of 64 rows: the whole feed's file has several
            "PARQUET_ROW_GROUP_ROWS": 64,
            "FEEDS": feeds(
                {str(whole): {"format": "parquet", "item_classes": ["crawler.items.Product"]}},
            ),
        },
    )
    run_dir = result.output_dir / "products" / "parquet"
    records = assert_twins(run_dir)
    assert sorted(r["id"] for r in records) == sorted(truth["products"]["valid"])
    assert result.stats["parquet/files"] == len(list(run_dir.glob("products-*.jsonl")))
    assert result.stats["parquet/rows"] == len(records)
    assert "parquet/failed" not in result.stats
    assert "Warning" not in result.stderr  # no deprecated signal handler, say
    # the parquet feed: every item, in the order of the JSON Lines feed
    assert rows(whole) == records
    meta = pq.ParquetFile(whole).metadata
    assert meta.num_row_groups == -(-len(records) // 64)
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_parquet_instead_of_json_lines(sim: SimProcess, truth: dict, tmp_path: Path) -> None:
    result = run_crawl(
        "products",
        sim.url,
        tmp_path,
        args={"run_id": "instead"},
        settings={
            "CATEGORIES": categories(truth),
            "PARQUET_FEEDS": "instead",
            "FEEDS": feeds(),
        },
    )
    run_dir = result.output_dir / "products" / "instead"
    assert not list(run_dir.glob("products-*.jsonl"))
    parquet = sorted(run_dir.glob("products-*.parquet"))
    assert len(parquet) >= 2
    ids = [row["id"] for path in parquet for row in rows(path)]
    assert ids == result.ids("Product")  # the items scraped, in order
    assert sorted(ids) == sorted(truth["products"]["valid"])


# -- a JOBDIR job killed and resumed --------------------------------------------------


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[SimProcess]:
    """A tiny catalogue with some latency: a crawl at one request at a time
    takes seconds, long enough to be killed between two batch files."""
    server = SimProcess().start(size="tiny", seed=1, latency_ms=30)
    try:
        yield server
    finally:
        server.stop()


def start_job(tmp_path: Path, sim: SimProcess, truth: dict, log: Path) -> subprocess.Popen[bytes]:
    spec = {
        "spider": "products",
        "args": {},
        "settings": {
            "MARKETPLACE_URL": sim.url,
            "OUTPUT_DIR": str(tmp_path / "output"),
            "JOBDIR": str(tmp_path / "job"),
            "CATEGORIES": categories(truth),
            "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "RESUME_CHECKPOINT_SECONDS": 0.2,
            "PARQUET_FEEDS": "beside",
            "LOG_LEVEL": "INFO",
            "FEEDS": feeds(),
        },
        "out": str(tmp_path / f"{log.stem}.json"),
    }
    with log.open("wb") as handle:
        return subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "support" / "crawl_runner.py"),
                orjson.dumps(spec).decode(),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )


def test_killed_and_resumed_job_parquet_equals_json_lines(
    slow_sim: SimProcess, tmp_path: Path
) -> None:
    truth = slow_sim.truth()
    output = tmp_path / "output" / "products"
    first = start_job(tmp_path, slow_sim, truth, tmp_path / "run-1.log")
    try:
        # the stop point: the first batch closed (its twin written), the second
        # one holding records, the crawl far from its end
        deadline = time.monotonic() + 120
        while first.poll() is None and time.monotonic() < deadline:
            batch = list(output.glob("*/products-00002.jsonl"))
            if batch and batch[0].stat().st_size and list(output.glob("*/products-00001.parquet")):
                break
            time.sleep(0.02)
        assert first.poll() is None, "the crawl ended before the stop point"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    (run_dir,) = output.iterdir()
    assert not run_dir.joinpath("products-00002.parquet").exists()  # open at the kill
    second = start_job(tmp_path, slow_sim, truth, tmp_path / "run-2.log")
    assert second.wait(timeout=300) == 0
    log = (tmp_path / "run-2.log").read_text(errors="replace")
    assert "Resuming job" in log, log[-3000:]
    records = assert_twins(run_dir)
    ids = [r["id"] for r in records]
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(truth["products"]["valid"])
