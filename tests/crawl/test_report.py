"""The run report and the progress line of real crawls against the simulator."""

from __future__ import annotations

import orjson

from tests.support.crawl import run_crawl


def test_report_file_and_progress_of_a_real_crawl(sim_factory, tmp_path) -> None:
    sim = sim_factory(size="tiny", seed=1, latency_ms=20)
    truth = sim.truth(reviews=0)
    run = run_crawl(
        "products",
        sim.url,
        tmp_path,
        settings={
            "CATEGORIES": truth["categories"],
            "PROGRESS_INTERVAL": 0.2,
            "LOG_LEVEL": "INFO",
            "REPORT_MAX_FAILURE_SHARE": 0.05,
        },
    )
    (path,) = run.output_dir.glob("products/*/report.json")
    report = orjson.loads(path.read_bytes())
    assert report["items"]["scraped"] == {"product": len(truth["products"]["valid"])}
    assert report["items"]["rejected"] == {"product": len(truth["products"]["invalid"])}
    assert report["failures"]["count"] == len(truth["products"]["not_found"])
    assert report["problems"] == []  # 3% failed, 5% allowed
    assert run.stats["run/problems"] == []
    assert "products: " in run.stderr and " records" in run.stderr
    assert "Run products/" in run.stderr  # the human summary


def test_progress_is_quiet_at_warning(sim_factory, tmp_path) -> None:
    sim = sim_factory(size="tiny", seed=1, latency_ms=20)
    run = run_crawl(
        "products",
        sim.url,
        tmp_path,
        args={"ids_file": str(_ids(tmp_path, sim.truth(reviews=0)["products"]["valid"][:40]))},
        settings={"PROGRESS_INTERVAL": 0.1, "LOG_LEVEL": "WARNING"},
    )
    assert run.stats["item_scraped_count"] == 40
    assert "records (" not in run.stderr


def _ids(tmp_path, ids):
    path = tmp_path / "ids.csv"
    path.write_text("id\n" + "\n".join(map(str, ids)) + "\n", encoding="utf-8")
    return path
