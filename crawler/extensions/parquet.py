"""``PARQUET_FEEDS``: the Parquet twins of the run folder's JSON Lines batches
(:mod:`crawler.parquet` says what they hold).

Apart from :mod:`crawler.parquet` because every crawl loads its extensions:
pyarrow (~40 MB of memory, ~60 ms of CPU) is imported only by a run that
writes Parquet, when this extension is on or a ``parquet`` feed opens
(:class:`crawler.exporters.ParquetItemExporter`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.conf import feed_complete_default_values_from_settings
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.misc import load_object
from twisted.internet.threads import deferToThread

from crawler import settings as defaults
from crawler.resume.outputs import run_feed_files

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.extensions.feedexport import FeedSlot

    from crawler.parquet import ParquetFieldError

logger = logging.getLogger("crawler.parquet")

_MODES = ("off", "beside", "instead")


def parquet_mode(settings: Any) -> str:
    """``PARQUET_FEEDS`` as one of off / beside / instead (a boolean on is beside)."""
    raw = str(settings.get("PARQUET_FEEDS", defaults.PARQUET_FEEDS) or "off").strip().lower()
    mode = {"0": "off", "false": "off", "no": "off", "1": "beside", "true": "beside"}.get(raw, raw)
    if mode not in _MODES:
        raise ValueError(f"PARQUET_FEEDS must be off, beside or instead, got {raw!r}.")
    return mode


def twin_of(path: Path) -> Path:
    return path.with_suffix(".parquet")


def row_group_rows(settings: Any) -> int:
    rows = settings.getint("PARQUET_ROW_GROUP_ROWS", defaults.PARQUET_ROW_GROUP_ROWS)
    if rows < 1:
        raise ValueError(f"PARQUET_ROW_GROUP_ROWS must be at least 1, got {rows}.")
    return rows


class ParquetBatches:
    """With ``PARQUET_FEEDS`` on, the Parquet twin of each closed JSON Lines
    batch file of a local feed of one item type (see the module's text)."""

    def __init__(self, crawler: Crawler) -> None:
        self.mode = parquet_mode(crawler.settings)
        if self.mode == "off":
            raise NotConfigured  # the default: no WARNING for it
        from crawler import parquet  # pyarrow: only for a run that writes Parquet

        self.arrow = parquet
        self.crawler = crawler
        self.rows = row_group_rows(crawler.settings)
        #: in a JOBDIR job the JSON Lines files stay: a resumed run reads their keys
        self.keep_lines = self.mode == "beside" or bool(crawler.settings.get("JOBDIR"))
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.feed_slot_closed, signal=signals.feed_slot_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _feeds(self) -> list[tuple[str, type]]:
        """The templates of the local JSON Lines feeds of one item class, and the class."""
        settings = self.crawler.settings
        feeds = []
        for template, given in settings.getdict("FEEDS").items():
            options = feed_complete_default_values_from_settings(given, settings, str(template))
            classes = [load_object(c) for c in options.get("item_classes") or ()]
            local = "://" not in str(template).removeprefix("file://")
            if options["format"] in ("jsonlines", "jl") and len(classes) == 1 and local:
                if classes[0] in self.arrow.ARROW_SCHEMAS:
                    feeds.append((str(template), classes[0]))
        return feeds

    def spider_opened(self, spider: Any) -> None:
        """A resumed job: the twins its earlier runs did not write (the batch
        files open at the kill, their torn lines cut by the resume)."""
        settings = self.crawler.settings
        for template, cls in self._feeds():
            options = feed_complete_default_values_from_settings(
                settings.getdict("FEEDS")[template], settings, template
            )
            for path in run_feed_files(template, options, spider)[0]:
                for stale in path.parent.glob(f".{twin_of(path).name}.*.tmp"):
                    stale.unlink(missing_ok=True)  # a write cut by a kill
                twin = twin_of(path)
                if not twin.exists() or twin.stat().st_mtime < path.stat().st_mtime:
                    self._convert(path, cls)

    async def feed_slot_closed(self, slot: FeedSlot) -> None:
        """The twin of a batch file just closed, written in a thread (a
        batch of 1,000 products takes ~50 ms) while the crawl goes on; the
        feed exporter waits for it before the run ends."""
        if slot.format not in ("jsonlines", "jl") or not slot.itemcount:
            return
        classes = [load_object(c) for c in slot.feed_options.get("item_classes") or ()]
        path = Path(slot.uri.removeprefix("file://"))
        if len(classes) == 1 and classes[0] in self.arrow.ARROW_SCHEMAS and path.is_file():
            rows = await maybe_deferred_to_future(deferToThread(self._write_twin, path, classes[0]))
            self._written(rows, path)

    def _convert(self, path: Path, cls: type) -> None:
        self._written(self._write_twin(path, cls), path)

    def _write_twin(self, path: Path, cls: type) -> int | ParquetFieldError:
        try:
            return self.arrow.convert_jsonl(path, cls, self.rows)
        except self.arrow.ParquetFieldError as exc:
            return exc

    def _written(self, rows: int | ParquetFieldError, path: Path) -> None:
        if isinstance(rows, self.arrow.ParquetFieldError):
            self.crawler.stats.inc_value("parquet/failed")
            logger.error("No Parquet twin for %s: %s", path, rows)
            return
        self.crawler.stats.inc_value("parquet/files")
        self.crawler.stats.inc_value("parquet/rows", rows)
        if not self.keep_lines:
            path.unlink()
