"""When a request is done: shared by the JOBDIR journal
(:mod:`crawler.extensions.resume`) and the distributed scheduler
(:mod:`crawler.distributed.scheduler`), which both acknowledge a request only
once it has left the engine, its items are in the feed files and, with
MongoDB on, acknowledged by the server (or listed as failed by the pipeline).

The engine's internals (the downloader's and the scraper's request sets) are
read here only, in one place.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from scrapy.extensions.feedexport import FeedExporter

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


def requests_in_engine(crawler: Crawler) -> list[Request]:
    """Requests being downloaded or whose responses the scraper still holds."""
    engine = crawler.engine
    assert engine is not None
    requests = list(engine.downloader.active)
    slot = engine.scraper.slot
    if slot is not None:
        requests.extend(slot.active)
        requests.extend(request for _, request, _ in slot.queue)
    return requests


def items_settled_in_mongo(stats: dict[str, Any]) -> int:
    """Items MongoDB acknowledged (``items/stored/*``) or that its pipeline
    listed as failed (``failures/*/mongo_*``)."""
    return sum(v for k, v in stats.items() if k.startswith("items/stored/")) + sum(
        v
        for k, v in stats.items()
        if k.startswith("failures/") and k.rsplit("/", 1)[-1].startswith("mongo_")
    )


def feed_exporter(crawler: Crawler) -> FeedExporter | None:
    return next((e for e in crawler.extensions.middlewares if isinstance(e, FeedExporter)), None)


def flush_feeds(crawler: Crawler) -> None:
    """Flush the open feed files, so that what they were given is on disk."""
    exporter = feed_exporter(crawler)
    for slot in exporter.slots if exporter else ():
        handle = slot.file
        if handle is not None and not getattr(handle, "closed", False):
            with contextlib.suppress(ValueError):  # closed underneath us at shutdown
                handle.flush()
