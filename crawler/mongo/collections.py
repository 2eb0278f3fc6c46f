"""Each collection's indexes and ``$jsonSchema`` validator, made from the item
schemas (:mod:`crawler.schemas`), and :func:`ensure_collections`, which puts
them in place idempotently at the start of a crawl, through PyMongo's async
client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import CollectionInvalid, OperationFailure

from crawler.items import Brand, Comment, DashboardRow, Product
from crawler.schemas import SCHEMAS

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

#: item class -> the indexes users' lookups need (``_id``, unique, is implicit)
INDEXES: dict[type, list[IndexModel]] = {
    Brand: [
        IndexModel([("category_ids", ASCENDING)], name="category_ids"),
        IndexModel([("slug", ASCENDING)], name="slug"),
    ],
    Product: [
        IndexModel([("brand_id", ASCENDING)], name="brand_id"),
        IndexModel([("category_id", ASCENDING)], name="category_id"),
        IndexModel([("last_seen_at", ASCENDING)], name="last_seen_at"),
    ],
    Comment: [
        IndexModel(
            [("product_id", ASCENDING), ("created_at", DESCENDING)], name="product_id_created_at"
        ),
    ],
    DashboardRow: [
        IndexModel([("report", ASCENDING), ("day", ASCENDING)], name="report_day"),
    ],
}

#: the lookups of product_history: one product's history, and a day's changes
HISTORY_INDEXES = [
    IndexModel([("product_id", ASCENDING), ("at", DESCENDING)], name="product_id_at"),
    IndexModel([("at", DESCENDING)], name="at"),
]

_BSON_TYPES = {
    "integer": ["int", "long"],
    "number": ["int", "long", "double", "decimal"],
    "string": ["string"],
    "boolean": ["bool"],
    "array": ["array"],
    "object": ["object"],
    "null": ["null"],
}


_KEPT = ("minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "minItems")


def bson_schema(schema: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    """A JSON Schema (the validation pipeline's) as MongoDB ``$jsonSchema``:
    ``type`` becomes ``bsonType``, ``date``/``date-time`` strings BSON dates."""
    types = schema.get("type", [])
    bson: list[str] = []
    is_date = schema.get("format") in ("date", "date-time")
    for name in [types] if isinstance(types, str) else types:
        bson.extend(["date"] if name == "string" and is_date else _BSON_TYPES[name])
    if nullable:
        bson.append("null")
    out: dict[str, Any] = {"bsonType": list(dict.fromkeys(bson))} if bson else {}
    out.update((k, schema[k]) for k in _KEPT if k in schema and not is_date)
    if "properties" in schema:
        required = schema.get("required", [])
        out["properties"] = {
            name: bson_schema(spec, nullable=name not in required)
            for name, spec in schema["properties"].items()
        }
        if required:
            out["required"] = list(required)
    if "items" in schema:
        out["items"] = bson_schema(schema["items"])
    return out


def collection_validator(item_class: type, schema: dict[str, Any]) -> dict[str, Any]:
    """The ``$jsonSchema`` validator of the collection of ``item_class``: its
    item schema with the key as ``_id`` and ``scraped_at`` as the seen-at dates."""
    key_field = item_class.key_field  # type: ignore[attr-defined]
    rename = {key_field: "_id", "scraped_at": "last_seen_at"}
    seen = {"type": "string", "format": "date-time"}
    document = {
        "type": "object",
        "required": [rename.get(n, n) for n in schema["required"]] + ["first_seen_at"],
        "properties": {
            **{rename.get(n, n): spec for n, spec in schema["properties"].items()},
            "first_seen_at": seen,
        },
    }
    return {"$jsonSchema": bson_schema(document)}


_VALIDATOR_OPTIONS = {"validationLevel": "moderate", "validationAction": "error"}


def _wanted(cls: type, schema: dict[str, Any]) -> dict[str, Any]:
    """The collection options of ``cls``: its validator and how it applies."""
    return {"validator": collection_validator(cls, schema), **_VALIDATOR_OPTIONS}


def _differs(options: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return {k: options.get(k) for k in wanted} != wanted


async def ensure_collections(db: AsyncDatabase[Any]) -> list[str]:
    """Create the collections' validators and indexes (idempotent). Returns
    what the server refused, one sentence each."""
    refused = []
    listed = await (await db.list_collections()).to_list()
    existing = {c["name"]: c.get("options", {}) for c in listed}
    for cls, schema in SCHEMAS.items():
        name = cls.collection  # type: ignore[attr-defined]
        wanted = _wanted(cls, schema)
        try:
            if name not in existing:
                try:
                    await db.create_collection(name, **wanted)
                except CollectionInvalid:  # created meanwhile by another crawl
                    await db.command("collMod", name, **wanted)
            elif _differs(existing[name], wanted):
                await db.command("collMod", name, **wanted)
        except OperationFailure as exc:
            refused.append(f"the $jsonSchema validator of {name} ({exc.code}: {exc})")
        try:
            await db[name].create_indexes(INDEXES[cls])
        except OperationFailure as exc:
            refused.append(f"the indexes of {name} ({exc.code}: {exc})")
    try:  # the change history (crawler/mongo/history.py): no validator, rows we write
        await db["product_history"].create_indexes(HISTORY_INDEXES)
    except OperationFailure as exc:
        refused.append(f"the indexes of product_history ({exc.code}: {exc})")
    return refused
