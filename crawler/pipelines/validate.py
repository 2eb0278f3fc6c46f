"""ValidatePipeline: a JSON Schema per item type; invalid items go to the rejects file.

An item is checked as the JSON its feed would hold (``None`` counts as absent,
datetimes as ISO 8601 strings) against its type's schema in :data:`SCHEMAS`.
A valid item goes on (``items/valid/<type>``). An invalid one is written to
the rejects file, counted (``items/rejected/<type>`` once,
``items/rejected/<type>/<reason>`` per reason) and dropped with
:class:`~scrapy.exceptions.DropItem` (logged at DEBUG: the file and the stats
are the record; a WARNING names the file at the first reject and one sums the
reasons at the end).

Reasons are ``<field>_<problem>``, ``problem`` one of ``missing``,
``wrong_type``, ``empty``, ``negative``, ``out_of_range``, ``too_long``,
``not_allowed``, ``malformed``: ``price_missing``, ``price_negative``,
``price_wrong_type``, ``name_empty``, ``rating_out_of_range``, ...; every
reason of an item is named, not only the first.

The rejects file, ``<run dir>/rejects.jsonl``, is JSON Lines, one record per
rejected item: ``kind`` (``product``, ``comment``, ...), ``id``, ``reasons``,
``values`` (the offending fields as they came), ``url``, ``spider``, ``time``.
It is created at the first reject and flushed per line.

The validator is fastjsonschema: it compiles a schema into Python code once,
which makes it the fastest pure-Python JSON Schema validator (tens of times
faster than ``jsonschema``), with no dependencies, and maintained. It stops at
the first error, so a valid item costs one call, and only an invalid one is
checked field by field to name all its reasons.

Settings:
- ``REJECTS_FILE``: a path instead of ``<run dir>/rejects.jsonl``
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import fastjsonschema
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler.feeds import RunFile
from crawler.items import Brand, Comment, DashboardRow, Product, item_type

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

# -- the schemas ------------------------------------------------------------

_ID = {"type": "integer", "minimum": 1}
_COUNT = {"type": "integer", "minimum": 0}
_MONEY = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_NAME = {"type": "string", "minLength": 1, "pattern": r"\S"}
_URL = {"type": "string", "minLength": 1}
_TIME = {"type": "string", "format": "date-time"}
_URLS = {"type": "array", "items": {"type": "string"}}
_IDS = {"type": "array", "items": _ID}


def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


BRAND_SCHEMA = _object(
    ["id", "name", "source_url", "scraped_at"],
    {
        "id": _ID,
        "name": _NAME,
        "slug": _TEXT,
        "category_ids": _IDS,
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)
PRODUCT_SCHEMA = _object(
    ["id", "name", "price", "source_url", "scraped_at"],
    {
        "id": _ID,
        "master_id": _ID,
        "sku": _TEXT,
        "name": _NAME,
        "url_key": _TEXT,
        "url": _TEXT,
        "type": _TEXT,
        "short_description": _TEXT,
        "description_html": _TEXT,
        "description_text": _TEXT,
        "price": _MONEY,
        "list_price": _MONEY,
        "original_price": _MONEY,
        "discount": {"type": "integer"},
        "discount_rate": {"type": "integer", "minimum": 0, "maximum": 100},
        "rating_average": {"type": "number", "minimum": 0, "maximum": 5},
        "review_count": _COUNT,
        "all_time_quantity_sold": _COUNT,
        "quantity_sold": _COUNT,
        "inventory_status": _TEXT,
        "brand_id": _ID,
        "brand_name": _TEXT,
        "brand_slug": _TEXT,
        "category_id": _ID,
        "category_name": _TEXT,
        "breadcrumbs": {
            "type": "array",
            "items": _object(
                ["name", "url"],
                {"category_id": {"type": ["integer", "null"]}, "name": _TEXT, "url": _TEXT},
            ),
        },
        "seller_id": _ID,
        "seller_name": _TEXT,
        "seller_product_id": _TEXT,
        "specifications": {
            "type": "array",
            "items": _object(
                ["group", "code", "name", "value"],
                {"group": _TEXT, "code": _TEXT, "name": _TEXT, "value": _TEXT},
            ),
        },
        "image_urls": _URLS,
        "thumbnail_url": _TEXT,
        "variant_ids": _IDS,
        "stock_qty": _COUNT,
        "day_ago_created": _COUNT,
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)
COMMENT_SCHEMA = _object(
    ["id", "product_id", "rating", "source_url", "scraped_at"],
    {
        "id": _ID,
        "product_id": _ID,
        "title": _TEXT,
        "content": _TEXT,
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "status": _TEXT,
        "thank_count": _COUNT,
        "comment_count": _COUNT,
        "customer_id": _ID,
        "author_name": _TEXT,
        "purchased": {"type": "boolean"},
        "seller_id": _ID,
        "image_urls": _URLS,
        "created_at": _TIME,
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)
DASHBOARD_ROW_SCHEMA = _object(
    ["key", "report", "day", "source_url", "scraped_at"],
    {
        "key": {"type": "string", "minLength": 1},
        "report": {"type": "string", "minLength": 1},
        "day": {"type": "string", "format": "date"},
        "values": {"type": "object"},
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)

#: item class -> JSON Schema of its JSON form (also the source of the MongoDB
#: collection validators, see :func:`crawler.mongo_docs.collection_validator`)
SCHEMAS: dict[type, dict[str, Any]] = {
    Brand: BRAND_SCHEMA,
    Product: PRODUCT_SCHEMA,
    Comment: COMMENT_SCHEMA,
    DashboardRow: DASHBOARD_ROW_SCHEMA,
}

# -- checking ---------------------------------------------------------------


#: item class -> its field names, for reading an item without an adapter
_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in SCHEMAS
}
_ABSENT = object()


def json_record(item: Any) -> dict[str, Any]:
    """The item as its feed's JSON would hold it, absent fields left out."""
    names = _FIELD_NAMES.get(type(item))
    # our items: their fields read directly (ItemAdapter costs a few
    # microseconds per field, on every item); anything else through the adapter
    pairs = (
        ((name, getattr(item, name, _ABSENT)) for name in names)
        if names is not None
        else ItemAdapter(item).items()
    )
    record = {}
    for name, value in pairs:
        if value is None or value is _ABSENT:
            continue
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        record[name] = value
    return record


def problem_of(error: fastjsonschema.JsonSchemaValueException) -> str:
    """The ``<problem>`` part of a reason, from the schema rule that failed."""
    rule, definition = error.rule, error.rule_definition
    if rule == "required":
        return "missing"
    if rule == "type":
        return "wrong_type"
    if rule in ("minLength", "minItems") or (rule == "pattern" and definition == r"\S"):
        return "empty"
    if rule == "minimum" and definition == 0:
        return "negative"
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return "out_of_range"
    if rule in ("maxLength", "maxItems"):
        return "too_long"
    if rule in ("enum", "const"):
        return "not_allowed"
    if rule in ("format", "pattern"):
        return "malformed"
    return "invalid"


class SchemaChecker:
    """One compiled validator for the whole record (the fast path) and one per
    field, run only on an invalid record to name every reason."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._whole: Callable[[Any], Any] = fastjsonschema.compile(schema)
        required = set(schema.get("required", ()))
        self._fields = [
            (name, fastjsonschema.compile(_object([name] if name in required else [], {name: s})))
            for name, s in schema["properties"].items()
        ]

    def problems(self, record: dict[str, Any]) -> list[tuple[str, str]]:
        """``[]`` for a valid record, else its ``(field, problem)`` pairs in
        schema order."""
        try:
            self._whole(record)
        except fastjsonschema.JsonSchemaValueException as exc:
            first = exc
        else:
            return []
        problems = []
        for name, check in self._fields:
            try:
                check(record)
            except fastjsonschema.JsonSchemaValueException as exc:
                problems.append((name, problem_of(exc)))
        field = first.path[1] if len(first.path) > 1 else "item"
        return problems or [(field, problem_of(first))]


CHECKERS: dict[type, SchemaChecker] = {cls: SchemaChecker(s) for cls, s in SCHEMAS.items()}

# -- the pipeline -----------------------------------------------------------


class ValidatePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.rejects = RunFile(
            crawler, "REJECTS_FILE", "rejects.jsonl", "Invalid items are listed in %s"
        )

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        checker = CHECKERS.get(type(item))
        if checker is None:
            return item
        stats = self.crawler.stats
        assert stats is not None
        kind = item_type(item)
        record = json_record(item)
        problems = checker.problems(record)
        if not problems:
            stats.inc_value(f"items/valid/{kind}")
            return item
        reasons = [f"{name}_{problem}" for name, problem in problems]
        stats.inc_value(f"items/rejected/{kind}")
        for reason in reasons:
            stats.inc_value(f"items/rejected/{kind}/{reason}")
        ident = getattr(item, type(item).key_field, None)
        values = {name: record[name] for name, _ in problems if name in record}
        self._write(kind, ident, reasons, values, record.get("source_url"))
        raise DropItem(
            f"Rejected {kind} {ident}: {', '.join(reasons)} (listed in {self.rejects.path})",
            log_level="DEBUG",
        )

    def _write(
        self, kind: str, ident: Any, reasons: list[str], values: dict[str, Any], url: Any
    ) -> None:
        line = {
            "kind": kind,
            "id": ident,
            "reasons": reasons,
            "values": values,
            "url": url,
            "spider": self.crawler.spider.name if self.crawler.spider else None,
            "time": datetime.now(UTC),
        }
        self.rejects.write(line)

    def close_spider(self) -> None:
        if not self.rejects.close():
            return
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        counts = {
            key.removeprefix("items/rejected/"): value
            for key, value in sorted(stats.items())
            if key.startswith("items/rejected/") and key.count("/") == 3
        }
        logger.warning(
            "Rejected items by reason: %s (listed in %s)",
            ", ".join(f"{key} {value}" for key, value in counts.items()),
            self.rejects.path,
        )
