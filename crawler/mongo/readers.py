"""What the spiders read back from MongoDB (blocking calls: run them in a
worker thread)."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from crawler.items import Product
from crawler.mongo.config import MongoConfig


def read_product_ids(config: MongoConfig) -> list[int]:
    """Ids of the products collection, in order (blocking: run it in a thread)."""
    client: MongoClient[Any] = MongoClient(config.uri, **config.client_options())
    try:
        cursor = client[config.database][Product.collection].find({}, {"_id": 1}).sort("_id", 1)
        return [doc["_id"] for doc in cursor]
    finally:
        client.close()
