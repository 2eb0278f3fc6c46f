"""What the spiders read back from MongoDB (crawler/mongo/readers.py), against
a real wire-protocol server: coroutines on the async client."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from scrapy.settings import Settings

from crawler.mongo.config import MongoConfig
from crawler.mongo.readers import read_known_products, read_new_reviews, read_product_ids
from tests.support.servers import MongoServer

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def config(uri: str, database: str, **settings: Any) -> MongoConfig:
    made = MongoConfig.from_settings(
        Settings({"MONGO_URI": uri, "MONGO_DATABASE": database, **settings})
    )
    assert made is not None
    return made


@pytest.fixture
def stored(mongo_db: tuple[str, str]) -> MongoConfig:
    uri, database = mongo_db
    with MongoClient(uri, tz_aware=True) as client:
        db = client[database]
        db["products"].insert_many(
            [
                {"_id": 3, "price": 30, "review_count": 2, "last_seen_at": NOW},
                {"_id": 1, "price": 10, "review_count": 5, "reviews_read_count": 5},
                {"_id": 2, "price": 20, "review_count": 4, "reviews_read_count": 1},
                {"_id": 4, "price": 40, "review_count": 9, "delisted_at": NOW},
            ]
        )
        db["comments"].insert_many([{"_id": 70, "product_id": 2}, {"_id": 71, "product_id": 3}])
    return config(uri, database)


def test_the_readers_read_what_is_stored(stored: MongoConfig) -> None:
    async def both() -> tuple[Any, Any, Any]:
        return (
            await read_product_ids(stored),
            await read_known_products(stored, ("price",)),
            await read_new_reviews(stored),
        )

    ids, known, (wanted, compared) = asyncio.run(both())
    assert ids == [1, 2, 3, 4]
    assert known[3].listing == (30,) and known[3].detail_at == NOW and not known[3].delisted
    assert known[4].delisted
    assert [(w.product_id, w.read_count, w.known) for w in wanted] == [(2, 1, {70}), (3, 0, {71})]
    assert compared == 3  # the withdrawn product is not compared


# PyMongo 4.20's async monitor, cancelled by close() in the middle of connecting
# to a server that is gone, leaves that socket to the garbage collector
# (pool_shared._async_create_connection closes it on OSError only): collected
# here, its ResourceWarning is the driver's, not a leak of the reader
@pytest.mark.filterwarnings("ignore:unclosed <socket:ResourceWarning")
def test_a_server_out_of_reach_is_a_pymongo_error(
    mongo_factory: Callable[[], MongoServer],
) -> None:
    server = mongo_factory()
    server.kill()
    gone = config(server.uri, "catalogue", MONGO_TIMEOUT_SECONDS=0.3)
    with pytest.raises(PyMongoError):  # what the spiders turn into mongo_unavailable
        asyncio.run(read_product_ids(gone))
    gc.collect()
