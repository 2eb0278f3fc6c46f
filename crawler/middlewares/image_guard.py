"""ImageGuardMiddleware: the image guard (:mod:`crawler.ssrf`) on every image
request, before anything else of the downloader sees it.

An image request (``meta["image"]``, set by the images pipeline) whose URL the
guard refuses raises :class:`ImageRefused` (an ``IgnoreRequest``): no DNS query
beyond the guard's own and no connection is made. A redirect of an image is a
new request with the same meta, so it passes through here again: every hop is
checked. It runs at 50, before the robots.txt middleware (100) could fetch
anything from the host; image requests also carry ``dont_obey_robotstxt``
(set by the pipeline), so robots.txt is never fetched from an image host.

The guard's DNS query runs in a worker thread: it holds up only its request.

Settings (their values and reasons: ``crawler/settings.py``):
- ``IMAGES_ALLOWED_HOSTS``: the hosts (``host`` or ``host:port``) images may
  come from;
- ``IMAGES_ALLOW_LOOPBACK``: admit loopback addresses for those hosts (tests
  and the demo only);
- ``IMAGES_RESOLVER``: the import path of the guard's resolver (a function of
  a host name to its addresses; tests set their own).

Stats: ``images/refused/<reason>``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.misc import load_object

from crawler.ssrf import ImageGuard, Resolver, is_ip_literal

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class ImageRefused(IgnoreRequest):
    """An image URL the guard refused; ``reason`` as the failure record names it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def guard_from_settings(crawler: Crawler) -> ImageGuard:
    settings = crawler.settings
    resolver: Resolver = load_object(settings.get("IMAGES_RESOLVER"))
    return ImageGuard(
        settings.getlist("IMAGES_ALLOWED_HOSTS"),
        allow_loopback=settings.getbool("IMAGES_ALLOW_LOOPBACK"),
        resolver=resolver,
    )


class ImageGuardMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.get("IMAGES_STORE"):
            # silent: the images pipeline says once that images are off
            raise NotConfigured
        self.crawler = crawler
        self.guard = guard_from_settings(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageGuardMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        if not request.meta.get("image"):
            return
        refusal = self.guard.check_target(request.url)
        if refusal is None:
            host = (urlsplit(request.url).hostname or "").lower()
            if is_ip_literal(host):  # no DNS query: no thread
                refusal = self.guard.check_addresses(host)
            else:
                refusal = await asyncio.to_thread(self.guard.check_addresses, host)
        if refusal is None:
            return
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"images/refused/{refusal.reason}")
        logger.debug("Refused image %s: %s", request.url, refusal.message)
        raise ImageRefused(refusal.reason, refusal.message)
