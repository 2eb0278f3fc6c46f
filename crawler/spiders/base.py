"""What the marketplace spiders share: the API's address and headers, JSON
decoding, and one way to record a request that failed for good."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlencode

import scrapy
from scrapy import signals as scrapy_signals
from scrapy.spidermiddlewares.httperror import HttpError

from crawler.args import check_names
from crawler.exceptions import ExtractionError, SpiderArgumentError
from crawler.extract.api import json_object
from crawler.failures import failure_reason, record_failure
from crawler.responses import decoded_json
from crawler.run import resolve_run_id
from crawler.stopping import HostUnreachable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

#: the spider keyword under which the crawl command hands over the arguments it
#: parsed already (so that an ids file is read once)
PARSED_ARGUMENTS = "_parsed_arguments"

LISTINGS_PATH = "/api/personalish/v1/blocks/listings"
PRODUCT_PATH = "/api/v2/products/{id}"
REVIEWS_PATH = "/api/v2/reviews"


def what_categories_held(held: dict[int, str]) -> str:
    """``{1789: "lists no brands", 1846: "lists no brands"}`` as "categories
    1789 and 1846 list no brands" (one clause per distinct account)."""
    groups: dict[str, list[int]] = {}
    for category_id, account in held.items():
        groups.setdefault(account, []).append(category_id)
    clauses = []
    for account, ids in groups.items():
        if len(ids) == 1:
            clauses.append(f"category {ids[0]} {account}")
        else:
            names = ", ".join(map(str, ids[:-1])) + f" and {ids[-1]}"
            plural = account.replace("lists ", "list ", 1).replace("answers ", "answer ", 1)
            clauses.append(f"categories {names} {plural}")
    return "; ".join(clauses)


class MarketplaceSpider(scrapy.Spider):
    """Base of the API spiders. Each names its ``-a`` arguments' class in
    ``arguments_class`` (a frozen dataclass with ``from_kwargs(kwargs,
    settings)``, see :mod:`crawler.args`); the ``crawl`` command parses them
    before the crawl starts, so that a bad argument is one sentence, not a
    traceback, and hands them over; the spider gets them as ``self.args``."""

    arguments_class: ClassVar[Any] = None
    #: the parsed ``-a`` arguments (an instance of ``arguments_class``)
    args: Any
    #: the name of this run's output folder (:func:`crawler.run.resolve_run_id`)
    run_id: str
    guest_token: str

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        parsed = kwargs.pop(PARSED_ARGUMENTS, None)
        if parsed is None:
            parsed = cls.parse_arguments(kwargs, crawler.settings)
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.args = parsed
        spider.run_id = resolve_run_id(crawler.settings, spider.name, kwargs)
        spider.guest_token = str(uuid.uuid4())
        return spider

    @classmethod
    def parse_arguments(cls, kwargs: dict[str, Any], settings: Any) -> Any:
        """The spider arguments, checked and parsed. Raises
        :class:`SpiderArgumentError` with one sentence on the first problem."""
        if cls.arguments_class is None:  # a spider that takes no argument
            check_names(cls.name, kwargs, ())
            return None
        return cls.arguments_class.from_kwargs(kwargs, settings)

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

    def brand_filter_request(
        self, category_id: int, callback: Callable[..., Any]
    ) -> scrapy.Request:
        """Page 1 of a category's listing with its brand filter
        (``aggregations=2``): the brands of the category. Kind ``listing``, as
        every listing page."""
        url = self.api_url(
            LISTINGS_PATH,
            limit=self.settings.getint("LISTING_PAGE_SIZE"),
            category=category_id,
            page=1,
            aggregations=2,
        )
        return self.api_request(
            url,
            callback,
            kind="listing",
            record_id=category_id,
            cb_kwargs={"category_id": category_id},
        )

    # -- the report --------------------------------------------------------

    def nothing_found(self) -> str | None:
        """What this run found, for a run that stored nothing (the run report
        says it in its verdict); ``None``: the report's counts say enough."""
        return None

    # -- responses ---------------------------------------------------------

    def payload(self, response: Response) -> dict[str, Any] | None:
        """The response's JSON object, or ``None`` after recording the
        request as failed (malformed body, unexpected shape)."""
        what = f"{response.meta.get('kind')} {response.url}"
        try:
            return json_object(decoded_json(response, what), what)
        except ExtractionError as exc:
            self.record_failure(response.request, exc.reason, str(exc))
            return None

    def on_error(self, failure: Failure) -> None:
        """Errback: the request failed for good (after the retry middleware).

        The reason is short and machine-readable (``http_503``, ``timeout``,
        ``body_too_large``, ``connection_lost``, ...); ``attempts`` in the
        failure record says how often it was tried."""
        request = failure.request  # type: ignore[attr-defined]
        exc: BaseException = failure.value or Exception("unknown failure")
        if isinstance(exc, HostUnreachable):
            return  # the host was never reached: the run stops, with one sentence
        reason = failure_reason(exc)
        attempts = request.meta.get("retry_times", 0) + 1
        detail = str(exc) or type(exc).__name__
        if isinstance(exc, HttpError):
            detail = f"the API answered {exc.response.status}"
        self.record_failure(request, reason, f"{detail} (attempt {attempts})")

    def record_failure(self, request: scrapy.Request | None, reason: str, message: str) -> None:
        """The one place where a request becomes "failed": counted under
        ``failures/<kind>/<reason>``, logged once, and listed in the failures
        file (:func:`crawler.failures.record_failure`)."""
        meta = request.meta if request is not None else {}
        record_failure(
            self.crawler,
            kind=meta.get("kind", "request"),
            record_id=meta.get("record_id"),
            url=request.url if request is not None else None,
            reason=reason,
            message=message,
            attempts=meta.get("retry_times", 0) + 1,
        )
