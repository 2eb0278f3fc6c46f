"""RateLimitThrottle: AutoThrottle that also slows down when the site answers 429.

AutoThrottle paces a download slot by latency only and never slows down on
``429 Too Many Requests`` (scrapy#4424): against a rate-limited API it keeps
running into the limit. This extension replaces it (``EXTENSIONS``:
``scrapy.extensions.throttle.AutoThrottle`` off, this one on) and sets each
slot's delay to the larger of two rules:

- latency (AutoThrottle's own rule, unchanged): a delay of latency /
  ``AUTOTHROTTLE_TARGET_CONCURRENCY``, so that about that many requests are in
  flight. It applies only when the target is below the slot's concurrency
  (``CONCURRENT_REQUESTS_PER_DOMAIN``): at or above it, the concurrency cap
  already keeps at most that many requests in flight and its rate,
  concurrency / latency, falls as soon as the latency grows; the delay would
  only add a timer per request and random gaps, and cost a site that answers
  fine about a third of its throughput (measured: 0.45 instead of 0.71 of the
  limit of the latency-bound benchmark). Hence an unset target is
  ``CONCURRENT_REQUESTS_PER_DOMAIN`` as the crawl has it (``-s``, a spider's
  ``custom_settings``), read when the crawl starts, not the value of
  ``crawler/settings.py``: a crawl that raises the cap gets no latency delay
  it did not ask for; a target set anywhere (``-s
  AUTOTHROTTLE_TARGET_CONCURRENCY=4``) is kept;
- 429 (a rate per slot, :class:`SlotRate`): on a 429 for a request sent after
  the slot's last decrease, the rate drops to ``THROTTLE_429_BACKOFF`` times
  the rate the site admitted (non-429 responses) over the last
  ``THROTTLE_429_WINDOW`` seconds, or over the last second when that is
  higher (the crawl was sending little before). A limiter that answers 429
  admits about its limit, so the estimate needs no setting to match the
  site's limit; 429s that answer requests sent before the decrease are the
  same event and change nothing. While no 429 comes, the rate grows by the share
  ``THROTTLE_429_RECOVERY`` per second: it probes the limit gently (the next
  429 comes after several seconds at or under the limit) and finds a limit
  that was raised. A rate that has grown a thousandfold is dropped: the slot
  is unlimited again. A rate-limited slot gets no delay jitter: even spacing
  spends the site's budget best, random gaps waste it or burst over it.

A slot has no rate until its first 429. ``AUTOTHROTTLE_START_DELAY`` applies
with the latency rule only. ``AUTOTHROTTLE_ENABLED`` switches this
extension on and off as it does AutoThrottle; ``THROTTLE_429_ENABLED = False``
leaves AutoThrottle's latency rule alone.

Settings: ``AUTOTHROTTLE_*`` (Scrapy's; ``AUTOTHROTTLE_TARGET_CONCURRENCY`` as
above) and ours (their values and reasons: ``crawler/settings.py``):

- ``THROTTLE_429_ENABLED``: whether the 429 rule runs;
- ``THROTTLE_429_BACKOFF``: the share of the admitted rate a slot drops to on
  a 429;
- ``THROTTLE_429_WINDOW``: the seconds of responses the admitted rate is
  measured over;
- ``THROTTLE_429_RECOVERY``: the share by which the rate grows per second
  without a 429.

Per request (``meta``): ``autothrottle_dont_adjust_delay`` (as AutoThrottle).

Stats: ``throttle/429_responses``, ``throttle/429_decreases``,
``throttle/rate/<slot>`` (requests/s set by the last decrease).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scrapy.extensions.throttle import AutoThrottle
from scrapy.settings import SETTINGS_PRIORITIES

from crawler import settings as defaults

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: a rate grown this many times over its last decrease no longer limits
_UNLIMITED_GROWTH = 1000.0


def target_concurrency(settings: BaseSettings) -> float:
    """``AUTOTHROTTLE_TARGET_CONCURRENCY`` where it is set (the project, a spider,
    ``-s``), else ``CONCURRENT_REQUESTS_PER_DOMAIN``, read now (at or above the
    slot's concurrency the latency rule leaves the pacing to the cap)."""
    priority = settings.getpriority("AUTOTHROTTLE_TARGET_CONCURRENCY")
    if priority is not None and priority > SETTINGS_PRIORITIES["default"]:
        return settings.getfloat("AUTOTHROTTLE_TARGET_CONCURRENCY")
    return float(settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """The throttle's settings, read once. Scrapy's own come from Scrapy's
    defaults; the defaults of ours are those of :mod:`crawler.settings`, also
    for settings objects that lack them (unit tests)."""

    limit_429: bool
    backoff: float
    window: float
    recovery: float
    target_concurrency: float
    min_delay: float
    max_delay: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ThrottleConfig:
        config = cls(
            limit_429=settings.getbool("THROTTLE_429_ENABLED", defaults.THROTTLE_429_ENABLED),
            backoff=settings.getfloat("THROTTLE_429_BACKOFF", defaults.THROTTLE_429_BACKOFF),
            window=settings.getfloat("THROTTLE_429_WINDOW", defaults.THROTTLE_429_WINDOW),
            recovery=settings.getfloat("THROTTLE_429_RECOVERY", defaults.THROTTLE_429_RECOVERY),
            target_concurrency=target_concurrency(settings),
            min_delay=settings.getfloat("DOWNLOAD_DELAY"),
            max_delay=settings.getfloat("AUTOTHROTTLE_MAX_DELAY"),
        )
        if not 0.0 < config.backoff < 1.0:
            raise ValueError(f"THROTTLE_429_BACKOFF must be between 0 and 1, got {config.backoff}.")
        if config.window <= 0 or config.recovery <= 0:
            raise ValueError(
                f"THROTTLE_429_WINDOW and THROTTLE_429_RECOVERY must be positive, got "
                f"{config.window} and {config.recovery}."
            )
        return config

    def slot_rate(self) -> SlotRate:
        # the slowest rate is one request per AUTOTHROTTLE_MAX_DELAY
        return SlotRate(
            self.backoff, self.window, self.recovery, min_rate=1.0 / max(self.max_delay, 1.0)
        )

    def latency_applies(self, slot_concurrency: int) -> bool:
        """Whether AutoThrottle's latency delay can do anything the slot's
        concurrency cap does not already do."""
        return self.target_concurrency < slot_concurrency


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
            # the busier of the window and its last second: a client that sent
            # few requests (one listing page after another) and then many
            # learns the site's rate from the many, not from the average
            last_second = sum(1 for t in self.admitted if t > now - 1.0)
            estimate = max(len(self.admitted) / span, float(last_second))
        else:  # nothing got through lately: halve what was sent
            estimate = 0.5 * len(self.responses) / span
        current = self.current(now)
        if current:
            estimate = min(estimate, current)
        self.rate = max(self.min_rate, self.backoff * estimate)
        self.decreased_at = now
        return True


@dataclass(slots=True)
class _SlotState:
    rate: SlotRate
    #: AutoThrottle's own (latency) delay, apart from the 429 rate
    latency_delay: float
    #: the slot's jitter when it is not rate-limited
    jitter: float


class RateLimitThrottle(AutoThrottle):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)  # NotConfigured unless AUTOTHROTTLE_ENABLED
        self.config = ThrottleConfig.from_settings(crawler.settings)
        # AutoThrottle read the setting alone (Scrapy's 1.0 when unset); its
        # latency rule (_adjust_delay) divides by this
        self.target_concurrency = self.config.target_concurrency
        # AutoThrottle reads them again when the spider opens; the same values
        self.mindelay, self.maxdelay = self.config.min_delay, self.config.max_delay
        self.states: dict[str, _SlotState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RateLimitThrottle:
        return cls(crawler)

    def _start_delay(self) -> float:
        # AUTOTHROTTLE_START_DELAY stands in for the latency rule until a slot's
        # first response; without the rule it would only hold back the first
        # requests (a pending timer that outlives the first responses)
        concurrency = self.crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        if not self.config.latency_applies(concurrency):
            return self.mindelay
        return super()._start_delay()

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        key, slot = self._get_slot(request, spider)
        latency = request.meta.get("download_latency")
        if (
            key is None
            or slot is None
            or latency is None
            or request.meta.get("autothrottle_dont_adjust_delay", False) is True
        ):
            return
        self.adjust(key, slot, latency, response, time.monotonic())

    def adjust(self, key: str, slot: Slot, latency: float, response: Response, now: float) -> None:
        """Set the delay of ``slot`` after ``response``, which took ``latency`` s."""
        config = self.config
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = _SlotState(config.slot_rate(), slot.delay, slot.jitter)
        if response.status == 429:
            self.crawler.stats.inc_value("throttle/429_responses")
            if config.limit_429 and state.rate.observe(now, now - latency, 429):
                self._decreased(key, state.rate.rate)
        elif config.limit_429:
            state.rate.observe(now, now - latency, response.status)
        if config.latency_applies(slot.concurrency):
            slot.delay = state.latency_delay
            super()._adjust_delay(slot, latency, response)
            state.latency_delay = slot.delay
        else:
            state.latency_delay = config.min_delay
        interval = state.rate.interval(now)
        if interval > state.latency_delay:
            slot.delay, slot.jitter = interval, 0.0
        else:
            slot.delay, slot.jitter = state.latency_delay, state.jitter
        if self.debug:
            logger.info(
                "slot %s: delay %.0f ms (latency rule %.0f ms, 429 rate %.1f/s), "
                "latency %.0f ms, status %d",
                key,
                1000 * slot.delay,
                1000 * state.latency_delay,
                state.rate.current(now),
                1000 * latency,
                response.status,
            )

    def _decreased(self, key: str, rate: float) -> None:
        stats = self.crawler.stats
        stats.inc_value("throttle/429_decreases")
        stats.set_value(f"throttle/rate/{key}", round(rate, 2))
        logger.info(
            "%s answered 429: %.1f requests/s from now on (%.0f%% of the rate it admitted).",
            key,
            rate,
            100 * self.config.backoff,
        )
