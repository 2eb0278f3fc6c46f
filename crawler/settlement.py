"""When a request is done: one tracker, used by the JOBDIR journal
(:mod:`crawler.resume.extension`) and the distributed scheduler
(:mod:`crawler.distributed.scheduler`).

A request is done once it has left the engine (the downloader's and the
scraper's request sets: its callback ran, what it yielded is scheduled), its
items are in the feed files (flushed) and, when a storage announced itself
(:data:`crawler.signals.storage_opened`), settled by it
(:data:`crawler.signals.items_settled`: stored, or listed as failed). Items are
settled in the order they were scraped, so a request whose callback ran when
``n`` items had been scraped is done once ``n`` items are settled.

The engine's internals are read here only, in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from typing import TYPE_CHECKING, Generic, TypeVar

from scrapy.extensions.feedexport import FeedExporter

from crawler import signals

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from scrapy import Request
    from scrapy.crawler import Crawler

K = TypeVar("K")


def requests_in_engine(crawler: Crawler) -> list[Request]:
    """Requests being downloaded or whose responses the scraper still holds."""
    engine = crawler.engine
    if engine is None:
        return []
    requests = list(engine.downloader.active)
    slot = engine.scraper.slot
    if slot is not None:
        requests.extend(slot.active)
        requests.extend(request for _, request, _ in slot.queue)
    return requests


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


class Settlement(Generic[K]):
    """Requests held under a key of the caller's (a journal fingerprint, a
    Redis entry) until they are done.

    ``hold(key, fingerprint)`` when a request is taken; ``await checkpoint()``
    returns the keys now done. ``busy`` names requests that are not in the
    engine but not done either (retries waiting out their backoff)."""

    def __init__(
        self,
        crawler: Crawler,
        busy: Callable[[], Iterable[Request]] = tuple,
    ) -> None:
        self.crawler = crawler
        self.fingerprint = crawler.request_fingerprinter.fingerprint
        self.extra_busy = busy
        #: requests held, not left the engine yet: key -> fingerprint
        self.held: dict[K, bytes] = {}
        #: (items scraped when they left the engine, their keys)
        self.waiting: deque[tuple[int, list[K]]] = deque()
        self.storage: str | None = None
        self.settled_items = 0
        crawler.signals.connect(self.storage_opened, signal=signals.storage_opened)
        crawler.signals.connect(self.items_settled, signal=signals.items_settled)

    # -- what the storage says ---------------------------------------------------

    def storage_opened(self, name: str) -> None:
        self.storage = name

    def items_settled(self, count: int) -> None:
        self.settled_items += count

    def settled(self) -> float:
        """Items settled so far (all of them when no storage is on)."""
        return self.settled_items if self.storage else math.inf

    # -- requests ----------------------------------------------------------------

    def hold(self, key: K, fingerprint: bytes) -> None:
        self.held[key] = fingerprint

    def settle(self) -> None:
        """Move the requests that left the engine to ``waiting``; flush the feeds."""
        if self.held:
            requests = [*requests_in_engine(self.crawler), *self.extra_busy()]
            busy = {self.fingerprint(r) for r in requests}
            left = [key for key, fp in self.held.items() if fp not in busy]
            for key in left:
                del self.held[key]
            if left:
                stats = self.crawler.stats
                scraped = stats.get_value("item_scraped_count", 0) if stats else 0
                self.waiting.append((scraped, left))
        flush_feeds(self.crawler)

    def done(self) -> list[K]:
        """Keys of the requests whose items are all settled (taken out)."""
        settled, done = self.settled(), []
        while self.waiting and self.waiting[0][0] <= settled:
            done.extend(self.waiting.popleft()[1])
        return done

    async def checkpoint(self) -> list[K]:
        """:meth:`settle`, then :meth:`done` once the feed files that rolled
        over meanwhile are closed."""
        self.settle()
        await asyncio.sleep(0)
        return self.done()

    def pending(self) -> int:
        """Requests held or waiting for their items."""
        return len(self.held) + sum(len(keys) for _, keys in self.waiting)
