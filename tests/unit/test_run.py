"""The run id: resolved once, and a new run never writes into another's folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from scrapy.settings import Settings

from crawler.run import resolve_run_id

NOW = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path: Path) -> None:
    settings = Settings({"OUTPUT_DIR": str(tmp_path)})
    ids = [resolve_run_id(settings, "products", {}, now=NOW) for _ in range(3)]
    assert ids == ["2026-12-01T09-00-00Z", "2026-12-01T09-00-00Z-2", "2026-12-01T09-00-00Z-3"]
    assert sorted(p.name for p in (tmp_path / "products").iterdir()) == sorted(ids)


def test_a_named_run_keeps_its_name(tmp_path: Path) -> None:
    settings = Settings({"OUTPUT_DIR": str(tmp_path)})
    (tmp_path / "products" / "daily").mkdir(parents=True)
    # a resumed job, or a Scrapyd job, keeps its folder on purpose
    assert resolve_run_id(settings, "products", {"run_id": "daily"}, now=NOW) == "daily"
    assert resolve_run_id(settings, "products", {"_job": "abc123"}, now=NOW) == "abc123"


def test_a_distributed_worker_adds_its_id(tmp_path: Path) -> None:
    settings = Settings(
        {"OUTPUT_DIR": str(tmp_path), "DISTRIBUTED": True, "DISTRIBUTED_WORKER_ID": "w1"}
    )
    assert resolve_run_id(settings, "products", {"run_id": "r"}, now=NOW) == "r-w1"
    assert resolve_run_id(settings, "products", {}, now=NOW) == "2026-12-01T09-00-00Z-w1"
    assert resolve_run_id(settings, "products", {}, now=NOW) == "2026-12-01T09-00-00Z-2-w1"
