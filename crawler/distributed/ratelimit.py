"""RateLimitedDownloadHandler: one request rate for all the workers of a crawl,
kept in Redis, so that N workers look to the site like one polite client.

Every request that reaches the network (below the HTTP cache) takes a send
time from Redis first (one Lua script, on Redis' clock, so the workers' clocks
do not matter) and waits until then:

- the limit is the lower of ``DISTRIBUTED_RATE_LIMIT`` (requests/s for all
  workers; 0: none) and the limit learned from 429s;
- send times are spaced ``1/limit`` apart across all workers (a shared
  "next free send time"), so the site sees at most ``limit`` requests in any
  second, plus one;
- a ``429 Too Many Requests`` for a request sent after the last decrease sets
  the shared limit to ``THROTTLE_429_BACKOFF`` times the rate the site admitted
  (all workers' sends minus their 429s) over the last ``THROTTLE_429_WINDOW``
  seconds; it grows again by ``THROTTLE_429_RECOVERY`` per second, and is
  dropped once it has grown a thousandfold: the rule of
  :class:`crawler.extensions.throttle.RateLimitThrottle`, for the crawl as one
  client (that extension's per-worker 429 rule is off in distributed mode;
  AutoThrottle's latency rule stays per worker).

Stats: ``distributed/rate/waited`` (requests that waited for their send
time), ``distributed/rate/429_decreases``, ``distributed/rate/limit`` (the
shared limit after this worker's last decrease).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

from crawler.distributed.config import DistributedConfig

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function current_limit(limit, recovery)
  local rate = tonumber(redis.call('HGET', KEYS[1], 'rate') or '0')
  local current = 0
  if rate > 0 then
    local since = now - tonumber(redis.call('HGET', KEYS[1], 'decreased_at') or '0')
    local growth = (1 + recovery) ^ math.min(math.max(since, 0), 100000)
    if growth >= 1000 then
      redis.call('HDEL', KEYS[1], 'rate')
    else
      current = rate * growth
    end
  end
  if limit > 0 and (current == 0 or limit < current) then current = limit end
  return current
end
local function count(what, second)
  local key = KEYS[1] .. ':' .. what .. ':' .. second
  redis.call('INCR', key)
  redis.call('EXPIRE', key, 120)
end
local function sum(what, from, to)
  local total = 0
  for second = from, to do
    total = total + tonumber(redis.call('GET', KEYS[1] .. ':' .. what .. ':' .. second) or '0')
  end
  return total
end
"""

# KEYS: rate hash. ARGV: configured limit, recovery.
# -> {seconds to wait for the reserved send time, or -1: no limit, the send time}
_RESERVE = (
    _COMMON
    + """
redis.call('HSETNX', KEYS[1], 'started', string.format('%.6f', now))
local current = current_limit(tonumber(ARGV[1]), tonumber(ARGV[2]))
if current <= 0 then
  count('sent', math.floor(now))
  return {'-1', string.format('%.6f', now)}
end
local at = math.max(tonumber(redis.call('HGET', KEYS[1], 'next') or '0'), now)
redis.call('HSET', KEYS[1], 'next', string.format('%.6f', at + 1 / current))
return {string.format('%.6f', at - now), string.format('%.6f', at)}
"""
)

# KEYS: rate hash. ARGV: configured limit, recovery.
# -> {0 and the send time: go; or seconds to wait before asking again}
# A request whose worker stalled past its reserved time would go out together
# with later ones: the sends of the last second are counted at the moment of
# sending, and a full second waits.
_CONFIRM = (
    _COMMON
    + """
local current = current_limit(tonumber(ARGV[1]), tonumber(ARGV[2]))
local sends = KEYS[1] .. ':sends'
redis.call('ZREMRANGEBYSCORE', sends, '-inf', string.format('%.6f', now - 1))
if current > 0 and redis.call('ZCARD', sends) >= math.max(1, math.floor(current)) then
  local oldest = redis.call('ZRANGE', sends, 0, 0, 'WITHSCORES')
  return {string.format('%.6f', tonumber(oldest[2]) + 1 - now + 0.001), ''}
end
local id = redis.call('INCR', KEYS[1] .. ':seq')
redis.call('ZADD', sends, string.format('%.6f', now), id)
redis.call('EXPIRE', sends, 10)
count('sent', math.floor(now))
return {'0', string.format('%.6f', now)}
"""
)

# KEYS: rate hash. ARGV: send time, configured limit, recovery, backoff, window,
# lowest limit. -> the new limit, or '' when this 429 changes nothing
_ON_429 = (
    _COMMON
    + """
count('refused', math.floor(now))
local sent_at = tonumber(ARGV[1])
if sent_at < tonumber(redis.call('HGET', KEYS[1], 'decreased_at') or '0') then
  return ''
end
local window = tonumber(ARGV[5])
local started = tonumber(redis.call('HGET', KEYS[1], 'started') or tostring(now))
local span = math.max(1, math.min(window, now - started))
local from, to = math.floor(now - span), math.floor(now)
local sent = sum('sent', from, to)
local estimate = (sent - sum('refused', from, to)) / span
if estimate <= 0 then estimate = 0.5 * sent / span end
local current = current_limit(tonumber(ARGV[2]), tonumber(ARGV[3]))
if current > 0 and current < estimate then estimate = current end
local rate = math.max(tonumber(ARGV[6]), tonumber(ARGV[4]) * estimate)
redis.call('HSET', KEYS[1], 'rate', string.format('%.6f', rate),
           'decreased_at', string.format('%.6f', now))
return string.format('%.6f', rate)
"""
)


class RateLimitedDownloadHandler(HTTP11DownloadHandler):
    """Scrapy's HTTP/1.1 download handler that takes a shared send time first.

    A handler, not a downloader middleware: it runs after the download slot's
    own delay (AutoThrottle), right before the request goes out. A wait in a
    middleware would come before that delay, and requests piled up behind a
    slot delay would then leave in a burst when the delay shrinks."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.config = DistributedConfig.from_settings(crawler.settings)
        self.crawler = crawler
        self.min_rate = 1.0 / max(self.config.max_delay, 1.0)
        self.server = self.config.async_client()
        self._reserve = self.server.register_script(_RESERVE)
        self._confirm = self.server.register_script(_CONFIRM)
        self._on_429 = self.server.register_script(_ON_429)
        self.key = ""

    @property
    def stats(self) -> StatsCollector:
        return self.crawler.stats

    def _key(self) -> str:
        if not self.key:
            assert self.crawler.spider is not None
            self.key = self.config.keys(self.crawler.spider.name).rate
        return self.key

    async def download_request(self, request: Request) -> Response:
        sent_at = await self._send_time()
        response = await super().download_request(request)
        if response.status == 429:
            await self._refused(sent_at)
        return response

    async def _send_time(self) -> str:
        """Wait for this request's turn; return its send time (Redis' clock)."""
        args = [self.config.rate_limit, self.config.recovery]
        wait, sent_at = await self._reserve(keys=[self._key()], args=args)
        if float(wait) < 0:  # no limit
            return sent_at.decode()
        if float(wait) > 0:
            self.stats.inc_value("distributed/rate/waited")
        while True:
            if float(wait) > 0:
                await asyncio.sleep(float(wait))
            wait, sent_at = await self._confirm(keys=[self._key()], args=args)
            if sent_at:
                return sent_at.decode()

    async def _refused(self, sent_at: str) -> None:
        limit = await self._on_429(
            keys=[self._key()],
            args=[
                sent_at,
                self.config.rate_limit,
                self.config.recovery,
                self.config.backoff,
                self.config.window,
                self.min_rate,
            ],
        )
        if limit:
            self.stats.inc_value("distributed/rate/429_decreases")
            self.stats.set_value("distributed/rate/limit", round(float(limit), 2))
            logger.info(
                "The site answered 429: %.1f requests/s from now on, all workers together.",
                float(limit),
            )

    async def close(self) -> None:
        await super().close()
        await self.server.aclose()
