"""DistributedAddon: ``-s DISTRIBUTED=1`` turns a crawl into one worker of a
Redis-backed crawl; with ``DISTRIBUTED`` off it changes nothing.

Listed in ``ADDONS`` (``crawler/settings.py``). When on, it sets, each at the
project's priority unless a higher one (``-s``) set it already:

- ``SCHEDULER``: :class:`crawler.distributed.scheduler.DistributedScheduler`
  (scrapy-redis' scheduler, queue and duplicate filter, made safe for killed
  workers);
- ``SPIDER_MIDDLEWARES``: :class:`~crawler.distributed.start.DistributedStartMiddleware`
  (the first worker seeds through the spider's ``async def start``);
- ``DOWNLOAD_HANDLERS`` for http and https:
  :class:`~crawler.distributed.ratelimit.RateLimitedDownloadHandler` (Scrapy's
  HTTP/1.1 handler after a shared send time), unless a spider or the command
  line chose handlers; cached answers never reach it, so they take no share;
- ``THROTTLE_429_ENABLED = False``: the shared limiter reacts to 429 for all
  workers; the per-worker rule would slow each worker down once more;
- ``DISTRIBUTED_WORKER_ID``: ``<host>-<pid>`` when empty (as in
  ``crawler/settings.py``), so that every component of the worker uses the
  same id.

``JOBDIR`` is refused: the crawl's state is in Redis (a killed worker's
requests are queued again by the others), a job folder would be a second,
per-worker copy of it. :func:`check_settings` says so in one sentence, and the
``crawl`` command calls it before the crawl: exit status 2, no traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured
from scrapy.settings import SETTINGS_PRIORITIES

from crawler.distributed.config import DistributedConfig, default_worker_id
from crawler.distributed.start import DistributedStartMiddleware
from crawler.exceptions import DistributedConfigError

if TYPE_CHECKING:
    from typing import Any

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

SCHEDULER = "crawler.distributed.scheduler.DistributedScheduler"
HANDLER = "crawler.distributed.ratelimit.RateLimitedDownloadHandler"
START_PRIORITY = 50


def check_settings(settings: BaseSettings) -> None:
    """:class:`DistributedConfigError` (one sentence) when ``DISTRIBUTED`` is on
    with settings it cannot run with; the ``crawl`` command calls it before the
    crawl (exit status 2), the add-on again for other ways to start one."""
    if not settings.getbool("DISTRIBUTED"):
        return
    if settings.get("JOBDIR"):
        raise DistributedConfigError(
            "JOBDIR does not apply to a distributed crawl: its state is in Redis "
            "(run without -s JOBDIR)."
        )
    DistributedConfig.from_settings(settings)  # a bad setting fails here, before the crawl


def _set_default(settings: BaseSettings, name: str, value: Any) -> None:
    """Set ``name`` unless the command line (or a spider) set it."""
    if (settings.getpriority(name) or 0) <= SETTINGS_PRIORITIES["project"]:
        settings.set(name, value, priority="project")


class DistributedAddon:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DistributedAddon:
        return cls(crawler)

    def update_settings(self, settings: BaseSettings) -> None:
        if not settings.getbool("DISTRIBUTED"):
            raise NotConfigured  # silent: a one-process crawl
        check_settings(settings)
        _set_default(settings, "DISTRIBUTED_WORKER_ID", default_worker_id())
        _set_default(settings, "SCHEDULER", SCHEDULER)
        _set_default(settings, "THROTTLE_429_ENABLED", False)
        settings.set_in_component_priority_dict(
            "SPIDER_MIDDLEWARES", DistributedStartMiddleware, START_PRIORITY
        )
        _set_default(
            settings,
            "DOWNLOAD_HANDLERS",
            {
                **settings.getdict("DOWNLOAD_HANDLERS"),
                "http": HANDLER,
                "https": HANDLER,
            },
        )
