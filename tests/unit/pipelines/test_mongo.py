"""MongoUpsertPipeline's pure helpers (crawler/mongo_docs.py) and its configuration."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pymongo import UpdateOne
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.items import Brand, Comment, DashboardRow
from crawler.mongo.collections import collection_validator
from crawler.mongo.config import MongoConfig, is_transient
from crawler.mongo.documents import original_key, safe_key, safe_keys, upsert
from crawler.pipelines.mongo import MongoUpsertPipeline
from crawler.redact import redact_url
from crawler.schemas import SCHEMAS
from crawler.spiders.base import MarketplaceSpider
from crawler.spiders.comments import CommentsSpider

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


class SampleSpider(MarketplaceSpider):
    name = "sample"


# -- pure helpers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "safe"),
    [
        ("price", "price"),
        ("Màu sắc", "Màu sắc"),
        ("$where", "%24where"),
        ("a.b", "a%2Eb"),
        ("", "%"),
        ("50%", "50%25"),
        ("%24where", "%2524where"),
        ("a$b", "a%24b"),
        ("nul\x00", "nul%00"),
        (7, "7"),
    ],
)
def test_safe_key(key: Any, safe: str) -> None:
    assert safe_key(key) == safe
    assert original_key(safe) == str(key)


def test_safe_keys_at_any_depth() -> None:
    value = {"$set": {"a.b": [{"": 1, "ok": {"$gt": 2}}]}, "n": 3}
    assert safe_keys(value) == {"%24set": {"a%2Eb": [{"%": 1, "ok": {"%24gt": 2}}]}, "n": 3}


def test_upsert_of_an_item() -> None:
    brand = Brand(
        id=7, name="Nokia", slug="nokia", category_ids=[1789], source_url="u", scraped_at=NOW
    )
    assert upsert(brand) == UpdateOne(
        {"_id": 7},
        {
            "$set": {
                "name": "Nokia",
                "slug": "nokia",
                "category_ids": [1789],
                "source_url": "u",
                "last_seen_at": NOW,
            },
            "$setOnInsert": {"first_seen_at": NOW},
        },
        upsert=True,
    )
    row = DashboardRow(
        key="sales:1",
        report="sales",
        day=date(2026, 11, 23),
        values={"$where": 1, "a.b": 2},
        source_url="u",
        scraped_at=NOW,
    )
    assert upsert(row) == UpdateOne(
        {"_id": "sales:1"},
        {
            "$set": {
                "report": "sales",
                "day": datetime(2026, 11, 23, tzinfo=UTC),
                "values": {"%24where": 1, "a%2Eb": 2},
                "source_url": "u",
                "last_seen_at": NOW,
            },
            "$setOnInsert": {"first_seen_at": NOW},
        },
        upsert=True,
    )


def test_collection_validator_follows_the_item_schema() -> None:
    schema = collection_validator(Comment, SCHEMAS[Comment])["$jsonSchema"]
    assert schema["required"] == [
        "_id",
        "product_id",
        "rating",
        "source_url",
        "last_seen_at",
        "first_seen_at",
    ]
    assert schema["properties"]["rating"] == {
        "bsonType": ["int", "long"],
        "minimum": 1,
        "maximum": 5,
    }
    assert schema["properties"]["title"] == {"bsonType": ["string", "null"]}
    assert schema["properties"]["created_at"] == {"bsonType": ["date", "null"]}
    assert schema["properties"]["first_seen_at"] == {"bsonType": ["date"]}
    assert "id" not in schema["properties"] and "scraped_at" not in schema["properties"]


def test_config_from_settings() -> None:
    assert MongoConfig.from_settings(Settings({"MONGO_URI": ""})) is None
    config = MongoConfig.from_settings(
        Settings(
            {
                "MONGO_URI": " mongodb://h:1 ",
                "MONGO_DATABASE": "cat",
                "MONGO_BATCH_SIZE": "50",
                "MONGO_RETRY_BACKOFF": "0.5",
                "MONGO_RETRY_BACKOFF_MAX": "3",
            }
        )
    )
    assert config is not None
    assert (config.uri, config.database, config.batch_size) == ("mongodb://h:1", "cat", 50)
    assert [config.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="MONGO_BATCH_SIZE must be at least 1, got 0"):
        MongoConfig.from_settings(Settings({"MONGO_URI": "mongodb://h", "MONGO_BATCH_SIZE": 0}))


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017"),
        (
            "mongodb://crawler:s3cr%40t@db1:27017,db2/cat?authSource=admin&tlsCertificateKeyFilePassword=x",
            "mongodb://crawler:***@db1:27017,db2",
        ),
        (
            "mongodb+srv://u:p@cluster0.example.net/?retryWrites=true",
            "mongodb+srv://u:***@cluster0.example.net",
        ),
    ],
)
def test_the_uri_is_logged_without_secrets(uri: str, shown: str) -> None:
    assert redact_url(uri, path=False) == shown


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (AutoReconnect("connection reset"), True),
        (ServerSelectionTimeoutError("no server"), True),
        (OperationFailure("shutting down", code=91), True),
        (OperationFailure("not primary", code=10107), True),
        (OperationFailure("not authorized", code=13), False),
        (BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}), True),
        (BulkWriteError({"writeErrors": [{"code": 121}], "writeConcernErrors": []}), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_errors_are_retried(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_comments_take_their_ids_from_mongo_only_when_it_is_set() -> None:
    assert CommentsSpider.check_arguments({}, Settings({"MONGO_URI": ""})) == (
        "No products given: pass -a product_ids=ID,ID or -a ids_file=PATH, "
        "or set MONGO_URI to read them from the products collection."
    )
    assert CommentsSpider.check_arguments({}, Settings({"MONGO_URI": "mongodb://h"})) is None


def test_off_without_a_uri() -> None:
    crawler = get_crawler(SampleSpider, {"MONGO_URI": ""})
    with pytest.raises(NotConfigured, match="MONGO_URI is not set"):
        build_from_crawler(MongoUpsertPipeline, crawler)
