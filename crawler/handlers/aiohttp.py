"""The API spiders' HTTP client: Scrapy 2.19's aiohttp download handler.

Scrapy's ``scrapy.core.downloader.handlers._aiohttp.AiohttpDownloadHandler``
(the default in Scrapy's reactorless mode, opt-in under a reactor) costs less
CPU per request than Twisted's HTTP/1.1 client, which is most of a record's
cost in these spiders (measured in docs/benchmarks.md). Scrapy marks it
experimental and logs a WARNING saying so; this project runs it by default for
the API spiders and says so once at INFO instead, with the fallback:
``-s DOWNLOAD_HANDLERS='{"http": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler",
"https": "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"}'``
(Twisted's client, Scrapy's default; the test suite runs its fault matrix on
both).

One change to Scrapy's: aiohttp's connection pool is capped in total
(``CONCURRENT_REQUESTS``) but not per host. Scrapy's download slots already cap
each host (``CONCURRENT_REQUESTS_PER_DOMAIN``, and the images' own slot,
``IMAGES_CONCURRENCY``, when images come from the API's host); a per-host cap
in the pool as well would make image requests wait for the API's connections
and time out while waiting (aiohttp's timeout counts the wait for a
connection).

The dashboard spider does not use it: its requests go through
scrapy-playwright's handler (its own ``DOWNLOAD_HANDLERS``).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, ClassVar

from scrapy.core.downloader.handlers._aiohttp import AiohttpDownloadHandler

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: Scrapy's own (Twisted) client, the fallback
TWISTED_HANDLER = "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"
#: the fallback as a ``-s DOWNLOAD_HANDLERS=...`` value
TWISTED_HANDLERS = json.dumps(dict.fromkeys(("http", "https"), TWISTED_HANDLER))


class AiohttpHandler(AiohttpDownloadHandler):
    # experimental upstream: said at INFO below and in docs/throttling.md,
    # not as a WARNING on every run (a normal run logs no WARNING)
    experimental: ClassVar[bool] = False
    # made at the first request, inside the running event loop (aiohttp's
    # session needs one): Scrapy's is made with the downloader, which under
    # CrawlerProcess is before the reactor runs
    lazy = True
    _said = False

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        if not AiohttpHandler._said:
            AiohttpHandler._said = True
            logger.info(
                "HTTP client: aiohttp (Scrapy's AiohttpDownloadHandler, experimental "
                "upstream); Twisted's client: -s DOWNLOAD_HANDLERS with %s.",
                TWISTED_HANDLER,
            )

    @property
    def _pool_size_per_host(self) -> int:
        return 0  # no per-host cap in the pool (aiohttp: 0 is none); the slots cap hosts

    @_pool_size_per_host.setter
    def _pool_size_per_host(self, value: int) -> None:
        pass  # Scrapy's base sets CONCURRENT_REQUESTS_PER_DOMAIN here: see above
