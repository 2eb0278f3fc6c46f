"""The failures file: every record that failed for good, for a retry run.

Listens to :data:`crawler.signals.record_failed`. Each failure is counted
(``failures/count``, ``failures/<kind>/<reason>``) and written as one JSON
line (``kind``, ``id``, ``url``, ``reason``, ``message``, ``attempts``,
``spider``, ``time``) to ``<run dir>/failures.jsonl``, next to the feeds, and
flushed at once so that a killed process keeps what it wrote. The file is
created on the first failure: a clean run leaves none.

``scrapy crawl products -a ids_file=<failures file>`` re-runs the failed
products (``comments`` the failed reviews pages): the spiders read the records
of their own kind from such a file.

Settings:
- ``FAILURES_FILE``: a path instead of ``<run dir>/failures.jsonl``

It is a required component (the exit status and retry runs depend on it): it
has no switch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from scrapy import signals as scrapy_signals

from crawler import signals
from crawler.feeds import run_dir

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class FailuresLog:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.path_setting: str | None = crawler.settings.get("FAILURES_FILE")
        self.path: Path | None = None
        self._file: IO[bytes] | None = None
        crawler.signals.connect(self.record_failed, signal=signals.record_failed)
        crawler.signals.connect(self.spider_closed, signal=scrapy_signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FailuresLog:
        return cls(crawler)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            spider = self.crawler.spider
            self.path = (
                Path(self.path_setting) if self.path_setting else run_dir(spider) / "failures.jsonl"
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            logger.warning("Failed records are listed in %s", self.path)
        return self._file

    def record_failed(
        self,
        kind: str,
        record_id: Any,
        url: str | None,
        reason: str,
        message: str,
        attempts: int = 1,
    ) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("failures/count")
        stats.inc_value(f"failures/{kind}/{reason}")
        record = {
            "kind": kind,
            "id": record_id,
            "url": url,
            "reason": reason,
            "message": message,
            "attempts": attempts,
            "spider": self.crawler.spider.name if self.crawler.spider else None,
            "time": datetime.now(UTC),
        }
        handle = self._open()
        handle.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        handle.flush()

    def spider_closed(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
