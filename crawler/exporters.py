"""``jsonlines`` feeds written with orjson.

Why not Scrapy's ``JsonLinesItemExporter``: it writes datetimes without their
time zone (``2026-11-23 08:00:00``) and encodes through the stdlib ``json``
module. This exporter writes ISO 8601 with the offset
(``2026-11-23T08:00:00+00:00``), keeps Vietnamese text as UTF-8, and is several
times faster. ``fields_to_export`` is honoured like in Scrapy's exporters.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
from itemadapter import ItemAdapter
from scrapy.exporters import BaseItemExporter

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to a feed")


class OrjsonLinesItemExporter(BaseItemExporter):
    def __init__(self, file: BinaryIO, **kwargs: Any) -> None:
        super().__init__(dont_fail=True, **kwargs)
        self.file = file

    def export_item(self, item: Any) -> None:
        if self.fields_to_export is None and dataclasses.is_dataclass(item):
            # orjson writes a dataclass natively: every field in order, the same
            # bytes as the dict of its fields, without building the dict
            record: Any = item
        else:
            record = dict(self._get_serialized_fields(item))
        self.file.write(orjson.dumps(record, default=_default, option=_OPTIONS))

    def _get_serialized_fields(self, item: Any) -> Any:
        # the base class calls serialize_field per field; that hook is a no-op
        # here, so a plain dict of the fields is the same thing, only cheaper
        if self.fields_to_export is None:
            return ItemAdapter(item).items()
        return self.get_serialized_fields(item)


class ParquetItemExporter:
    """``FEED_EXPORTERS["parquet"]``: :class:`crawler.parquet.ParquetItemExporter`,
    imported when a Parquet feed opens. Scrapy's feed exporter loads every
    listed exporter when a crawl starts; pyarrow (~40 MB of memory, ~60 ms of
    CPU) is then only for a run that writes Parquet."""

    @classmethod
    def from_crawler(cls, crawler: Crawler, file: BinaryIO, **kwargs: Any) -> BaseItemExporter:
        from crawler.parquet import ParquetItemExporter as Exporter

        return Exporter.from_crawler(crawler, file, **kwargs)
