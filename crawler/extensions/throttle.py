"""RateLimitThrottle: AutoThrottle that also slows down when the site answers 429.

AutoThrottle paces a download slot by latency only and never slows down on
``429 Too Many Requests`` (scrapy#4424): against a rate-limited API it keeps
running into the limit. This extension replaces it (``EXTENSIONS``:
``scrapy.extensions.throttle.AutoThrottle`` off, this one on), keeps its
latency rule for each slot's delay, and adds a rate per slot:

- on a 429 for a request sent after the slot's last decrease, the rate drops
  to ``THROTTLE_429_BACKOFF`` times the rate the site admitted (non-429
  responses) over the last ``THROTTLE_429_WINDOW`` seconds. A limiter that
  answers 429 admits about its limit, so the estimate needs no setting to
  match the site's limit; 429s that answer requests sent before the decrease
  are the same event and change nothing;
- while no 429 comes, the rate grows by the share ``THROTTLE_429_RECOVERY``
  per second: it probes the limit gently (the next 429 comes after several
  seconds at or under the limit) and finds a limit that was raised. A rate
  that has grown a thousandfold is dropped: the slot is unlimited again;
- the slot's delay is the larger of AutoThrottle's (latency) and 1/rate. A
  rate-limited slot gets no delay jitter: even spacing spends the site's
  budget best, random gaps waste it or burst over it.

A slot's first rate comes from its first 429: until then only AutoThrottle
paces it. ``AUTOTHROTTLE_ENABLED`` switches this extension as it switches
AutoThrottle; ``THROTTLE_429_ENABLED = False`` leaves AutoThrottle alone.

Settings: ``AUTOTHROTTLE_*`` (Scrapy's), ``THROTTLE_429_ENABLED`` (True),
``THROTTLE_429_BACKOFF`` (0.9), ``THROTTLE_429_WINDOW`` (2 s),
``THROTTLE_429_RECOVERY`` (0.02 per second).

Stats: ``throttle/429_decreases``, ``throttle/rate/<slot>`` (requests/s set by
the last decrease).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scrapy.extensions.throttle import AutoThrottle

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

#: a rate grown this many times over its last decrease no longer limits
_UNLIMITED_GROWTH = 1000.0


@dataclass(slots=True)
class SlotRate:
    """The 429 rule for one slot, on an injected clock (seconds)."""

    backoff: float
    window: float
    recovery: float
    min_rate: float
    #: requests/s at the last decrease; 0: not limited
    rate: float = 0.0
    decreased_at: float = -math.inf
    first_seen: float | None = None
    #: arrival times of the responses of the last ``window`` seconds
    responses: deque[float] = field(default_factory=deque)
    admitted: deque[float] = field(default_factory=deque)

    def current(self, now: float) -> float:
        """Requests/s allowed now; 0 when not limited."""
        if not self.rate:
            return 0.0
        growth = (1.0 + self.recovery) ** min(now - self.decreased_at, 1e5)
        if growth >= _UNLIMITED_GROWTH:
            self.rate = 0.0
            return 0.0
        return self.rate * growth

    def interval(self, now: float) -> float:
        """Seconds between requests; 0 when not limited."""
        current = self.current(now)
        return 1.0 / current if current else 0.0

    def observe(self, now: float, sent_at: float, status: int) -> bool:
        """Count a response; return whether it lowered the rate."""
        if self.first_seen is None:
            self.first_seen = sent_at
        for times in (self.responses, self.admitted):
            while times and times[0] <= now - self.window:
                times.popleft()
        self.responses.append(now)
        if status != 429:
            self.admitted.append(now)
            return False
        if sent_at < self.decreased_at:
            return False
        # at least 1 s: a burst the site allows at first is not its rate
        span = max(1.0, min(self.window, now - self.first_seen))
        if self.admitted:
            estimate = len(self.admitted) / span
        else:  # nothing got through lately: halve what was sent
            estimate = 0.5 * len(self.responses) / span
        current = self.current(now)
        if current:
            estimate = min(estimate, current)
        self.rate = max(self.min_rate, self.backoff * estimate)
        self.decreased_at = now
        return True


class RateLimitThrottle(AutoThrottle):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.limit_429 = settings.getbool("THROTTLE_429_ENABLED", True)
        self.backoff = settings.getfloat("THROTTLE_429_BACKOFF", 0.9)
        self.window = settings.getfloat("THROTTLE_429_WINDOW", 2.0)
        self.recovery = settings.getfloat("THROTTLE_429_RECOVERY", 0.02)
        if not 0.0 < self.backoff < 1.0:
            raise ValueError(f"THROTTLE_429_BACKOFF must be between 0 and 1, got {self.backoff}.")
        if self.window <= 0 or self.recovery <= 0:
            raise ValueError("THROTTLE_429_WINDOW and THROTTLE_429_RECOVERY must be positive.")
        self.max_delay = settings.getfloat("AUTOTHROTTLE_MAX_DELAY")
        self.rates: dict[str, SlotRate] = {}
        #: AutoThrottle's own (latency) delay per slot, apart from the 429 floor
        self.latency_delays: dict[str, float] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RateLimitThrottle:
        return cls(crawler)

    def _adjust_delay(self, slot: Slot, latency: float, response: Response) -> None:
        slots = self.crawler.engine.downloader.slots
        key = next((k for k, s in slots.items() if s is slot), "")
        rate = self.rates.get(key)
        if rate is None:
            rate = self.rates[key] = SlotRate(
                self.backoff, self.window, self.recovery, min_rate=1.0 / max(self.max_delay, 1.0)
            )
        now = time.monotonic()
        if self.limit_429 and rate.observe(now, now - latency, response.status):
            stats = self.crawler.stats
            stats.inc_value("throttle/429_decreases")
            stats.set_value(f"throttle/rate/{key}", round(rate.rate, 2))
            logger.info(
                "%s answered 429: %.1f requests/s from now on (%.0f%% of the rate it admitted).",
                key, rate.rate, 100 * self.backoff,
            )
        # AutoThrottle's latency rule works on its own delay, not on the floor
        slot.delay = self.latency_delays.get(key, slot.delay)
        super()._adjust_delay(slot, latency, response)
        self.latency_delays[key] = slot.delay
        interval = rate.interval(now)
        if interval > slot.delay:
            slot.delay = interval
            slot.jitter = 0.0
