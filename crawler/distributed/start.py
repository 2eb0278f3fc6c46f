"""DistributedStartMiddleware: one worker seeds the crawl through the spider's
``async def start()``; the others wait for it, taking requests meanwhile.

scrapy-redis 0.9.1 seeds only through its ``RedisSpider`` reading start URLs
from a Redis list when the spider is idle, and has no ``async def start`` (Scrapy
2.13+). This spider middleware wraps the spider's own ``start()`` instead
(``process_start``), so the spiders stay as they are:

- the first worker to claim the crawl's seed key (``<prefix>:seed``: ``SET NX``
  with its worker id) runs ``start()``; its requests go to the shared queue
  through the scheduler; when ``start()`` is exhausted the key says ``done``;
- the other workers' ``start()`` yields nothing; it waits until the seed is
  ``done`` (so that an idle worker does not take the crawl for finished before
  it began), and takes the seeding over when the seeding worker's heartbeat
  expired (it died): ``start()`` runs again, the requests queued already are
  dropped by the shared duplicate filter;
- a worker joining a crawl seeded already starts taking requests at once.

Stats: ``distributed/seeded`` (1 on the worker that seeded).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from crawler.distributed.config import DistributedConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

DONE = "done"

# KEYS: seed, the holder's heartbeat. ARGV: expected holder, new holder.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class DistributedStartMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.config = DistributedConfig.from_settings(crawler.settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DistributedStartMiddleware:
        return cls(crawler)

    async def process_start(self, start: AsyncIterator[Any]) -> AsyncIterator[Any]:
        spider = self.crawler.spider
        assert spider is not None
        keys = self.config.keys(spider.name)
        me = self.config.worker_id
        server = self.config.async_client()
        take_over = server.register_script(_TAKE_OVER)
        try:
            while True:
                if await server.set(keys.seed, me, nx=True):
                    break
                value = await server.get(keys.seed) or b""
                holder = value.decode() if isinstance(value, bytes) else value
                if holder == DONE:
                    logger.info("Crawl %s is seeded: taking requests from the queue.", keys.prefix)
                    return
                if holder and await take_over(
                    keys=[keys.seed, keys.alive(holder)], args=[holder, me]
                ):
                    logger.warning(
                        "Worker %s seeding crawl %s is gone: seeding again.", holder, keys.prefix
                    )
                    break
                await asyncio.sleep(self.config.poll_interval)
            logger.info("Worker %s seeds crawl %s.", me, keys.prefix)
            async for item_or_request in start:
                yield item_or_request
            await server.set(keys.seed, DONE)
            self.crawler.stats.set_value("distributed/seeded", 1)
        finally:
            await server.aclose()
