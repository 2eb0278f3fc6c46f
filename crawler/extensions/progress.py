"""Progress: a periodic log line per spider with records done, the known
total, the rate and the time left.

    products: 1,234 of 2,000 records (61.7%), 410.2/s, ETA 0:00:01

Records done are items scraped, items dropped (rejected) and failed records.
The total comes from the spider's ``progress_total()``: ``(total, exact)``,
where a total that is not exact yet (listings still being read) is shown as
``at least``. The line is logged at INFO, so ``LOG_LEVEL=WARNING`` keeps it
quiet. It replaces Scrapy's LogStats line (pages and items per minute), which
says less.

Settings (the value and its reason: ``crawler/settings.py``):
- ``PROGRESS_INTERVAL``: seconds between lines (0 switches it off)
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from crawler import ledger
from crawler import settings as defaults

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def progress_line(name: str, done: int, total: int | None, exact: bool, elapsed: float) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    line = f"{name}: {done:,} records"
    if total:
        prefix = "" if exact else "at least "
        line = f"{name}: {done:,} of {prefix}{total:,} records ({min(done / total, 1):.1%})"
    line += f", {rate:.1f}/s"
    if total and exact and rate > 0:
        line += f", ETA {timedelta(seconds=round(max(total - done, 0) / rate))}"
    return line


class Progress:
    def __init__(self, crawler: Crawler) -> None:
        self.interval = crawler.settings.getfloat("PROGRESS_INTERVAL", defaults.PROGRESS_INTERVAL)
        if self.interval <= 0:
            raise NotConfigured("PROGRESS_INTERVAL is 0")
        self.crawler = crawler
        self.started = time.monotonic()
        self.task: Any = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        return cls(crawler)

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        self.task = create_looping_call(self.log)
        self.task.start(self.interval, now=False)

    def spider_closed(self) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()

    def log(self) -> None:
        spider = self.crawler.spider
        if spider is None:
            return
        stats = self.crawler.stats
        total, exact = getattr(spider, "progress_total", lambda: (None, False))()
        logger.info(
            "%s",
            progress_line(
                spider.name,
                ledger.records_done(stats.get_stats()),
                total,
                exact,
                time.monotonic() - self.started,
            ),
        )
