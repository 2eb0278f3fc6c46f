"""Scrapy's HTTP cache with the RFC 2616 policy for re-runs of a crawl: the
simulator sends ``ETag`` and ``Cache-Control: max-age=300``, so a second run
within five minutes sends the API no request, and a run that asks to
revalidate (``Cache-Control: max-age=0``) gets ``304 Not Modified`` for every
request and the bodies from the cache. Requests are counted by the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scrapy.utils.project import get_project_settings

from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, duplicates, run_crawl


def products(run: CrawlResult) -> dict[int, dict[str, Any]]:
    """The products of a run without their ``scraped_at``."""
    items = [{k: v for k, v in p.items() if k != "scraped_at"} for p in run.items]
    assert duplicates([p["id"] for p in items]) == []
    return {p["id"]: p for p in items}


def test_a_second_run_is_answered_by_the_cache(sim_factory: Any, tmp_path: Path) -> None:
    sim: SimProcess = sim_factory(size="tiny", seed=1)
    truth = sim.truth(reviews=0)
    cached = {
        "CATEGORIES": truth["categories"],
        "HTTPCACHE_ENABLED": True,
        "HTTPCACHE_DIR": str(tmp_path / "httpcache"),
    }
    # the project's settings choose the policy; the test does not
    assert get_project_settings()["HTTPCACHE_POLICY"] == "scrapy.extensions.httpcache.RFC2616Policy"

    first = run_crawl("products", sim.url, tmp_path / "first", settings=cached)
    sent = sim.stats()
    assert sorted(products(first)) == sorted(truth["products"]["valid"])
    assert sent["by_kind"]["product"] == len(truth["products"]["listed"])
    assert first.stats["httpcache/store"] == sent["total"]  # the 404s too: they carry max-age

    # within max-age: no request reaches the API
    sim.reset()
    second = run_crawl("products", sim.url, tmp_path / "second", settings=cached)
    assert sim.stats()["total"] == 0
    assert products(second) == products(first)
    assert second.stats["failures/product/not_found"] == len(truth["products"]["not_found"])
    # robots.txt (a 404 without caching headers) is the one request sent
    assert (second.stats["httpcache/miss"], second.stats["httpcache/uncacheable"]) == (1, 1)
    assert second.stats["httpcache/hit"] == sent["total"]

    # revalidation: every cached answer comes back as 304 (same ETag)
    sim.reset()
    headers = {**get_project_settings()["DEFAULT_REQUEST_HEADERS"], "Cache-Control": "max-age=0"}
    # AutoThrottle lowers a slot's delay on 200s only, never on 304s: without
    # a start delay of 0 this run would keep its 0.25 s per request
    third = run_crawl(
        "products",
        sim.url,
        tmp_path / "third",
        settings={**cached, "DEFAULT_REQUEST_HEADERS": headers, "AUTOTHROTTLE_START_DELAY": 0.0},
    )
    revalidated = sim.stats()
    assert products(third) == products(first)
    assert revalidated["by_status"] == {
        "304": sent["by_status"]["200"],
        "404": len(truth["products"]["not_found"]),
    }
    assert third.stats["httpcache/revalidate"] == sent["by_status"]["200"]
