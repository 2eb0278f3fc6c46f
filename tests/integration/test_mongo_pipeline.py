"""MongoUpsertPipeline against a real MongoDB wire-protocol server
(``secantusd-py``, see ``tests/support/servers.py``); its pure helpers are in
tests/unit/pipelines/test_mongo.py."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from pymongo import MongoClient
from scrapy.exceptions import CloseSpider
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler import signals
from crawler.extract.api import extract_comments, extract_product
from crawler.items import Brand, Comment, DashboardRow, Product
from crawler.mongo.collections import collection_validator
from crawler.mongo.documents import original_key
from crawler.pipelines.mongo import MongoUpsertPipeline
from crawler.schemas import SCHEMAS
from crawler.spiders.base import MarketplaceSpider
from tests.support.paths import DATA
from tests.support.servers import MongoServer

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
FAST_RETRIES = {
    "MONGO_RETRY_TIMES": 2,
    "MONGO_RETRY_BACKOFF": 0.05,
    "MONGO_TIMEOUT_SECONDS": 0.3,
}


#: PyMongo 4.20's async client, when its monitor is cancelled while connecting
#: to a server that is gone (by close(), or as the pool is reset), leaves that
#: socket to the garbage collector (pool_shared._async_create_connection
#: closes it on OSError only). The tests that stop a server collect it
#: themselves (:func:`run_collected`), under an ignore of its ResourceWarning.
driver_leaks_sockets = pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")


def run_collected(go: Callable[[], Any]) -> None:
    asyncio.run(go())
    gc.collect()  # the driver's leaked sockets, while the test's ignore holds


class SampleSpider(MarketplaceSpider):
    name = "sample"


def products(count: int, price: int = 100_000, seen: datetime = NOW) -> list[Product]:
    body = orjson.loads((DATA / "product_37779493.json").read_bytes())
    return [
        extract_product({**body, "id": 1_000 + n, "price": price + n}, f"u/{1_000 + n}", seen)
        for n in range(count)
    ]


class Run:
    """A pipeline of a crawler of its own, and the failures it signalled."""

    def __init__(self, uri: str, database: str, run_id: str = "run-1", **settings: Any) -> None:
        self.uri, self.database = uri, database
        crawler = get_crawler(
            SampleSpider,
            {"MONGO_URI": uri, "MONGO_DATABASE": database, "MONGO_FLUSH_SECONDS": 60, **settings},
        )
        crawler.spider = crawler._create_spider(run_id=run_id)
        crawler.stats.open_spider()
        self.crawler = crawler
        self.failed: list[dict[str, Any]] = []
        crawler.signals.connect(self._failed, signal=signals.record_failed)
        self.pipeline = build_from_crawler(MongoUpsertPipeline, crawler)

    def _failed(self, **kwargs: Any) -> None:
        self.failed.append(kwargs)

    def stats(self, *prefixes: str) -> dict[str, Any]:
        return {k: v for k, v in self.crawler.stats.get_stats().items() if k.startswith(prefixes)}

    async def feed(self, items: list[Any]) -> None:
        for item in items:
            assert await self.pipeline.process_item(item) is item

    def read(self, collection: str, what: Callable[[Any], Any]) -> Any:
        """``what(collection)``, through a client of its own."""
        with MongoClient(self.uri, tz_aware=True) as client:
            return what(client[self.database][collection])

    def docs(self, collection: str) -> dict[Any, dict[str, Any]]:
        return self.read(collection, lambda c: {d["_id"]: d for d in c.find()})

    def count(self, collection: str) -> int:
        return self.read(collection, lambda c: c.count_documents({}))  # type: ignore[no-any-return]


def run_all(
    items: list[Any], uri: str, database: str, run_id: str = "run-1", **settings: Any
) -> Run:
    run = Run(uri, database, run_id, **settings)

    async def go() -> None:
        await run.pipeline.open_spider()
        await run.feed(items)
        await run.pipeline.close_spider()

    asyncio.run(go())
    return run


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- against the server -----------------------------------------------------


def test_open_creates_indexes_and_validators_idempotently(mongo_db: tuple[str, str]) -> None:
    run_all([], *mongo_db)
    run = run_all([], *mongo_db)  # a second run finds them in place
    assert run.stats("mongo/") == {}

    def indexes(name: str) -> list[str]:
        return sorted(run.read(name, lambda c: c.index_information()))

    assert indexes("products") == ["_id_", "brand_id", "category_id", "last_seen_at"]
    assert indexes("comments") == ["_id_", "product_id_created_at"]
    assert indexes("brands") == ["_id_", "category_ids", "slug"]
    assert indexes("dashboard_rows") == ["_id_", "report_day"]
    options = run.read(
        "products",
        lambda c: {info["name"]: info["options"] for info in c.database.list_collections()},
    )
    for cls in (Brand, Product, Comment, DashboardRow):
        assert options[cls.collection]["validator"] == collection_validator(cls, SCHEMAS[cls])
        assert options[cls.collection]["validationLevel"] == "moderate"


def test_items_are_upserted_in_batches(mongo_db: tuple[str, str]) -> None:
    items = products(25)
    run = run_all(items, *mongo_db, MONGO_BATCH_SIZE=10)
    assert run.stats("items/", "mongo/") == {"items/stored/product": 25, "mongo/batches": 3}
    docs = run.docs("products")
    assert sorted(docs) == [1_000 + n for n in range(25)]
    doc = docs[1_000]
    assert "id" not in doc and "scraped_at" not in doc
    assert doc["price"] == 100_000
    assert doc["first_seen_at"] == doc["last_seen_at"] == NOW
    assert doc["specifications"][6] == {
        "group": "Content",
        "code": "$where",
        "name": "$where",
        "value": "1 == 1",
    }
    assert run.failed == []


def test_a_second_run_changes_only_what_changed(mongo_db: tuple[str, str]) -> None:
    run_all(products(5), *mongo_db)
    later = NOW + timedelta(days=1)
    changed = products(5, seen=later)
    changed[2].price = 90_000
    run = run_all(changed, *mongo_db)
    docs = run.docs("products")
    assert len(docs) == 5
    assert {d["first_seen_at"] for d in docs.values()} == {NOW}
    assert {d["last_seen_at"] for d in docs.values()} == {later}
    assert [docs[1_000 + n]["price"] for n in range(5)] == [
        100_000,
        100_001,
        90_000,
        100_003,
        100_004,
    ]


def test_a_slow_crawl_is_flushed_by_time(mongo_db: tuple[str, str]) -> None:
    run = Run(*mongo_db, MONGO_FLUSH_SECONDS=0.05)

    async def go() -> None:
        await run.pipeline.open_spider()
        await run.feed(products(3))
        await until(lambda: run.count("products") == 3)
        await run.pipeline.close_spider()

    asyncio.run(go())
    assert run.stats("items/", "mongo/") == {"items/stored/product": 3, "mongo/batches": 1}


def test_hostile_keys_never_reach_the_server_as_keys(mongo_db: tuple[str, str]) -> None:
    values = {"$where": "1 == 1", "a.b": {"$gt": 1, "c.d": 2}, "": 3, "50%": 4, "plain": 5}
    row = DashboardRow(
        key="sales:$1.2",
        report="sales",
        day=date(2026, 11, 23),
        values=values,
        source_url="u",
        scraped_at=NOW,
    )
    run = run_all([row], *mongo_db)
    doc = run.docs("dashboard_rows")["sales:$1.2"]
    assert doc["values"] == {
        "%24where": "1 == 1",
        "a%2Eb": {"%24gt": 1, "c%2Ed": 2},
        "%": 3,
        "50%25": 4,
        "plain": 5,
    }
    assert {original_key(k) for k in doc["values"]} == set(values)
    assert doc["day"] == datetime(2026, 11, 23, tzinfo=UTC)


def test_documents_the_server_refuses_are_reported(mongo_db: tuple[str, str]) -> None:
    # validation normally stops these; the collection validator is the last guard
    items = products(3)
    items[1].price = -5
    review = {
        **orjson.loads((DATA / "reviews_37863078_p2.json").read_bytes())["data"][0],
        "rating": 9,
    }
    items.append(extract_comments({"data": [review]}, 37863078, "u/r", NOW)[0])
    run = run_all(items, *mongo_db)
    assert sorted(run.docs("products")) == [1_000, 1_002]
    assert run.stats("items/", "mongo/") == {
        "items/stored/product": 2,
        "mongo/batches": 2,  # one bulk_write per collection
        "mongo/write_errors/121": 2,
    }
    assert [(f["kind"], f["record_id"], f["url"], f["reason"]) for f in run.failed] == [
        ("product", 1_001, "u/1001", "mongo_write_error_121"),
        ("comment", items[3].id, "u/r", "mongo_write_error_121"),
    ]
    assert all("Document failed validation" in f["message"] for f in run.failed)


@driver_leaks_sockets
def test_an_unreachable_server_stops_the_run_at_open(
    mongo_factory: Callable[[], MongoServer],
) -> None:
    server = mongo_factory()
    server.kill()  # its port is now closed
    run = Run(server.uri, "catalogue", **FAST_RETRIES)

    async def go() -> None:
        with pytest.raises(CloseSpider) as closed:
            await run.pipeline.open_spider()
        assert closed.value.reason == "mongo_unavailable"
        await run.pipeline.close_spider()

    run_collected(go)
    # tried once, within MONGO_TIMEOUT_SECONDS: the retry budget is for outages during a crawl
    assert run.stats("mongo/") == {}


@driver_leaks_sockets
def test_a_server_back_within_the_budget_loses_nothing(
    mongo_factory: Callable[[], MongoServer],
) -> None:
    server = mongo_factory()
    run = Run(
        server.uri,
        "catalogue",
        MONGO_BATCH_SIZE=5,
        MONGO_RETRY_TIMES=50,
        MONGO_RETRY_BACKOFF=0.05,
        MONGO_RETRY_BACKOFF_MAX=0.2,
        MONGO_TIMEOUT_SECONDS=0.3,
    )
    items = products(23)

    async def go() -> None:
        await run.pipeline.open_spider()
        await run.feed(items[:5])  # one batch written
        await until(lambda: run.stats("mongo/batches") == {"mongo/batches": 1})
        server.kill()
        await run.feed(items[5:10])  # a batch in flight, retrying
        # back-pressure: the next batch fills, and the item that fills it waits
        await run.feed(items[10:14])
        blocked = asyncio.ensure_future(run.pipeline.process_item(items[14]))
        await until(lambda: run.stats("mongo/retries") != {})
        assert not blocked.done()
        await asyncio.to_thread(server.start)  # same port, same data
        assert await blocked is items[14]
        await run.feed(items[15:])
        await run.pipeline.close_spider()

    run_collected(go)
    assert sorted(run.docs("products")) == [item.id for item in items]
    stats = run.stats("items/", "mongo/")
    assert stats.pop("mongo/retries") >= 1
    assert stats == {"items/stored/product": 23, "mongo/batches": 5}
    assert run.failed == []


@driver_leaks_sockets
def test_a_batch_out_of_retries_is_recorded_as_failed(
    mongo_factory: Callable[[], MongoServer],
) -> None:
    server = mongo_factory()
    run = Run(server.uri, "catalogue", MONGO_BATCH_SIZE=4, **FAST_RETRIES)
    items = products(6)

    async def go() -> None:
        await run.pipeline.open_spider()
        server.kill()
        await run.feed(items)
        await run.pipeline.close_spider()

    run_collected(go)
    assert run.stats("items/", "mongo/") == {"mongo/retries": 4, "mongo/failed_batches": 2}
    assert [
        (f["kind"], f["record_id"], f["url"], f["reason"], f["attempts"]) for f in run.failed
    ] == [("product", item.id, item.source_url, "mongo_unavailable", 3) for item in items]
    assert "could not write 4 documents to products in 3 attempts" in run.failed[0]["message"]


def test_history_records_what_changed_once_with_price_marks(
    mongo_db: tuple[str, str], tmp_path
) -> None:
    first = run_all(products(3), *mongo_db, run_id="day-0")
    assert first.count("product_history") == 0
    assert first.stats("tracking/") == {"tracking/new": 3}
    docs = first.docs("products")
    assert docs[1_001]["price_min"] == docs[1_001]["price_max"] == 100_001
    later = NOW + timedelta(days=1)
    changed = products(3, seen=later)
    changed[1].price = 90_000
    changed[2].review_count = 99
    feed = tmp_path / "changes.jsonl"
    run = run_all(changed, *mongo_db, run_id="day-1", CHANGES_FILE=str(feed))
    rows = run.docs("product_history")
    assert sorted(rows) == ["1001:day-1", "1002:day-1"]
    assert rows["1001:day-1"]["changes"] == {"price": {"old": 100_001, "new": 90_000}}
    assert rows["1001:day-1"]["lowest_price"] is True
    assert rows["1002:day-1"]["changes"] == {
        "review_count": {"old": docs[1_002]["review_count"], "new": 99}
    }
    assert "lowest_price" not in rows["1002:day-1"]
    assert run.stats("tracking/") == {
        "tracking/changed": 2,
        "tracking/changed/price": 1,
        "tracking/changed/review_count": 1,
        "tracking/unchanged": 1,
        "tracking/history_rows": 2,
    }
    docs = run.docs("products")
    assert (docs[1_001]["price_min"], docs[1_001]["price_max"]) == (90_000, 100_001)
    assert docs[1_001]["changed_at"] == later and "changed_at" not in docs[1_000]
    assert docs[1_001]["first_seen_at"] == NOW and docs[1_001]["last_seen_at"] == later
    records = [orjson.loads(line) for line in feed.read_bytes().splitlines()]
    assert sorted(r["_id"] for r in records) == ["1001:day-1", "1002:day-1"]
    # the same batch again (a resumed run) and a second run of the day: no row twice
    run_all(changed, *mongo_db, run_id="day-1")
    again = run_all(changed, *mongo_db, run_id="day-1-second")
    assert again.count("product_history") == 2
    assert again.stats("tracking/") == {"tracking/unchanged": 3}
