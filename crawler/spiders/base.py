"""What the marketplace spiders share: the API's address and headers, JSON
decoding, and one way to record a request that failed for good."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import scrapy
from scrapy import signals as scrapy_signals
from scrapy.spidermiddlewares.httperror import HttpError

from crawler import signals
from crawler.exceptions import ExtractionError, SpiderArgumentError
from crawler.extract.api import parse_json
from crawler.failures import failure_reason

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

LISTINGS_PATH = "/api/personalish/v1/blocks/listings"
PRODUCT_PATH = "/api/v2/products/{id}"
REVIEWS_PATH = "/api/v2/reviews"


class MarketplaceSpider(scrapy.Spider):
    """Base of the API spiders. Subclasses parse their ``-a`` arguments in
    :meth:`parse_arguments`, which the ``crawl`` command also calls before the
    crawl starts, so that a bad argument is one sentence, not a traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a stable name for this run's output folder: "-a run_id=...", else the
        # Scrapyd job id (Scrapyd passes "-a _job=<jobid>"; a resumed job keeps
        # its folder), else the start time
        self.run_id: str = (
            kwargs.get("run_id")
            or kwargs.get("_job")
            or datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        )
        self.guest_token = str(uuid.uuid4())

    @classmethod
    def parse_arguments(cls, kwargs: dict[str, Any], settings: Any) -> dict[str, Any]:
        """Check the spider arguments; return them parsed. Raise
        :class:`SpiderArgumentError` with one sentence on the first problem."""
        return {}

    @classmethod
    def check_arguments(cls, kwargs: dict[str, Any], settings: Any) -> str | None:
        """The problem with these arguments in one sentence, or ``None``."""
        try:
            cls.parse_arguments(kwargs, settings)
        except SpiderArgumentError as exc:
            return str(exc)
        return None

    # -- requests ----------------------------------------------------------

    @property
    def marketplace_url(self) -> str:
        return self.settings.get("MARKETPLACE_URL").rstrip("/")

    def api_url(self, path: str, **query: Any) -> str:
        url = self.marketplace_url + path
        params = {k: v for k, v in query.items() if v is not None}
        return f"{url}?{urlencode(params)}" if params else url

    async def paced(self, requests: Iterable[scrapy.Request]) -> AsyncIterator[scrapy.Request]:
        """Yield start requests only as fast as the crawl takes them (Scrapy's
        lazy start pattern): while the downloader is full, wait until the
        scheduler has run dry. A file of 200,000 ids then stays a list of ints
        instead of 200,000 queued requests (memory flat at any size)."""
        for request in requests:
            engine = self.crawler.engine
            if engine is not None and engine.needs_backout():
                await self.crawler.signals.wait_for(scrapy_signals.scheduler_empty)
            yield request

    def api_request(
        self,
        url: str,
        callback: Callable[..., Any],
        *,
        kind: str,
        record_id: int | None = None,
        **kwargs: Any,
    ) -> scrapy.Request:
        """A request to the API with the headers the real host expects.

        ``kind`` and ``record_id`` travel in ``meta`` so that a request that
        fails for good can be recorded for a retry run."""
        meta = kwargs.pop("meta", {})
        meta.update({"kind": kind, "record_id": record_id})
        headers = {
            "Referer": self.marketplace_url + "/",
            "x-guest-token": self.guest_token,
        }
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.on_error,
            headers=headers,
            meta=meta,
            **kwargs,
        )

    # -- responses ---------------------------------------------------------

    def payload(self, response: Response) -> dict[str, Any] | None:
        """The response's JSON object, or ``None`` after recording the
        request as failed (malformed body, unexpected shape)."""
        try:
            return parse_json(response.body, f"{response.request.meta.get('kind')} {response.url}")
        except ExtractionError as exc:
            self.record_failure(response.request, exc.reason, str(exc))
            return None

    def on_error(self, failure: Failure) -> None:
        """Errback: the request failed for good (after the retry middleware).

        The reason is short and machine-readable (``http_503``, ``timeout``,
        ``body_too_large``, ``connection_lost``, ...); ``attempts`` in the
        failure record says how often it was tried."""
        request = failure.request  # type: ignore[attr-defined]
        exc = failure.value
        reason = failure_reason(exc)
        attempts = request.meta.get("retry_times", 0) + 1
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, HttpError):
            detail = f"the API answered {exc.response.status}"
        self.record_failure(request, reason, f"{detail} (attempt {attempts})")

    def record_failure(self, request: scrapy.Request, reason: str, message: str) -> None:
        """The one place where a request becomes "failed": counted under
        ``failures/<kind>/<reason>``, logged once, and sent as
        :data:`crawler.signals.record_failed` (the failures file listens)."""
        kind = request.meta.get("kind", "request")
        record_id = request.meta.get("record_id")
        logger.warning("Failed %s %s: %s (%s)", kind, record_id or request.url, reason, message)
        self.crawler.signals.send_catch_log(
            signals.record_failed,
            kind=kind,
            record_id=record_id,
            url=request.url,
            reason=reason,
            message=message,
            attempts=request.meta.get("retry_times", 0) + 1,
        )
