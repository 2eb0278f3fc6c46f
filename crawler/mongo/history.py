"""Change history of the products collection (used by the MongoDB pipeline).

Each batch of product upserts is compared with what the collection holds, read
with one ``find`` per batch (:data:`projection`). A product whose tracked fields
(``TRACK_FIELDS``) differ gets one ``product_history`` document,
``{_id: "<product id>:<run id>", product_id, at, run_id, changes: {field: {old,
new}}}`` (with ``lowest_price``/``highest_price`` when its price is below the
lowest or above the highest seen, ``relisted`` when it had been withdrawn), and
``changed_at`` on the product; every product keeps ``price_min``/``price_max``.
The history ``_id`` names the run: a resumed run (same run id) that writes a
batch again adds no row twice, and the rows are written before the products, so
that a kill between the two loses none. A product seen for the first time gets
no row (``first_seen_at`` says it); an unchanged one none either.

:func:`delist_ops` marks withdrawn the products of a complete walk that it did
not see (``delisted_at``, and a row ``{"delisted": {old: false, new: true}}``).

``crawl_state`` (:func:`begin_run`, :func:`complete_run`): per spider and scope,
the run in progress (its id and start, which a resumed run keeps) and the last
complete one; only a complete run advances it.

What reads or writes the database is a coroutine on PyMongo's async client
(:class:`pymongo.AsyncMongoClient`), awaited on the crawl's event loop.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo import UpdateOne

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

HISTORY = "product_history"
STATE = "crawl_state"


def projection(fields: tuple[str, ...]) -> dict[str, int]:
    """What a batch reads of each product: the tracked fields and the price marks."""
    return dict.fromkeys((*fields, "price", "price_min", "price_max", "delisted_at"), 1)


@dataclass
class Planned:
    """The writes of one batch of products, and what they say."""

    ops: list[UpdateOne] = field(default_factory=list)
    history: list[UpdateOne] = field(default_factory=list)
    #: the change records, by history ``_id`` (the changes feed writes the inserted ones)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def history_op(record: dict[str, Any]) -> UpdateOne:
    """An insert that a second write of the same record leaves as it is."""
    return UpdateOne({"_id": record["_id"]}, {"$setOnInsert": record}, upsert=True)


def _price(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def plan_product(
    planned: Planned,
    ident: Any,
    fields: dict[str, Any],
    seen: datetime,
    old: dict[str, Any] | None,
    tracked: tuple[str, ...],
    run_id: str,
    detail_time: bool = False,
) -> None:
    """Add the upsert of one product (``fields``: its ``$set``) and its history.
    ``detail_at`` (when its detail was read, for the rolling refresh of the
    track mode) is set on insert, and on every write of a run that asks for it
    (``detail_time``: a track run); a full crawl of an unchanged catalogue
    changes nothing but ``last_seen_at``."""
    fields = dict(fields)
    on_insert: dict[str, Any] = {"first_seen_at": seen}
    if detail_time:
        fields["detail_at"] = seen
    else:
        on_insert["detail_at"] = seen
    unset: dict[str, str] = {}
    price = _price(fields.get("price"))
    if old is None:
        planned.counts["new"] += 1
        if price is not None:
            fields["price_min"] = fields["price_max"] = price
    else:
        changes = {
            name: {"old": old.get(name), "new": fields.get(name)}
            for name in tracked
            if old.get(name) != fields.get(name)
        }
        low = _price(old.get("price_min", old.get("price")))
        high = _price(old.get("price_max", old.get("price")))
        record: dict[str, Any] = {}
        if price is not None:
            fields["price_min"] = price if low is None else min(low, price)
            fields["price_max"] = price if high is None else max(high, price)
            if low is not None and price < low:
                record["lowest_price"] = True
            if high is not None and price > high:
                record["highest_price"] = True
        relisted = old.get("delisted_at") is not None
        if relisted:
            unset["delisted_at"] = ""
            record["relisted"] = True
            planned.counts["relisted"] += 1
        if changes:
            fields["changed_at"] = seen
            planned.counts["changed"] += 1
            for name in changes:
                planned.counts[f"changed/{name}"] += 1
        elif not relisted:
            planned.counts["unchanged"] += 1
        if changes or relisted:
            key = f"{ident}:{run_id}"
            row = {"_id": key, "product_id": ident, "at": seen, "run_id": run_id}
            row["changes"] = changes
            row.update(record)
            planned.records[key] = row
            planned.history.append(history_op(row))
    update: dict[str, Any] = {"$set": fields, "$setOnInsert": on_insert}
    if unset:
        update["$unset"] = unset
    planned.ops.append(UpdateOne({"_id": ident}, update, upsert=True))


def delist_rows(ids: list[Any], run_id: str, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "_id": f"{ident}:{run_id}",
            "product_id": ident,
            "at": now,
            "run_id": run_id,
            "changes": {"delisted": {"old": False, "new": True}},
            "delisted": True,
        }
        for ident in ids
    ]


async def unseen_products(
    db: AsyncDatabase[Any], categories: list[int], started_at: datetime
) -> list[Any]:
    """Listed products of these categories not seen since ``started_at``."""
    query = {
        "category_id": {"$in": categories},
        "last_seen_at": {"$lt": started_at},
        "delisted_at": None,
    }
    return [doc["_id"] async for doc in db["products"].find(query, {"_id": 1})]


async def delist(
    db: AsyncDatabase[Any], categories: list[int], started_at: datetime, run_id: str, now: datetime
) -> list[dict[str, Any]]:
    """Mark withdrawn what a complete walk did not see; the rows inserted."""
    ids = await unseen_products(db, categories, started_at)
    if not ids:
        return []
    rows = delist_rows(ids, run_id, now)
    result = await db[HISTORY].bulk_write([history_op(row) for row in rows], ordered=False)
    await db["products"].update_many(
        {"_id": {"$in": ids}, "delisted_at": None}, {"$set": {"delisted_at": now}}
    )
    inserted = set((result.upserted_ids or {}).values())
    return [row for row in rows if row["_id"] in inserted]


async def begin_run(db: AsyncDatabase[Any], key: str, run_id: str, now: datetime) -> datetime:
    """The start of this run for ``crawl_state`` (a resumed run keeps its first start)."""
    doc = await db[STATE].find_one({"_id": key}) or {}
    running = doc.get("running") or {}
    if running.get("run_id") == run_id and isinstance(running.get("started_at"), datetime):
        return running["started_at"]
    await db[STATE].update_one(
        {"_id": key}, {"$set": {"running": {"run_id": run_id, "started_at": now}}}, upsert=True
    )
    return now


async def complete_run(
    db: AsyncDatabase[Any], key: str, run_id: str, started_at: datetime, now: datetime
) -> None:
    """A complete run advances ``crawl_state``: it is the last complete one."""
    await db[STATE].update_one(
        {"_id": key},
        {
            "$set": {
                "last_complete": {"run_id": run_id, "started_at": started_at, "finished_at": now}
            },
            "$unset": {"running": ""},
        },
        upsert=True,
    )


async def read_state(db: AsyncDatabase[Any], key: str) -> dict[str, Any] | None:
    return await db[STATE].find_one({"_id": key})
