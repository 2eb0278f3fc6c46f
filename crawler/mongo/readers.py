"""What the spiders read back from MongoDB, through PyMongo's async client
(:class:`pymongo.AsyncMongoClient`).

Each reader is a coroutine, awaited by a spider's ``start()`` on the crawl's
event loop (no worker thread); it opens a client, reads, and closes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pymongo import AsyncMongoClient

from crawler.items import Comment, Product

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pymongo.asynchronous.database import AsyncDatabase

    from crawler.mongo.config import MongoConfig

T = TypeVar("T")


async def _with_database(
    config: MongoConfig, read: Callable[[AsyncDatabase[Any]], Awaitable[T]]
) -> T:
    """``read(database)`` with a client of its own, closed whatever happens."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(config.uri, **config.client_options())
    try:
        return await read(client[config.database])
    finally:
        await client.close()


async def read_product_ids(config: MongoConfig) -> list[int]:
    """Ids of the products collection, in order."""

    async def read(db: AsyncDatabase[Any]) -> list[int]:
        cursor = db[Product.collection].find({}, {"_id": 1}).sort("_id", 1)
        return [doc["_id"] async for doc in cursor]

    return await _with_database(config, read)


class Known(NamedTuple):
    """What the products collection holds of a product, for ``mode=track``."""

    #: the stored values of the listing's fields (``LISTING_FIELDS`` order)
    listing: tuple[Any, ...]
    #: when its detail was last read (None: never by a tracked run)
    detail_at: datetime | None
    delisted: bool


async def read_known_products(config: MongoConfig, fields: tuple[str, ...]) -> dict[int, Known]:
    """Every product's listing fields, detail time and withdrawal."""
    projection = dict.fromkeys((*fields, "detail_at", "last_seen_at", "delisted_at"), 1)

    async def read(db: AsyncDatabase[Any]) -> dict[int, Known]:
        return {
            doc["_id"]: Known(
                tuple(doc.get(name) for name in fields),
                doc.get("detail_at") or doc.get("last_seen_at"),
                doc.get("delisted_at") is not None,
            )
            async for doc in db[Product.collection].find({}, projection)
        }

    return await _with_database(config, read)


@dataclass
class NewReviews:
    """A product whose review count rose past what its reviews were read up to."""

    product_id: int
    review_count: int
    #: the review count its reviews were last read up to (0: never read)
    read_count: int
    #: the ids of its reviews the comments collection holds
    known: set[int]
    #: new reviews found so far in this run
    found: int = 0


async def read_new_reviews(config: MongoConfig) -> tuple[list[NewReviews], int]:
    """The products (still listed) whose ``review_count`` is above their
    ``reviews_read_count`` (never read: above 0), with their known review ids,
    and how many products were compared."""

    async def read(db: AsyncDatabase[Any]) -> tuple[list[NewReviews], int]:
        wanted: list[NewReviews] = []
        compared = 0
        projection = {"review_count": 1, "reviews_read_count": 1, "delisted_at": 1}
        async for doc in db[Product.collection].find({}, projection).sort("_id", 1):
            count = doc.get("review_count")
            if not isinstance(count, int) or doc.get("delisted_at") is not None:
                continue
            compared += 1
            read = doc.get("reviews_read_count")
            read = read if isinstance(read, int) else 0
            if count > read:
                wanted.append(NewReviews(doc["_id"], count, read, set()))
        by_id = {entry.product_id: entry for entry in wanted}
        ids = list(by_id)
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            query = {"product_id": {"$in": chunk}}
            async for doc in db[Comment.collection].find(query, {"_id": 1, "product_id": 1}):
                by_id[doc["product_id"]].known.add(doc["_id"])
        return wanted, compared

    return await _with_database(config, read)
