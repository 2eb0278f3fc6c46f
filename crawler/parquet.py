"""Parquet feeds: one explicit Arrow schema per item type, the ``parquet``
feed exporter, and the Parquet twins of the run folder's JSON Lines batches.

The schemas (:data:`ARROW_SCHEMAS`) are written out here, never inferred from
the first rows: ids, money and counts ``int64``, ratings ``float64``, times
``timestamp[us, tz=UTC]``, days ``date32``, breadcrumbs and specifications lists
of structs, id and image lists lists. Every column is nullable except the
fields an item requires. A dashboard row's ``values`` (columns that differ per
report) is one JSON text column. ``tests/unit/test_parquet.py`` checks them
against the dataclasses of :mod:`crawler.items` and the JSON Schemas of
:mod:`crawler.schemas`.

A value that does not fit its column is :class:`ParquetFieldError`, a
sentence naming the item type and the field: never a silent string or a
truncated number (pyarrow alone would turn ``1.5`` into ``1`` in an ``int64``
column, and drop a struct's unknown keys). It fails the Parquet file, logged at
ERROR, not the crawl nor the other feeds.

- :class:`ParquetItemExporter` (``FEED_EXPORTERS["parquet"]``): ``-o
  products.parquet`` and ``FEEDS`` entries with ``"format": "parquet"``. Rows
  are written in row groups of ``PARQUET_ROW_GROUP_ROWS``, zstd-compressed,
  into a temporary file beside the target, which replaces the target at the end
  (``os.replace``): a reader sees the complete file or none. A file of a remote
  storage (S3, FTP, stdout) is written into the storage's own temporary file.
- :class:`crawler.extensions.parquet.ParquetBatches` (an extension, on with
  ``PARQUET_FEEDS``; it imports this module, and so pyarrow, only then): each
  closed batch file of a local JSON Lines feed of one item type gets a Parquet
  twin beside it (``products-00003.jsonl`` -> ``products-00003.parquet``),
  written atomically from the JSON Lines file; a resumed JOBDIR job first
  makes the twins its killed run did not. So the Parquet files hold what the
  JSON Lines feed holds, also after a kill and a resume (no record twice, none
  missing): the resume logic (:mod:`crawler.resume`) keeps the JSON Lines
  files exact, and the twins follow them file by file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Self

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.exporters import BaseItemExporter

from crawler import settings as defaults
from crawler.extensions.parquet import row_group_rows, twin_of
from crawler.items import Brand, Comment, DashboardRow, Product

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

COMPRESSION = "zstd"
_TIME = pa.timestamp("us", tz="UTC")
_TEXT = pa.string()
_ID = pa.int64()


#: a stored image (crawler/pipelines/images.py): a failed one has its reason
_IMAGES = pa.list_(
    pa.struct(
        [
            ("url", _TEXT),
            ("path", _TEXT),
            ("checksum", _TEXT),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("status", _TEXT),
            ("reason", _TEXT),
        ]
    )
)


def _schema(*columns: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in columns])


#: item class -> its Arrow schema: the columns in the dataclass's field order
ARROW_SCHEMAS: dict[type, pa.Schema] = {
    Brand: _schema(
        ("id", _ID, False),
        ("name", _TEXT, False),
        ("slug", _TEXT, True),
        ("category_ids", pa.list_(_ID), True),
        ("source_url", _TEXT, False),
        ("scraped_at", _TIME, False),
    ),
    Product: _schema(
        ("id", _ID, False),
        ("master_id", _ID, True),
        ("sku", _TEXT, True),
        ("name", _TEXT, False),
        ("url_key", _TEXT, True),
        ("url", _TEXT, True),
        ("type", _TEXT, True),
        ("short_description", _TEXT, True),
        ("description_html", _TEXT, True),
        ("description_text", _TEXT, True),
        ("price", pa.int64(), True),
        ("list_price", pa.int64(), True),
        ("original_price", pa.int64(), True),
        ("discount", pa.int64(), True),
        # a whole percent in the API and in the items: int64, not a rate
        ("discount_rate", pa.int64(), True),
        ("rating_average", pa.float64(), True),
        ("review_count", pa.int64(), True),
        ("all_time_quantity_sold", pa.int64(), True),
        ("quantity_sold", pa.int64(), True),
        ("inventory_status", _TEXT, True),
        ("brand_id", _ID, True),
        ("brand_name", _TEXT, True),
        ("brand_slug", _TEXT, True),
        ("category_id", _ID, True),
        ("category_name", _TEXT, True),
        (
            "breadcrumbs",
            pa.list_(pa.struct([("category_id", _ID), ("name", _TEXT), ("url", _TEXT)])),
            True,
        ),
        ("seller_id", _ID, True),
        ("seller_name", _TEXT, True),
        ("seller_product_id", _TEXT, True),
        (
            "specifications",
            pa.list_(
                pa.struct([("group", _TEXT), ("code", _TEXT), ("name", _TEXT), ("value", _TEXT)])
            ),
            True,
        ),
        ("image_urls", pa.list_(_TEXT), True),
        ("images", _IMAGES, True),
        ("thumbnail_url", _TEXT, True),
        ("variant_ids", pa.list_(_ID), True),
        ("stock_qty", pa.int64(), True),
        ("day_ago_created", pa.int64(), True),
        ("source_url", _TEXT, False),
        ("redirected_from", _TEXT, True),
        ("scraped_at", _TIME, False),
    ),
    Comment: _schema(
        ("id", _ID, False),
        ("product_id", _ID, False),
        ("title", _TEXT, True),
        ("content", _TEXT, True),
        ("rating", pa.int64(), True),
        ("status", _TEXT, True),
        ("thank_count", pa.int64(), True),
        ("comment_count", pa.int64(), True),
        ("customer_id", _ID, True),
        ("author_name", _TEXT, True),
        ("purchased", pa.bool_(), True),
        ("seller_id", _ID, True),
        ("image_urls", pa.list_(_TEXT), True),
        ("images", _IMAGES, True),
        ("created_at", _TIME, True),
        ("source_url", _TEXT, False),
        ("scraped_at", _TIME, False),
    ),
    DashboardRow: _schema(
        ("key", _TEXT, False),
        ("report", _TEXT, False),
        ("day", pa.date32(), False),
        # the report's own columns, as a JSON object: they differ per report
        ("values", _TEXT, True),
        ("source_url", _TEXT, False),
        ("scraped_at", _TIME, False),
    ),
}
#: fields whose items hold a Python object that the column holds as JSON text
_JSON_TEXT = {(DashboardRow, "values")}


class ParquetFieldError(ValueError):
    """A value that does not fit its column; the message names the field."""


def _describe(kind: pa.DataType) -> str:
    if pa.types.is_timestamp(kind):
        return "a time with its time zone"
    if pa.types.is_date(kind):
        return "a date"
    if pa.types.is_list(kind):
        return f"a list of {_describe(kind.value_type)}s"
    if pa.types.is_struct(kind):
        return "an object of " + ", ".join(kind.field(i).name for i in range(kind.num_fields))
    return {"int64": "an integer", "double": "a number", "string": "text", "bool": "a boolean"}.get(
        str(kind), str(kind)
    )


def _coerce(value: Any, kind: pa.DataType, where: str) -> Any:
    """``value`` as pyarrow takes it for a column of ``kind``, checked strictly
    (JSON Lines text for times and dates parsed); :class:`ParquetFieldError`
    when it does not fit."""
    if value is None:
        return None
    fits = True
    if pa.types.is_int64(kind):
        fits = isinstance(value, int) and not isinstance(value, bool)
    elif pa.types.is_float64(kind):
        fits = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif pa.types.is_string(kind):
        fits = isinstance(value, str)
    elif pa.types.is_boolean(kind):
        fits = isinstance(value, bool)
    elif pa.types.is_timestamp(kind):
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                fits = False
        fits = fits and isinstance(value, datetime) and value.tzinfo is not None
        if fits:
            value = value.astimezone(UTC)
    elif pa.types.is_date(kind):
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                fits = False
        fits = fits and isinstance(value, date) and not isinstance(value, datetime)
    elif pa.types.is_list(kind):
        fits = isinstance(value, (list, tuple))
        if fits:
            return [_coerce(v, kind.value_type, f"{where}[{i}]") for i, v in enumerate(value)]
    elif pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        fits = isinstance(value, dict) and set(value) <= set(names)
        if fits:
            return {
                n: _coerce(value.get(n), kind.field(i).type, f"{where}.{n}")
                for i, n in enumerate(names)
            }
    if not fits:
        raise ParquetFieldError(
            f"The Parquet column {where} takes {_describe(kind)}, not {value!r}."
        )
    return value


def item_class_of(item: Any) -> type:
    """The item class whose schema an item (an item object or, for JSON Lines
    records, a dict) is written with."""
    cls = type(item)
    if cls not in ARROW_SCHEMAS:
        raise ParquetFieldError(f"A Parquet feed takes the project's items, not a {cls.__name__}.")
    return cls


def schema_for(cls: type, fields: list[str] | None = None) -> pa.Schema:
    """The Arrow schema of ``cls``, reduced to ``fields`` (a feed's ``fields``
    option) when given."""
    schema = ARROW_SCHEMAS[cls]
    if not fields:
        return schema
    unknown = [f for f in fields if schema.get_field_index(f) < 0]
    if unknown:
        raise ParquetFieldError(
            f"A {cls.__name__} has no field {unknown[0]!r} to write to Parquet."
        )
    return pa.schema([schema.field(f) for f in fields])


def _fits(kind: pa.DataType) -> Callable[[Any], bool]:
    """A fast test of whether a value fits a column of ``kind`` as it is (no
    conversion; ``None`` fits). A value it refuses goes through
    :func:`_coerce`, which converts it or says what is wrong: the common case
    costs one test per value, not a walk through every nested value."""
    if pa.types.is_int64(kind):
        return lambda v: v is None or type(v) is int
    if pa.types.is_float64(kind):
        return lambda v: v is None or type(v) is float or type(v) is int
    if pa.types.is_string(kind):
        return lambda v: v is None or type(v) is str
    if pa.types.is_boolean(kind):
        return lambda v: v is None or type(v) is bool
    if pa.types.is_list(kind):
        inner = _fits(kind.value_type)
        return lambda v: v is None or (type(v) is list and all(map(inner, v)))
    if pa.types.is_struct(kind):
        names = frozenset(kind.field(i).name for i in range(kind.num_fields))
        checks = [(kind.field(i).name, _fits(kind.field(i).type)) for i in range(kind.num_fields)]
        return lambda v: (
            v is None
            or (
                type(v) is dict
                and v.keys() <= names
                and all(check(v.get(name)) for name, check in checks)
            )
        )
    return lambda v: False  # times and days: always through _coerce (text is parsed)


def to_table(cls: type, rows: list[Any], schema: pa.Schema) -> pa.Table:
    """The rows (items of ``cls`` or their JSON Lines records) as a table of
    ``schema``, each value checked against its column."""
    arrays = []
    type_name = cls.__name__
    dicts = bool(rows) and isinstance(rows[0], dict)
    for column in schema:
        name = column.name
        kind = column.type
        if dicts:
            values = [row.get(name) for row in rows]
        else:
            values = [getattr(row, name, None) for row in rows]
        if (cls, name) in _JSON_TEXT:
            values = [
                v if v is None or isinstance(v, str) else orjson.dumps(v).decode() for v in values
            ]
        fits = _fits(kind)
        where = f"{type_name}.{name}"
        for i, value in enumerate(values):
            if not fits(value):
                values[i] = _coerce(value, kind, where)
        if not column.nullable and any(v is None for v in values):
            raise ParquetFieldError(f"The Parquet column {where} cannot be empty.")
        try:
            arrays.append(pa.array(values, type=kind))
        except (pa.ArrowException, OverflowError) as exc:  # an integer beyond int64, say
            raise ParquetFieldError(
                f"The Parquet column {where} takes {_describe(kind)}: {exc}."
            ) from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def write_parquet(
    cls: type, rows: list[Any], path: Path, row_group_rows: int, schema: pa.Schema | None = None
) -> None:
    """Write ``rows`` to ``path`` atomically: a temporary file beside it that
    replaces it once complete (a reader never sees half a file)."""
    schema = schema or ARROW_SCHEMAS[cls]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, schema, compression=COMPRESSION) as writer:
            for start in range(0, len(rows), row_group_rows):
                writer.write_table(to_table(cls, rows[start : start + row_group_rows], schema))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ParquetItemExporter(BaseItemExporter):
    """The ``parquet`` feed format: the items of one type, in row groups of
    ``PARQUET_ROW_GROUP_ROWS``, zstd. A local file is written beside its
    target and moved onto it at the end; a feed appended to (``-o``) holds this
    run's items, as Parquet files cannot be appended to.

    A value that does not fit its column fails the file, not the crawl: the
    sentence naming the field is logged at ERROR (once; the stat
    ``parquet/failed``), the target is left as it was (an empty one Scrapy
    opened is removed) and the feed's other items are dropped. Nothing is
    raised to Scrapy's feed exporter, which would then skip the other feeds
    of the item."""

    def __init__(
        self,
        file: BinaryIO,
        *,
        row_group_rows: int = defaults.PARQUET_ROW_GROUP_ROWS,
        stats: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(dont_fail=True, **kwargs)
        self.file = file
        self.row_group_rows = row_group_rows
        self.stats = stats
        self.cls: type | None = None
        self.schema: pa.Schema | None = None
        self.rows: list[Any] = []
        self.writer: pq.ParquetWriter | None = None
        name = getattr(file, "name", None)
        #: the local file to replace at the end; None: write into ``file``
        self.target = Path(name) if isinstance(name, str) and os.path.isfile(name) else None
        self.tmp: Path | None = None
        #: why the file is not written, once a value did not fit
        self.error: ParquetFieldError | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, file: BinaryIO, **kwargs: Any) -> Self:
        rows = row_group_rows(crawler.settings)
        return cls(file, row_group_rows=rows, stats=crawler.stats, **kwargs)

    def export_item(self, item: Any) -> None:
        if self.error is not None:
            return
        try:
            cls = item_class_of(item)
            if self.cls is None:
                self.cls = cls
                fields = list(self.fields_to_export) if self.fields_to_export else None
                self.schema = schema_for(cls, fields)
            elif cls is not self.cls:
                raise ParquetFieldError(
                    f"A Parquet feed holds one item type ({self.cls.__name__}), not also "
                    f"{cls.__name__}: give the feed item_classes."
                )
            self.rows.append(item)
            if len(self.rows) >= self.row_group_rows:
                self._write_group()
        except ParquetFieldError as exc:
            self._fail(exc)

    def _write_group(self) -> None:
        assert self.cls is not None and self.schema is not None
        table = to_table(self.cls, self.rows, self.schema)
        self.rows = []
        if self.writer is None:
            sink: Any = self.file
            if self.target is not None:
                self.tmp = self.target.with_name(f".{self.target.name}.{os.getpid()}.tmp")
                sink = self.tmp
            self.writer = pq.ParquetWriter(sink, self.schema, compression=COMPRESSION)
        self.writer.write_table(table)

    def _fail(self, error: ParquetFieldError) -> None:
        self.error = error
        self.rows = []
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
            self.tmp = None
        if self.target is not None and self.target.exists() and not self.target.stat().st_size:
            self.target.unlink()  # the empty file Scrapy opened: no file, not half a one
        where = self.target or "the feed"
        logger.error("Parquet feed %s is not written: %s", where, error)
        if self.stats is not None:
            self.stats.inc_value("parquet/failed")

    def finish_exporting(self) -> None:
        if self.error is not None:
            return
        try:
            if self.rows or (self.writer is None and self.cls is not None):
                self._write_group()
        except ParquetFieldError as exc:
            self._fail(exc)
            return
        if self.writer is None:
            return
        self.writer.close()
        self.writer = None
        if self.tmp is not None and self.target is not None:
            os.replace(self.tmp, self.target)
            self.tmp = None


def convert_jsonl(path: Path, cls: type, rows_per_group: int) -> int:
    """Write the Parquet twin of a JSON Lines file (its complete lines); the rows."""
    data = path.read_bytes()
    records = [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    write_parquet(cls, records, twin_of(path), rows_per_group)
    return len(records)
