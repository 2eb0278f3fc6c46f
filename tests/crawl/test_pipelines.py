"""Real crawls through the cleaning, validation and MongoDB pipelines, against
the simulator's ground truth and a real MongoDB wire-protocol server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, crawl_log, run_crawl
from tests.support.paths import ROOT
from tests.support.servers import MongoServer
from tests.support.waiting import wait_for

#: retry quickly, and long enough to outlast the outages the tests make
OUTAGE_PROOF = {
    "MONGO_BATCH_SIZE": 20,
    "MONGO_RETRY_TIMES": 40,
    "MONGO_RETRY_BACKOFF": 0.1,
    "MONGO_RETRY_BACKOFF_MAX": 0.5,
    "MONGO_TIMEOUT_SECONDS": 0.5,
}


def read(
    uri: str,
    database: str,
    collection: str,
    query: dict[str, Any] | None = None,
) -> dict[Any, dict[str, Any]]:
    with MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10_000) as client:
        return {d["_id"]: d for d in client[database][collection].find(query or {})}


def count(uri: str, database: str, collection: str) -> int:
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return client[database][collection].count_documents({})  # type: ignore[no-any-return]


def rejects(run: CrawlResult, spider: str) -> list[dict[str, Any]]:
    (path,) = run.output_dir.glob(f"{spider}/*/rejects.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def failures(output_dir: Path, spider: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in output_dir.glob(f"{spider}/*/failures.jsonl")
        for line in path.read_bytes().splitlines()
    ]


# -- products then comments, into one database ------------------------------


@pytest.fixture(scope="module")
def catalogue(
    sim: SimProcess, truth: dict, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """``scrapy crawl products`` then ``scrapy crawl comments`` (its product ids
    from the products collection) with MONGO_URI set."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    mongo = {"MONGO_URI": mongo_uri, "MONGO_DATABASE": database}
    products = run_crawl(
        "products",
        sim.url,
        tmp_path_factory.mktemp("products"),
        settings={"CATEGORIES": truth["categories"], "LOG_LEVEL": "DEBUG", **mongo},
    )
    comments = run_crawl("comments", sim.url, tmp_path_factory.mktemp("comments"), settings=mongo)
    yield {"products": products, "comments": comments, "database": database}
    with MongoClient(mongo_uri) as client:
        client.drop_database(database)


def test_products_collection_holds_the_valid_products(
    catalogue: dict, truth: dict, mongo_uri: str
) -> None:
    docs = read(mongo_uri, catalogue["database"], "products")
    assert sorted(docs) == sorted(truth["products"]["valid"])
    stats = catalogue["products"].stats
    assert stats["items/stored/product"] == stats["items/valid/product"] == len(docs)
    assert stats["mongo/batches"] == 1  # 184 products: one flush, at close
    assert "mongo/retries" not in stats and "mongo/failed_batches" not in stats


def test_product_rejects_are_the_invalid_products(
    catalogue: dict, truth: dict, sim: SimProcess
) -> None:
    records = rejects(catalogue["products"], "products")
    assert {str(r["id"]): r["reasons"] for r in records} == {
        pid: [reason] for pid, reason in truth["products"]["invalid"].items()
    }
    assert len(records) == len(truth["products"]["invalid"])
    for record in records:
        assert record["kind"] == "product"
        assert record["spider"] == "products"
        assert record["url"] == f"{sim.url}/api/v2/products/{record['id']}"
        assert datetime.fromisoformat(record["time"]).tzinfo is not None
    by_reason = Counter(truth["products"]["invalid"].values())
    stats = catalogue["products"].stats
    assert {k: v for k, v in stats.items() if k.startswith("items/rejected/")} == {
        "items/rejected/product": len(records),
        **{f"items/rejected/product/{reason}": n for reason, n in by_reason.items()},
    }
    assert set(by_reason) == {"price_missing", "price_negative", "name_empty", "price_wrong_type"}


def test_rejected_items_are_logged_at_debug_without_traceback(catalogue: dict) -> None:
    log = catalogue["products"].stderr
    dropped = [line for line in log.splitlines() if "Dropped: Rejected product" in line]
    assert len(dropped) == catalogue["products"].stats["items/rejected/product"]
    assert all("[scrapy.core.scraper] DEBUG:" in line for line in dropped)
    assert "Traceback" not in log
    assert "[scrapy.core.scraper] ERROR" not in log


def test_stored_products_are_clean(catalogue: dict, mongo_uri: str) -> None:
    docs = read(mongo_uri, catalogue["database"], "products").values()
    for doc in docs:
        assert "<script" not in doc["description_html"] and "onclick" not in doc["description_html"]
        assert "javascript:" not in doc["description_html"]
        assert "<" not in doc["description_text"] and "&amp;" not in doc["description_text"]
        assert doc["name"] == doc["name"].strip() != ""
        assert doc["first_seen_at"] == doc["last_seen_at"]
        assert all("<" not in row["value"] for row in doc["specifications"])
    # hostile specification codes are values of rows, never keys
    hostile = [d for d in docs if any(r["code"] == "$where" for r in d["specifications"])]
    assert hostile
    for doc in hostile:
        assert {
            "group": "Content",
            "code": "a.b",
            "name": "Kích thước (D.R.C)",
            "value": "10.5 x 3.2 x 2 cm",
        } in doc["specifications"]


def test_comments_collection_holds_the_valid_reviews(
    catalogue: dict, sim: SimProcess, mongo_uri: str
) -> None:
    # the comments spider read its product ids from the products collection
    products = sorted(read(mongo_uri, catalogue["database"], "products"))
    truth = sim.truth(product_ids=products)
    invalid = truth["reviews"]["invalid"]
    expected = sorted(
        r for ids in truth["reviews"]["by_product"].values() for r in ids if str(r) not in invalid
    )
    docs = read(mongo_uri, catalogue["database"], "comments")
    assert sorted(docs) == expected
    assert {d["product_id"] for d in docs.values()} <= set(products)
    records = rejects(catalogue["comments"], "comments")
    assert {str(r["id"]): r["reasons"] for r in records} == {
        rid: [reason] for rid, reason in invalid.items()
    }
    assert {r["kind"] for r in records} == {"comment"}
    assert set(invalid.values()) == {"rating_out_of_range"}
    stats = catalogue["comments"].stats
    assert stats["items/stored/comment"] == len(expected)
    assert stats["items/rejected/comment/rating_out_of_range"] == len(invalid)
    assert stats["finish_reason"] == "finished"


# -- a second run -----------------------------------------------------------


def test_a_second_crawl_changes_only_last_seen_at(
    sim: SimProcess, truth: dict, mongo_db: tuple[str, str], tmp_path: Path
) -> None:
    uri, database = mongo_db
    settings = {"CATEGORIES": truth["categories"], "MONGO_URI": uri, "MONGO_DATABASE": database}
    run_crawl("products", sim.url, tmp_path / "first", settings=settings)
    first = read(uri, database, "products")
    run_crawl("products", sim.url, tmp_path / "second", settings=settings)
    second = read(uri, database, "products")
    assert sorted(second) == sorted(first) == sorted(truth["products"]["valid"])
    for pid, doc in second.items():
        assert doc.pop("last_seen_at") > first[pid].pop("last_seen_at")
        assert doc == first[pid]


# -- the server goes away ---------------------------------------------------


def test_mongo_killed_and_restarted_mid_crawl_loses_nothing(
    sim_factory: Callable[..., SimProcess],
    mongo_factory: Callable[[], MongoServer],
    tmp_path: Path,
) -> None:
    sim = sim_factory(size="tiny", seed=1, latency_ms=150)  # a crawl of several seconds
    truth = sim.truth(reviews=0)
    mongo = mongo_factory()
    settings = {
        "CATEGORIES": truth["categories"],
        "MONGO_URI": mongo.uri,
        "MONGO_DATABASE": "catalogue",
        **OUTAGE_PROOF,
    }
    result: dict[str, CrawlResult] = {}
    crawl = threading.Thread(
        target=lambda: result.update(
            run=run_crawl("products", sim.url, tmp_path, settings=settings)
        ),
    )
    log = crawl_log(tmp_path, "products")
    crawl.start()
    wait_for(lambda: count(mongo.uri, "catalogue", "products") >= 20)  # a batch is in
    logged = log.stat().st_size
    mongo.kill()
    # the crawl met the outage: a batch write failed and waits for its retry
    retrying = re.compile(
        rf"MongoDB at {re.escape(mongo.uri)}/catalogue: could not write .*; retry \d+ of"
    )
    wait_for(lambda: retrying.search(log.read_bytes()[logged:].decode(errors="replace")), 120)
    mongo.start()  # same port, same data
    crawl.join(timeout=120)
    run = result["run"]
    assert sorted(read(mongo.uri, "catalogue", "products")) == sorted(truth["products"]["valid"])
    assert run.stats["mongo/retries"] >= 1
    assert run.stats["items/stored/product"] == len(truth["products"]["valid"])
    assert "mongo/failed_batches" not in run.stats
    assert {f["reason"] for f in failures(run.output_dir, "products")} == {"not_found"}


def test_mongo_gone_for_good_fails_the_batch_and_the_exit_status(
    sim_factory: Callable[..., SimProcess],
    mongo_factory: Callable[[], MongoServer],
    tmp_path: Path,
) -> None:
    sim = sim_factory(size="tiny", seed=1, latency_ms=150)
    truth = sim.truth(reviews=0)
    mongo = mongo_factory()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MARKETPLACE_URL": sim.url,
        "CRAWLER_OUTPUT_DIR": str(tmp_path / "output"),
        "MONGO_URI": mongo.uri,  # as users set it: in the environment
        "MONGO_DATABASE": "catalogue",
    }
    settings = {
        "MONGO_BATCH_SIZE": 20,
        "MONGO_RETRY_TIMES": 1,
        "MONGO_RETRY_BACKOFF": 0.05,
        "MONGO_TIMEOUT_SECONDS": 0.3,
        "LOG_LEVEL": "WARNING",
        "CATEGORIES": ",".join(map(str, truth["categories"])),
    }
    command = [sys.executable, "-m", "scrapy", "crawl", "products"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    wait_for(lambda: count(mongo.uri, "catalogue", "products") >= 20)
    mongo.kill()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in stderr
    mongo.start()
    stored = set(read(mongo.uri, "catalogue", "products"))
    lost = [f for f in failures(tmp_path / "output", "products") if f["reason"] != "not_found"]
    assert lost and {(f["kind"], f["reason"]) for f in lost} == {("product", "mongo_unavailable")}
    lost_ids = [f["id"] for f in lost]
    assert len(lost_ids) == len(set(lost_ids))
    # every valid product is stored or listed as failed (nothing lost). Both at
    # once only for the one batch in flight when the server died: it may have
    # applied writes whose answer never came back, so the pipeline lists them as
    # failed; the retry run upserts them again, by key, harmlessly.
    assert stored | set(lost_ids) == set(truth["products"]["valid"])
    assert len(stored & set(lost_ids)) <= settings["MONGO_BATCH_SIZE"]
    assert f"MongoDB at {mongo.uri}/catalogue: gave up" in stderr


def test_comments_without_products_in_mongo_stop_the_run(
    sim: SimProcess, mongo_db: tuple[str, str], tmp_path: Path
) -> None:
    uri, database = mongo_db
    run = run_crawl(
        "comments", sim.url, tmp_path, settings={"MONGO_URI": uri, "MONGO_DATABASE": database}
    )
    assert run.stats["finish_reason"] == "no_products"
    assert run.items == []
    assert f"No products to read reviews of: MongoDB at {uri}/{database} has none." in run.stderr
