"""The run report, the progress line and the exit status they decide (real
crawls: tests/crawl/test_report.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crawler.commands.crawl import exit_status
from crawler.extensions.progress import progress_line
from crawler.extensions.report import build_report, counted, problems_of, summary_line
from crawler.ledger import records_done

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def stats(**extra: object) -> dict:
    return {
        "start_time": START,
        "finish_time": START + timedelta(seconds=10),
        "finish_reason": "finished",
        "items/valid/product": 90,
        "items/rejected/product": 6,
        "items/rejected/product/price_missing": 4,
        "items/rejected/product/name_empty": 2,
        "failures/count": 4,
        "failures/product/not_found": 4,
        "downloader/request_count": 120,
        "downloader/response_status_count/429": 3,
        "retry/count": 5,
        **extra,
    }


def test_report_counts() -> None:
    report = build_report(stats(), "products", "run-1")
    assert report["items"]["scraped"] == {"product": 90}
    assert report["items"]["rejected"] == {"product": 6}
    assert report["items"]["rejected_by_reason"] == {
        "product/name_empty": 2,
        "product/price_missing": 4,
    }
    assert report["failures"] == {
        "count": 4,
        "withdrawn": 4,
        "by_reason": {"product/not_found": 4},
    }
    assert (report["requests"], report["retries"], report["responses_429"]) == (120, 5, 3)
    assert report["duration_seconds"] == 10.0
    assert report["records_per_second"] == 9.6


def test_verdict() -> None:
    # 404s of listed ids are withdrawn products: never a broken run
    report = build_report(stats(), "products", "run-1")
    assert problems_of(report, 0.0, 0) == []
    troubled = build_report(
        stats(**{"failures/count": 7, "failures/product/timeout": 3}), "products", "run-1"
    )
    assert problems_of(troubled, 0.0, 0) == [
        "3 records failed (2.9% of 103, more than the 0.0% allowed)"
    ]
    assert problems_of(troubled, 0.05, 0) == []
    assert problems_of(report, 0.05, 100) == ["90 items, fewer than the 100 required"]
    stopped = build_report(stats(finish_reason="shutdown"), "products", "run-1")
    assert problems_of(stopped, 1.0, 0) == ["the run stopped early (shutdown)"]


def test_exit_status_follows_the_verdict() -> None:
    assert exit_status({"run/problems": []}) == 0
    assert exit_status({"run/problems": ["x"]}) == 1
    # without the report: any failure, or an early stop, breaks the run
    assert exit_status({"finish_reason": "finished"}) == 0
    assert exit_status({"finish_reason": "finished", "failures/count": 1}) == 1
    withdrawn = {"failures/count": 2, "failures/product/not_found": 2}
    assert exit_status({"finish_reason": "finished", **withdrawn}) == 0
    assert exit_status({"finish_reason": "shutdown"}) == 1


def test_progress_line() -> None:
    assert progress_line("products", 500, 2000, True, 10.0) == (
        "products: 500 of 2,000 records (25.0%), 50.0/s, ETA 0:00:30"
    )
    assert progress_line("products", 500, 800, False, 10.0) == (
        "products: 500 of at least 800 records (62.5%), 50.0/s"
    )
    assert progress_line("comments", 0, None, False, 1.0) == "comments: 0 records, 0.0/s"
    assert (
        records_done({"item_scraped_count": 5, "item_dropped_count": 2, "failures/count": 1}) == 8
    )


def empty(**extra: object) -> dict:
    values = {k: v for k, v in stats(**extra).items() if not k.startswith(("items/", "failures/"))}
    return values


def test_a_run_that_stored_nothing_is_broken_and_says_what_it_found() -> None:
    report = build_report(empty(), "products", "run-1")
    assert problems_of(report, 0.0, 0, "categories 1789 and 1846 list no brands") == [
        "it stored nothing: categories 1789 and 1846 list no brands"
    ]
    assert problems_of(report, 0.0, 0) == [
        "it stored nothing (0 items rejected, 0 ids answered 404, 0 records failed)"
    ]
    # stopped early: the sentence that stopped it, not "stored nothing" as well
    stopped = build_report(
        empty(
            finish_reason="host_unreachable",
            **{"run/stopped_because": "Cannot reach http://x: refused; check it."},
        ),
        "products",
        "run-1",
    )
    assert problems_of(stopped, 0.0, 0) == ["Cannot reach http://x: refused; check it"]
    assert exit_status({"run/problems": problems_of(report, 0.0, 0)}) == 1


def test_summary_line_counts_with_separators_and_plural_names() -> None:
    values = stats(
        **{
            "items/valid/product": 1843,
            "items/valid/brand": 1,
            "items/stored/product": 1843,
            "downloader/request_count": 2210,
        }
    )
    report = build_report(values, "products", "run-1")
    line = summary_line("products", "run-1", report, "out/report.json")
    assert line.startswith(
        "Run products/run-1: 1 brand, 1,843 products scraped, 1,843 products stored, "
        "6 rejected, 4 withdrawn (answered 404), 0 failed, 2,210 requests (5 retries, "
        "3 answered 429) in 10.0 s, "
    )
    assert counted(2, "dashboardrow") == "2 dashboard rows"


def test_a_resumed_job_that_had_stored_its_items_is_not_empty() -> None:
    # its earlier parts' items are in the feeds; this part had nothing left to do
    report = build_report(empty(**{"resume/requeued": 0}), "products", "run-1")
    assert problems_of(report, 0.0, 0) == []
