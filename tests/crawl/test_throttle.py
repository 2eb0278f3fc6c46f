"""RateLimitThrottle in a small real crawl against a rate-limited simulator,
next to stock Scrapy's."""

from __future__ import annotations

from typing import Any

from bench.bench_ratelimit import STOCK
from tests.support.crawl import duplicates, run_crawl

# -- a crawl against a rate-limited simulator --------------------------------------


def crawl_limited(sim_factory: Any, tmp_path: Any, settings: dict[str, Any]) -> tuple:
    sim = sim_factory(size="tiny", seed=1)
    truth = sim.truth(reviews=0)
    sim.config(rate_limit=40)
    run = run_crawl(
        "products", sim.url, tmp_path, settings={"CATEGORIES": truth["categories"], **settings}
    )
    by_status = sim.stats()["by_status"]
    share_429 = by_status.get("429", 0) / sum(by_status.values())
    return run, truth, share_429


def test_a_rate_limited_crawl_is_complete_with_fewer_429s_than_stock(
    sim_factory: Any, tmp_path: Any
) -> None:
    ours, truth, ours_429 = crawl_limited(sim_factory, tmp_path / "ours", {})
    ids = ours.ids("Product")
    assert duplicates(ids) == []
    assert set(ids) == set(truth["products"]["valid"])
    assert ours.stats["failures/count"] == len(truth["products"]["not_found"])
    assert ours.stats["finish_reason"] == "finished"
    # the slot slowed down on the 429s and said so
    assert ours.stats["throttle/429_decreases"] >= 1
    assert ours.stats["throttle/rate/127.0.0.1"] > 0
    assert (
        ours.stats["throttle/429_responses"] == ours.stats["downloader/response_status_count/429"]
    )
    # stock Scrapy (RetryMiddleware, AutoThrottle's defaults) in the same conditions
    _, _, stock_429 = crawl_limited(
        sim_factory,
        tmp_path / "stock",
        {name: value for name, value in STOCK.items() if name != "RETRY_GIVE_UP_LOG_LEVEL"},
    )
    assert 0 < ours_429 < stock_429
