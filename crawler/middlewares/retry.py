"""BackoffRetryMiddleware: retries after a wait (backoff, jitter, Retry-After) that
blocks nothing else.

Scrapy's RetryMiddleware retries at once and ignores ``Retry-After``
(scrapy#3849): against a rate-limited or struggling API every retry meets the
same answer. This middleware takes its place (``DOWNLOADER_MIDDLEWARES``) and
retries the same failures: ``RETRY_HTTP_CODES`` (429, 5xx, 408) and
``RETRY_EXCEPTIONS`` (timeouts, refused and lost connections), plus, with
``RETRY_MALFORMED_JSON``, a 200 JSON response whose body does not parse (a cut
connection or a proxy's error page). The n-th retry waits

- ``Retry-After`` when the response has one, in seconds or as an HTTP date
  (at most ``RETRY_AFTER_MAX``), else
- ``min(RETRY_BACKOFF_MAX, RETRY_BACKOFF_BASE * 2 ** (n - 1))``
  (:func:`crawler.backoff.exponential_delay`), of which the share
  ``RETRY_BACKOFF_JITTER`` is random (at 0.5: between half and all of it), so that
  requests that failed together do not come back together.

Nothing sleeps: the retry request goes back to the engine at once; when it
reaches the scheduler (``request_scheduled``) it is held back on a timer and
taken out of scheduling (``IgnoreRequest``), then crawled again when the timer
fires, while every other request goes on; ``spider_idle`` keeps the spider open
while retries wait. A request that bypasses the scheduler
(``engine.download_async``: the category pages the products spider reads
first) waits in ``process_request``, holding up nothing but itself. A retry
skips the HTTP cache (``dont_cache``): it must reach the site.

When the retries are spent the last response goes on (a 5xx then reaches the
errback as ``HttpError``, a malformed body the callback) or the last exception
reaches the errback; the spider records the failure under
:func:`crawler.failures.failure_reason`, with ``attempts`` = ``retry_times`` + 1.

Settings, as in Scrapy: ``RETRY_ENABLED``, ``RETRY_TIMES``, ``RETRY_HTTP_CODES``,
``RETRY_EXCEPTIONS``, ``RETRY_PRIORITY_ADJUST``, ``RETRY_GIVE_UP_LOG_LEVEL``.
Ours (their values and reasons: ``crawler/settings.py``):

- ``RETRY_BACKOFF_BASE``: seconds before the first retry, doubling for each
  retry after it;
- ``RETRY_BACKOFF_MAX``: the longest backoff;
- ``RETRY_BACKOFF_JITTER``: the random share of each backoff (0: none);
- ``RETRY_AFTER_MAX``: the longest wait a ``Retry-After`` header may set;
- ``RETRY_MALFORMED_JSON``: whether a 200 JSON response that does not parse is
  retried.

First contact: while no response has come from ``MARKETPLACE_URL``'s host, a
request to it that cannot connect at all (the host name does not resolve, the
connection is refused, no route, the TLS handshake fails) is not retried: the
run stops at once (``host_unreachable``) with one ERROR sentence naming the
host, the error and what to check (:func:`unreachable_sentence`), and the
request ends as :class:`crawler.stopping.HostUnreachable`, which nothing
records. Once the host has answered, the same errors are an outage: retried as
above.

Per request (``meta``): ``dont_retry``, ``max_retry_times``,
``retry_backoff_base``, ``retry_backoff_max``.

Stats: ``retry/count``, ``retry/reason_count/<reason>`` and ``retry/max_reached``
(as Scrapy's), ``retry/attempt_count/<n>`` (n-th retries),
``retry/max_reached/<reason>``, ``retry/retry_after_count`` (waits set by
Retry-After), ``retry/held_at_close`` (retries waiting when the spider closed),
``retry/lost_at_close`` (a retry whose wait ended while the engine was closing).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import (
    CannotResolveHostError,
    DontCloseSpider,
    DownloadConnectionRefusedError,
    IgnoreRequest,
    NotConfigured,
)
from scrapy.utils.asyncio import call_later
from scrapy.utils.misc import load_object
from twisted.internet import error as tx_error

from crawler import settings as defaults
from crawler.backoff import exponential_delay
from crawler.failures import failure_reason
from crawler.responses import decoded
from crawler.stopping import HostUnreachable, stop

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from scrapy.utils.asyncio import CallLaterResult

logger = logging.getLogger(__name__)


def retry_after_seconds(value: bytes | str | None, now: datetime) -> float | None:
    """Seconds to wait by a ``Retry-After`` header value (``"120"`` or an HTTP
    date); ``None`` when absent or unreadable. A date in the past gives 0."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def malformed_json(response: Response) -> bool:
    """A response that says it is JSON and whose body does not parse. The
    body is decoded once: the spider reads what was decoded here
    (:func:`crawler.responses.decoded`)."""
    content_type = response.headers.get(b"Content-Type") or b""
    if b"json" not in content_type.lower():
        return False
    try:
        decoded(response)
    except orjson.JSONDecodeError:
        return True
    return False


def _tls_error(exc: BaseException) -> str | None:
    """What failed in a TLS handshake when ``exc`` is (or wraps) one, e.g.
    ``wrong version number``; else ``None``."""
    seen: list[BaseException] = [exc]
    while seen:
        error = seen.pop()
        module = type(error).__module__
        if isinstance(error, ssl.SSLError):  # aiohttp's client: Python's ssl module
            text = str(error.args[1]) if len(error.args) > 1 else str(error)
            found = re.search(r"\]\s*(.*?)\s*\(_ssl\.c", text)
            return found.group(1) if found else (error.reason or text)
        if module.startswith("OpenSSL") or (
            "SSL" in type(error).__name__ and error.__cause__ is None
        ):  # Twisted's client: pyOpenSSL
            # OpenSSL's errors are [(library, function, reason), ...]
            reasons = [
                str(entry[-1])
                for arg in error.args
                if isinstance(arg, list)
                for entry in arg
                if isinstance(entry, tuple) and entry
            ]
            return ", ".join(r for r in reasons if r) or str(error) or type(error).__name__
        for wrapped in getattr(error, "reasons", None) or ():  # ResponseNeverReceived
            value = getattr(wrapped, "value", wrapped)
            if isinstance(value, BaseException):
                seen.append(value)
        if error.__cause__ is not None:
            seen.append(error.__cause__)
    return None


def unreachable_sentence(url: str, exc: BaseException) -> str | None:
    """The sentence for a request to ``url`` that could not connect at all
    (the host name does not resolve, the connection is refused, no route, the
    TLS handshake fails); ``None`` for any other error (a timeout, a lost
    connection: the host may be slow, not absent)."""
    parts = urlsplit(url)
    site = f"{parts.scheme}://{parts.netloc}"
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    if isinstance(exc, (CannotResolveHostError, tx_error.DNSLookupError)):
        return (
            f"Cannot reach {site}: the host name {parts.hostname} does not resolve "
            f"({detail}); check the network connection, the DNS and MARKETPLACE_URL."
        )
    # first: aiohttp's client reports a failed handshake as a refused connection
    tls = _tls_error(exc)
    if tls is not None:
        return (
            f"Cannot reach {site}: the TLS handshake failed ({tls}); check the "
            "scheme of MARKETPLACE_URL (https:// or http://) and the server's certificate."
        )
    if isinstance(exc, (DownloadConnectionRefusedError, tx_error.ConnectionRefusedError)):
        return (
            f"Cannot reach {site}: the connection was refused; check that the server "
            "is up and the port in MARKETPLACE_URL."
        )
    if isinstance(exc, tx_error.ConnectError) and not isinstance(
        exc, (tx_error.TCPTimedOutError, tx_error.TimeoutError)
    ):  # no route, an unknown host, ...; a connect timeout may be a slow host
        return f"Cannot reach {site}: {detail}; check the network connection and MARKETPLACE_URL."
    return None


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """The ``RETRY_*`` settings, read once. Scrapy's own come from Scrapy's
    defaults; the defaults of ours are those of :mod:`crawler.settings`, also
    for settings objects that lack them (unit tests)."""

    times: int
    http_codes: frozenset[int]
    exceptions: tuple[type[BaseException], ...]
    priority_adjust: int
    give_up_log_level: int | str
    backoff_base: float
    backoff_max: float
    backoff_jitter: float
    retry_after_max: float
    malformed_json: bool

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RetryConfig:
        config = cls(
            times=settings.getint("RETRY_TIMES"),
            http_codes=frozenset(int(c) for c in settings.getlist("RETRY_HTTP_CODES")),
            exceptions=tuple(load_object(e) for e in settings.getlist("RETRY_EXCEPTIONS")),
            priority_adjust=settings.getint("RETRY_PRIORITY_ADJUST"),
            give_up_log_level=settings.get("RETRY_GIVE_UP_LOG_LEVEL"),
            backoff_base=settings.getfloat("RETRY_BACKOFF_BASE", defaults.RETRY_BACKOFF_BASE),
            backoff_max=settings.getfloat("RETRY_BACKOFF_MAX", defaults.RETRY_BACKOFF_MAX),
            backoff_jitter=settings.getfloat("RETRY_BACKOFF_JITTER", defaults.RETRY_BACKOFF_JITTER),
            retry_after_max=settings.getfloat("RETRY_AFTER_MAX", defaults.RETRY_AFTER_MAX),
            malformed_json=settings.getbool("RETRY_MALFORMED_JSON", defaults.RETRY_MALFORMED_JSON),
        )
        if not 0.0 <= config.backoff_jitter <= 1.0:
            raise ValueError(
                f"RETRY_BACKOFF_JITTER must be within 0 and 1, got {config.backoff_jitter}."
            )
        if config.backoff_base < 0 or config.backoff_max < 0 or config.retry_after_max < 0:
            raise ValueError(
                "RETRY_BACKOFF_BASE, RETRY_BACKOFF_MAX and RETRY_AFTER_MAX must not be negative."
            )
        return config

    def backoff(
        self, attempt: int, rnd: float, base: float | None = None, cap: float | None = None
    ) -> float:
        """The wait before retry number ``attempt`` (1, 2, ...); ``rnd`` is a
        random number in [0, 1): 0 waits the whole backoff, 1 the part that is
        not jitter."""
        base = self.backoff_base if base is None else base
        cap = self.backoff_max if cap is None else cap
        # past 2 ** 60 times the base any cap is reached; a larger power would
        # not fit in a float (an absurd max_retry_times)
        ceiling = exponential_delay(min(attempt, 61), base, cap)
        return ceiling * (1.0 - self.backoff_jitter * rnd)


class BackoffRetryMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("RETRY_ENABLED"):
            raise NotConfigured("RETRY_ENABLED is off")
        self.crawler = crawler
        self.config = RetryConfig.from_settings(crawler.settings)
        self.random = random.Random()
        #: the host of MARKETPLACE_URL, and whether it has answered yet
        self.host = urlsplit(crawler.settings.get("MARKETPLACE_URL") or "").netloc
        self.contact = False
        #: retry requests not scheduled yet, and how long each is to wait
        self.waits: dict[Request, float] = {}
        #: retry requests held back, and their timers
        self.held: dict[Request, CallLaterResult] = {}
        crawler.signals.connect(self.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        return cls(crawler)

    # -- downloader middleware ------------------------------------------------

    async def process_request(self, request: Request) -> None:
        wait = self.waits.pop(request, None)
        if wait:  # not scheduled: engine.download_async retries it directly
            await asyncio.sleep(wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        self.contact = True  # any answer: the host is there
        if request.meta.get("dont_retry", False):
            return response
        if response.status in self.config.http_codes:
            reason = f"http_{response.status}"
        elif self.config.malformed_json and response.status == 200 and malformed_json(response):
            reason = "malformed_json"
        else:
            return response
        return self._retry(request, reason, response) or response

    def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if not self.contact and urlsplit(request.url).netloc == self.host:
            sentence = unreachable_sentence(request.url, exception)
            if sentence is not None:  # first contact failed: no retry, stop at once
                self.crawler.stats.inc_value("retry/unreachable")
                stop(self.crawler, "host_unreachable", sentence)
                raise HostUnreachable(sentence)
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.config.exceptions
        ):
            return None
        return self._retry(request, failure_reason(exception), None)

    def _retry(self, request: Request, reason: str, response: Response | None) -> Request | None:
        meta = request.meta
        stats = self.crawler.stats
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,  # type: ignore[arg-type]
            reason=reason,
            max_retry_times=meta.get("max_retry_times", self.config.times),
            priority_adjust=meta.get("priority_adjust", self.config.priority_adjust),
            logger=logger,
            give_up_log_level=self.config.give_up_log_level,
        )
        if retry is None:
            stats.inc_value(f"retry/max_reached/{reason}")
            return None
        attempt = retry.meta["retry_times"]
        stats.inc_value(f"retry/attempt_count/{attempt}")
        retry.meta["dont_cache"] = True
        wait = self.wait_before(attempt, meta, response)
        logger.debug("Retry %d of %s (%s) in %.2f s", attempt, request, reason, wait)
        if wait > 0:
            self.waits[retry] = wait
        return retry

    def wait_before(self, attempt: int, meta: dict[str, Any], response: Response | None) -> float:
        """Seconds before retry number ``attempt``: Retry-After, else backoff."""
        if response is not None:
            after = retry_after_seconds(response.headers.get(b"Retry-After"), datetime.now(UTC))
            if after is not None:
                self.crawler.stats.inc_value("retry/retry_after_count")
                return min(after, self.config.retry_after_max)
        return self.config.backoff(
            attempt,
            self.random.random(),
            base=meta.get("retry_backoff_base"),
            cap=meta.get("retry_backoff_max"),
        )

    # -- holding retries back ---------------------------------------------------

    def request_scheduled(self, request: Request) -> None:
        wait = self.waits.pop(request, None)
        if wait is None:
            return
        self.held[request] = call_later(wait, self._release, request)
        raise IgnoreRequest(f"retry held back for {wait:.2f} s")

    def _release(self, request: Request) -> None:
        self.held.pop(request, None)
        engine = self.crawler.engine
        if engine.spider is None:
            return  # no open spider: nothing to schedule into
        try:
            engine.crawl(request)
        except Exception:  # a timer callback is a boundary: log, keep the crawl going
            # e.g. a stop that closed the scheduler before spider_closed
            self.crawler.stats.inc_value("retry/lost_at_close")
            logger.warning("Could not schedule the retry of %s again", request, exc_info=True)

    def spider_idle(self) -> None:
        if self.held:
            raise DontCloseSpider

    def spider_closed(self) -> None:
        if not self.held:
            return
        logger.info(
            "%d retries were waiting when the spider closed (a JOBDIR job schedules "
            "them again when it resumes).",
            len(self.held),
        )
        self.crawler.stats.set_value("retry/held_at_close", len(self.held))
        for timer in self.held.values():
            timer.cancel()
        self.held.clear()
