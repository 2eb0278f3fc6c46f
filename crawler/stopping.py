"""One way to stop a run early with one sentence.

A component that finds the run cannot go on (the site cannot be reached,
MongoDB refuses the credentials, Redis is out of reach) logs one ERROR
sentence, keeps it in the ``run/stopped_because`` stat and closes the spider
with a short reason (``host_unreachable``, ``mongo_unavailable``, ...). The run
report (:mod:`crawler.extensions.report`) gives that sentence as the run's
problem instead of logging another one, and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import CloseSpider, IgnoreRequest

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: the sentence that stopped the run, logged already
STOPPED_BECAUSE = "run/stopped_because"

#: close tasks under way (a task nobody holds may be collected before it ran)
_closing: set[asyncio.Future[Any]] = set()


def stopping(crawler: Crawler, reason: str, sentence: str) -> CloseSpider:
    """Log ``sentence`` once at ERROR and keep it for the report; the
    :class:`CloseSpider` to raise (from a component's ``open``/``open_spider``,
    a callback or a ``spider_idle`` handler)."""
    stats = crawler.stats
    if stats is not None and stats.get_value(STOPPED_BECAUSE) is None:
        logger.error("%s", sentence)
        stats.set_value(STOPPED_BECAUSE, sentence)
    return CloseSpider(reason)


def stop(crawler: Crawler, reason: str, sentence: str) -> None:
    """Stop a running crawl from anywhere (a downloader middleware, a timer):
    :func:`stopping`, then close the spider with ``reason``."""
    first = crawler.stats is None or crawler.stats.get_value(STOPPED_BECAUSE) is None
    stopping(crawler, reason, sentence)
    engine = crawler.engine
    if first and engine is not None and engine.spider is not None:
        task = asyncio.ensure_future(engine.close_spider_async(reason=reason))
        _closing.add(task)
        task.add_done_callback(_closing.discard)


class HostUnreachable(IgnoreRequest):
    """Raised for a request to a host that was never reached and cannot be
    (:class:`crawler.middlewares.retry.BackoffRetryMiddleware`): the run is
    stopping; nothing is recorded or logged about this request (an
    :class:`IgnoreRequest`, so Scrapy's robots.txt middleware stays quiet)."""
