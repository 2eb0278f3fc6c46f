"""The run report and the progress line of real crawls against the simulator."""

from __future__ import annotations

import orjson

from tests.crawl.test_exits import assert_one_sentence, scrapy_crawl
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


def test_runs_compared_with_the_previous_complete_one(sim_factory, tmp_path) -> None:
    """A good run; one that loses a quarter of its products (the simulator's
    ``fail_product_ids``) breaks by REPORT_MAX_ITEM_DROP and REPORT_MIN_COVERAGE
    in one ERROR line; the next good run is compared with the first, not with
    the broken one (the browser's view of the page: tests/e2e/test_report_html.py)."""
    sim = sim_factory(size="tiny", seed=1)
    truth = sim.truth(reviews=0)
    cats = ",".join(map(str, truth["categories"]))
    settings = {"CATEGORIES": cats, "RETRY_TIMES": 0, "REPORT_MAX_FAILURE_SHARE": 0.5}
    valid = sorted(truth["products"]["valid"])
    lost = valid[: len(valid) // 4]

    first = scrapy_crawl("products", sim.url, tmp_path, "-a", "run_id=a", settings=settings)
    assert first.returncode == 0, first.stderr[-3000:]
    sim.config(fail_product_ids=lost)
    coverage = '{"product/brand_id": 0.99, "product/id": 1.0}'
    second = scrapy_crawl(
        "products",
        sim.url,
        tmp_path,
        "-a",
        "run_id=b",
        settings={**settings, "REPORT_MAX_ITEM_DROP": 0.2, "REPORT_MIN_COVERAGE": coverage},
    )
    report_b = _report(tmp_path, "b")
    share = report_b["coverage"]["product"]["brand_id"]
    kept = len(valid) - len(lost)
    assert_one_sentence(
        second,
        f"Run products/b is broken: {kept} valid items, 25.0% fewer than the {len(valid)} of "
        f"the previous complete run a (more than the 20.0% allowed); brand_id is filled in "
        f"{share:.1%} of the product items, below the 99.0% required.",
    )
    # the arguments that make the run: a track run is compared with track runs
    assert report_b["scope"] == {
        "categories": truth["categories"],
        "brands": [],
        "ids": [],
        "mode": "full",
        "refresh_days": 7,
    }
    assert report_b["comparison"]["run_id"] == "a"
    assert report_b["comparison"]["items"][0]["flagged"] is True
    assert (tmp_path / "output" / "products" / "b" / "report.html").is_file()

    sim.config(fail_product_ids=[])
    third = scrapy_crawl(
        "products",
        sim.url,
        tmp_path,
        "-a",
        "run_id=c",
        settings={**settings, "REPORT_MAX_ITEM_DROP": 0.2},
    )
    assert third.returncode == 0, third.stderr[-3000:]
    compared = _report(tmp_path, "c")["comparison"]
    assert compared["run_id"] == "a"  # b was broken: never the run compared with
    assert compared["valid"] == {"now": len(valid), "before": len(valid), "change": 0.0}
    assert not any(row["flagged"] for row in compared["items"] + compared["coverage"])
    # another scope (one category): nothing to compare with
    other = scrapy_crawl(
        "products",
        sim.url,
        tmp_path,
        "-a",
        "run_id=d",
        "-a",
        f"categories={truth['categories'][0]}",
        settings=settings,
    )
    assert other.returncode == 0, other.stderr[-3000:]
    assert _report(tmp_path, "d")["comparison"] is None


def _report(tmp_path, run_id):
    return orjson.loads((tmp_path / "output" / "products" / run_id / "report.json").read_bytes())
