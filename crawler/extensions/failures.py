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

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import signals as scrapy_signals

from crawler import ledger, signals
from crawler.run import RunFile

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class FailuresLog:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.file = RunFile(
            crawler, "FAILURES_FILE", "failures.jsonl", "Failed records are listed in %s"
        )
        crawler.signals.connect(self.record_failed, signal=signals.record_failed)
        crawler.signals.connect(self.spider_closed, signal=scrapy_signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FailuresLog:
        return cls(crawler)

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
        ledger.count_failure(stats, kind, reason)
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
        self.file.write(record)

    def spider_closed(self) -> None:
        self.file.close()
