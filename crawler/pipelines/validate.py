"""ValidatePipeline: a JSON Schema per item type; invalid items go to the rejects file.

An item is checked as the JSON its feed would hold (``None`` counts as absent,
datetimes as ISO 8601 strings) against its type's schema in :data:`crawler.schemas.SCHEMAS`.
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

Field coverage: per item type, how many of the checked items (valid and
rejected) had each field non-empty, counted on the record built for the check
(one pass over its fields) and written to the stats once, when the pipeline
closes (``coverage/<type>/<field>``, :func:`crawler.ledger.set_coverage`): the
report's coverage table.

Settings:
- ``REJECTS_FILE``: a path instead of ``<run dir>/rejects.jsonl``
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import fastjsonschema
from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from crawler import ledger
from crawler.items import item_type
from crawler.run import RunFile
from crawler.schemas import SCHEMAS, object_schema

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


# -- checking ---------------------------------------------------------------


#: item class -> its field names, for reading an item without an adapter
_FIELD_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in SCHEMAS
}
_ABSENT = object()
#: the types whose falsy values are empty (a 0 or False is a value)
_EMPTIES = (str, list, dict, tuple)


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
            (
                name,
                fastjsonschema.compile(
                    object_schema([name] if name in required else [], {name: s})
                ),
            )
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
        #: item type -> field -> items with the field non-empty (set into the
        #: stats at close: a dict increment per field, no stats call per item)
        self.non_empty: dict[str, defaultdict[str, int]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        checker = CHECKERS.get(type(item))
        if checker is None:
            return item
        stats = self.crawler.stats
        kind = item_type(item)
        record = json_record(item)
        counts = self.non_empty.get(kind)
        if counts is None:  # every field of the type named, the never-filled ones at 0
            counts = self.non_empty[kind] = defaultdict(int)
            counts.update(dict.fromkeys(_FIELD_NAMES.get(type(item), ()), 0))
        for name, value in record.items():
            # "", [], {} are empty (None and absent fields are not in the record)
            if value or not isinstance(value, _EMPTIES):
                counts[name] += 1
        problems = checker.problems(record)
        if not problems:
            ledger.count_valid(stats, kind)
            return item
        reasons = [f"{name}_{problem}" for name, problem in problems]
        ledger.count_rejected(stats, kind, reasons)
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
        for kind, non_empty in self.non_empty.items():
            ledger.set_coverage(self.crawler.stats, kind, non_empty)
        if not self.rejects.close():
            return
        stats = self.crawler.stats.get_stats() if self.crawler.stats else {}
        counts = ledger.rejected_by_reason(stats)
        # the site's data, not the crawl's trouble: the report and the file say it
        logger.info(
            "Rejected items by reason: %s (listed in %s)",
            ", ".join(f"{key} {value}" for key, value in counts.items()),
            self.rejects.path,
        )
