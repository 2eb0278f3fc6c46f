"""The fault matrix: a full crawl against a simulator with 10% 5xx, 2% dropped
connections, 1% malformed bodies and a rate limit, with MongoDB on, ends equal
to the ground truth minus the records that failed for good, which are exactly
the ones in the failures file; a retry run of that file with the faults off
recovers them.

Products: three products always answer 500 (``fail_product_ids``), so they fail
for good after their 6 retries, as do the products that answer 404; the 5xx,
drops, malformed bodies and 429s in between are retried away (a request that
met them 7 times in a row would be one in millions). Comments: no retries, so
that some pages fail for good; which ones depends on the order of the
requests, so the test asserts the relation, not a count.

Run on both HTTP clients: the default (Scrapy's aiohttp handler) and the
fallback (Twisted's), so that the fallback stays a tested one.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from crawler.handlers.aiohttp import TWISTED_HANDLERS
from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, duplicates, run_crawl

FAULTS = {"error_rate": 0.1, "drop_rate": 0.02, "malformed_rate": 0.01, "rate_limit": 40}
#: short waits, so that the test stays short; Retry-After as the simulator says
QUICK_RETRIES = {"RETRY_BACKOFF_BASE": 0.05, "RETRY_BACKOFF_MAX": 0.5}


def failures(run: CrawlResult, spider: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in run.output_dir.glob(f"{spider}/*/failures.jsonl")
        for line in path.read_bytes().splitlines()
    ]


def failures_file(run: CrawlResult, spider: str) -> Path:
    (path,) = run.output_dir.glob(f"{spider}/*/failures.jsonl")
    return path


def mongo_ids(mongo_db: tuple[str, str], collection: str) -> list[int]:
    uri, database = mongo_db
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return sorted(d["_id"] for d in client[database][collection].find({}, {"_id": 1}))


#: the default HTTP client (aiohttp) and its fallback (Twisted's)
CLIENTS = {"aiohttp": {}, "twisted": {"DOWNLOAD_HANDLERS": TWISTED_HANDLERS}}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_fault_matrix_then_retry_runs(
    client: str, sim_factory: Any, mongo_db: tuple[str, str], tmp_path: Path
) -> None:
    sim: SimProcess = sim_factory(size="tiny", seed=3)
    truth = sim.truth()
    valid = sorted(truth["products"]["valid"])
    broken = valid[::60][:3]  # spread over the catalogue
    not_found = sorted(truth["products"]["not_found"])
    # every crawl below gets these: MongoDB, and the HTTP client
    mongo = {"MONGO_URI": mongo_db[0], "MONGO_DATABASE": mongo_db[1], **CLIENTS[client]}

    # -- products, faults on ---------------------------------------------------
    sim.config(**FAULTS, fail_product_ids=broken)
    run = run_crawl(
        "products",
        sim.url,
        tmp_path / "products",
        settings={"CATEGORIES": truth["categories"], "RETRY_TIMES": 6, **QUICK_RETRIES, **mongo},
    )
    faults = sim.stats()["faults"]
    # every fault happened, and every retryable one was retried
    assert faults["errors"] > 0 and faults["dropped"] > 0 and faults["malformed"] > 0
    assert faults["rate_limited"] > 0
    assert run.stats["retry/reason_count/malformed_json"] == faults["malformed"]
    assert run.stats["retry/reason_count/http_429"] == faults["rate_limited"]
    assert run.stats["retry/retry_after_count"] == faults["rate_limited"]
    assert run.stats.get("retry/reason_count/http_500", 0) + run.stats.get(
        "retry/reason_count/http_503", 0
    ) == faults["errors"] + faults["failed_product"] - len(broken)
    # the records that failed for good are exactly the broken and the missing
    records = failures(run, "products")
    assert sorted((r["kind"], r["id"]) for r in records) == sorted(
        [("product", i) for i in broken + not_found]
    )
    for record in records:
        if record["id"] in broken:  # out of retries; the last answer may be a random fault
            assert record["attempts"] == 7
            assert record["reason"] in {"http_500", "http_503", "http_429", "connection_lost"}
        else:  # a missing product may have met a fault before its 404
            assert record["reason"] == "not_found" and 1 <= record["attempts"] <= 7
    assert run.stats["failures/count"] == len(broken) + len(not_found)
    # the feeds and MongoDB hold the ground truth minus the failed records
    expected = sorted(set(valid) - set(broken))
    feed = [r["id"] for r in run.feed_records("products", "products")]
    assert duplicates(feed) == [] and sorted(feed) == expected
    assert mongo_ids(mongo_db, "products") == expected
    assert run.stats["finish_reason"] == "finished"

    # -- the retry run of the failures file, faults off --------------------------
    sim.reset_knobs()
    again = run_crawl(
        "products",
        sim.url,
        tmp_path / "products-retry",
        args={"ids_file": str(failures_file(run, "products"))},
        settings=mongo,
    )
    assert sorted(again.ids("Product")) == broken
    assert sorted(r["id"] for r in failures(again, "products")) == not_found  # still 404
    feed_again = [r["id"] for r in again.feed_records("products", "products")]
    assert sorted(feed + feed_again) == valid
    assert mongo_ids(mongo_db, "products") == valid

    # -- comments of the products in MongoDB, faults on, no retries -----------------
    sim.config(**FAULTS)
    comments = run_crawl(
        "comments", sim.url, tmp_path / "comments", settings={"RETRY_TIMES": 0, **mongo}
    )
    reviews_truth = sim.truth(product_ids=valid)["reviews"]
    invalid = {int(r) for r in reviews_truth["invalid"]}
    want: dict[int, set[int]] = {
        int(p): {r for r in ids if r not in invalid}
        for p, ids in reviews_truth["by_product"].items()
    }
    records = failures(comments, "comments")
    failed = {r["id"] for r in records}
    assert failed, "with no retries some review pages fail for good"
    assert {r["kind"] for r in records} == {"reviews"}
    assert {r["reason"] for r in records} <= {
        "http_500",
        "http_503",
        "http_429",
        "malformed_json",
        "connection_lost",
        "data_loss",
    }
    assert comments.stats["failures/count"] == len(records)
    got: dict[int, set[int]] = defaultdict(set)
    rows = comments.feed_records("comments", "comments")
    for row in rows:
        got[row["product_id"]].add(row["id"])
    assert duplicates([row["id"] for row in rows]) == []
    # products without a failure: all their reviews; the failed: some of them
    assert {p: ids for p, ids in got.items() if p not in failed} == {
        p: ids for p, ids in want.items() if p not in failed and ids
    }
    assert all(got[p] <= want.get(p, set()) for p in failed)
    assert mongo_ids(mongo_db, "comments") == sorted(r["id"] for r in rows)

    # -- and their retry run, faults off -------------------------------------------
    sim.reset_knobs()
    comments_again = run_crawl(
        "comments",
        sim.url,
        tmp_path / "comments-retry",
        args={"ids_file": str(failures_file(comments, "comments"))},
        settings=mongo,
    )
    assert "failures/count" not in comments_again.stats
    got_again: dict[int, set[int]] = defaultdict(set)
    for row in comments_again.feed_records("comments", "comments"):
        got_again[row["product_id"]].add(row["id"])
    assert dict(got_again) == {p: want[p] for p in failed if want.get(p)}
    assert mongo_ids(mongo_db, "comments") == sorted(r for ids in want.values() for r in ids)
