"""Progress: a periodic log line per spider with records done, the known
total, the rate and the time left.

    products: 1,234 of 2,000 records (61.7%), 410.2/s, ETA 0:00:01

Records done are items scraped, items dropped (rejected) and failed records.
The total comes from the spider's ``progress_total()``: ``(total, exact)``,
where a total that is not exact yet (listings still being read) is shown as
``at least``. The line is logged at INFO, so ``LOG_LEVEL=WARNING`` keeps it
quiet. It replaces Scrapy's LogStats line (pages and items per minute), which
says less.

It also samples the records done every ``PROGRESS_SAMPLE_INTERVAL`` seconds
for the HTML report's records-per-second plot (:class:`RateSamples`: at most
:data:`MAX_SAMPLES` points, the step doubling when full, so a long run's list
stays as small as a short one's); the run report reads them at the end
(:meth:`Progress.points`). Not a stat: Scrapy's stats dump would log the list.

Settings (the value and its reason: ``crawler/settings.py``):
- ``PROGRESS_INTERVAL``: seconds between lines (0 switches them off)
- ``PROGRESS_SAMPLE_INTERVAL``: seconds between samples (0 switches them off)
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


#: the most samples a run keeps (a 2-hour run at 1 s steps keeps one every 32 s)
MAX_SAMPLES = 300


class RateSamples:
    """``(seconds since the start, records done)`` every ``step`` seconds; when
    there are more than :data:`MAX_SAMPLES`, every other one goes and the step
    doubles (a sample offered sooner than the step after the last is skipped)."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.points: list[tuple[float, int]] = []

    def add(self, elapsed: float, done: int) -> None:
        if self.points and elapsed - self.points[-1][0] < self.step * 0.9:
            return
        self.points.append((round(elapsed, 2), done))
        if len(self.points) > MAX_SAMPLES:
            self.points = self.points[::2]
            self.step *= 2


class Progress:
    def __init__(self, crawler: Crawler) -> None:
        self.interval = crawler.settings.getfloat("PROGRESS_INTERVAL", defaults.PROGRESS_INTERVAL)
        self.sample_interval = crawler.settings.getfloat(
            "PROGRESS_SAMPLE_INTERVAL", defaults.PROGRESS_SAMPLE_INTERVAL
        )
        if self.interval <= 0 and self.sample_interval <= 0:
            raise NotConfigured("PROGRESS_INTERVAL and PROGRESS_SAMPLE_INTERVAL are 0")
        self.crawler = crawler
        self.started = time.monotonic()
        self.task: Any = None
        self.sampling: Any = None
        self.samples = RateSamples(self.sample_interval)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        return cls(crawler)

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        if self.interval > 0:
            self.task = create_looping_call(self.log)
            self.task.start(self.interval, now=False)
        if self.sample_interval > 0:
            self.sampling = create_looping_call(self.sample)
            self.sampling.start(self.sample_interval, now=True)

    def spider_closed(self) -> None:
        for task in (self.task, self.sampling):
            if task is not None and task.running:
                task.stop()

    def sample(self) -> None:
        stats = self.crawler.stats
        if stats is not None:
            done = ledger.records_done(stats.get_stats())
            self.samples.add(time.monotonic() - self.started, done)

    def points(self) -> list[tuple[float, int]]:
        """The samples so far and one of now, ``(seconds since the spider
        opened, records done)``: the run report's, at its end."""
        points = list(self.samples.points)
        stats = self.crawler.stats
        if self.sample_interval > 0 and stats is not None:
            elapsed = round(time.monotonic() - self.started, 2)
            if not points or elapsed > points[-1][0]:
                points.append((elapsed, ledger.records_done(stats.get_stats())))
        return points

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
