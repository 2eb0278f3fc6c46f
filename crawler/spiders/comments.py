"""``scrapy crawl comments``: the reviews of products, every page.

Arguments (``-a``):
- ``product_ids=ID,ID``, or
- ``ids_file=PATH``: CSV with an ``id`` column, or JSON Lines with ``id`` (a
  products feed, or a failures file), or
- neither, when ``MONGO_URI`` is set: the ids of the products collection.

Page 1 of a product gives ``last_page``; the remaining pages are requested at
once and Scrapy's concurrency settings pace them. Reviews arriving during the
crawl push older ones to later pages. When a product's pages disagree on
``paging.total`` (reviews arrived between them) and together hold fewer reviews
than the latest total, its pages are read again (at most
``COMMENTS_MAX_ROUNDS`` rounds in all) and reviews already seen are skipped,
so none is missed and none is written twice. A product whose pages were all
read is recorded with the review count read (:class:`crawler.items.ReviewsRead`).

``mode=new`` (needs ``MONGO_URI``): only the products whose ``review_count``
rose above the count their reviews were read up to
(:func:`crawler.mongo.readers.read_new_reviews`); each one's reviews are read
newest first, one page after the other, up to the first page whose reviews are
all known (or once as many new ones as the rise were found). Reviews removed
upstream are not deleted.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from pymongo.errors import PyMongoError
from scrapy.exceptions import CloseSpider

from crawler import ledger
from crawler.args import CommentsArgs
from crawler.exceptions import ExtractionError
from crawler.extract.api import extract_comments, extract_paging
from crawler.items import ReviewsRead
from crawler.mongo.config import MongoConfig
from crawler.mongo.readers import NewReviews, read_new_reviews, read_product_ids
from crawler.spiders.base import REVIEWS_PATH, MarketplaceSpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import scrapy
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _ProductReviews:
    """The reviews of one product while its pages are in flight."""

    pending: int = 0
    #: smallest and largest paging.total seen in this round of pages
    low: int = -1
    high: int = 0
    rounds: int = 1
    seen: set[int] = field(default_factory=set)
    failed: bool = False


class CommentsSpider(MarketplaceSpider):
    name = "comments"

    arguments_class = CommentsArgs
    args: CommentsArgs
    #: the products to read; from MongoDB when no argument names them
    product_ids: list[int]
    page_size: int
    max_rounds: int
    in_flight: dict[int, _ProductReviews]
    #: progress: reviews announced by the page 1 read so far, and how many
    announced: int
    first_pages_read: int
    #: mode=new: the products with new reviews, by id
    new_reviews: dict[int, NewReviews]
    state_key: str | None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.product_ids = list(spider.args.product_ids)
        spider.page_size = min(crawler.settings.getint("REVIEWS_PAGE_SIZE"), 20)
        spider.max_rounds = crawler.settings.getint("COMMENTS_MAX_ROUNDS")
        spider.in_flight = {}
        spider.announced = 0
        spider.first_pages_read = 0
        spider.new_reviews = {}
        spider.state_key = None if spider.product_ids else f"comments:{spider.args.mode}"
        return spider

    def progress_total(self) -> tuple[int | None, bool]:
        exact = self.first_pages_read >= len(self.product_ids)
        return self.announced or None, exact

    async def start(self) -> AsyncIterator[Any]:
        if self.args.mode == "new":
            await self.products_with_new_reviews()
        elif not self.product_ids:
            self.product_ids = await self.product_ids_from_mongo()
        async for request in self.paced(map(self.first_page, self.product_ids)):
            yield request

    def first_page(self, product_id: int) -> scrapy.Request:
        self.in_flight[product_id] = _ProductReviews(pending=1)
        return self.reviews_request(product_id, page=1)

    async def product_ids_from_mongo(self) -> list[int]:
        """The ids of the products collection."""
        config = MongoConfig.from_settings(self.settings)
        assert config is not None  # parse_arguments lets "no ids" through only then
        try:
            ids = await read_product_ids(config)
        except PyMongoError as exc:  # the database is a boundary
            logger.error("Cannot read product ids from MongoDB at %s: %s", config.where, exc)
            raise CloseSpider("mongo_unavailable") from exc
        if not ids:
            logger.error("No products to read reviews of: MongoDB at %s has none.", config.where)
            raise CloseSpider("no_products")
        logger.info(
            "Reading the reviews of %d products from MongoDB at %s.", len(ids), config.where
        )
        return ids

    async def products_with_new_reviews(self) -> None:
        config = MongoConfig.from_settings(self.settings)
        assert config is not None  # CommentsArgs lets mode=new through only then
        try:
            wanted, compared = await read_new_reviews(config)
        except PyMongoError as exc:  # the database is a boundary
            logger.error("Cannot read review counts from MongoDB at %s: %s", config.where, exc)
            raise CloseSpider("mongo_unavailable") from exc
        self.new_reviews = {entry.product_id: entry for entry in wanted}
        self.product_ids = list(self.new_reviews)
        if compared > len(wanted):
            self.crawler.stats.inc_value(ledger.TRACKING + "unchanged", compared - len(wanted))
        logger.info(
            "New reviews: %d of %d products in MongoDB at %s have a review count above "
            "what was read.",
            len(wanted),
            compared,
            config.where,
        )

    def reviews_request(self, product_id: int, page: int, again: bool = False) -> scrapy.Request:
        url = self.api_url(REVIEWS_PATH, product_id=product_id, page=page, limit=self.page_size)
        return self.api_request(
            url,
            self.parse_reviews,
            kind="reviews",
            record_id=product_id,
            cb_kwargs={"product_id": product_id, "page": page},
            dont_filter=again,
        )

    def parse_reviews(self, response: Response, product_id: int, page: int) -> Iterator[Any]:
        if self.args.mode == "new":
            yield from self.parse_new(response, product_id, page)
            return
        # All bookkeeping happens before the first yield: Scrapy may download
        # and parse the requests yielded here before this generator finishes.
        state = self.in_flight.get(product_id)
        if state is None:  # resumed job: the product's bookkeeping was not kept
            state = self.in_flight[product_id] = _ProductReviews(pending=1)
        output: list[Any] = []
        payload = self.payload(response)
        if payload is not None:
            try:
                comments = extract_comments(payload, product_id, response.url, datetime.now(UTC))
            except ExtractionError as exc:
                self.record_failure(response.request, exc.reason, str(exc))
                comments = []
            paging = extract_paging(payload)
            state.high = max(state.high, paging.total)
            state.low = paging.total if state.low < 0 else min(state.low, paging.total)
            if page == 1 and state.rounds == 1:
                self.first_pages_read += 1
                self.announced += paging.total
                for next_page in range(2, paging.last_page + 1):
                    state.pending += 1
                    output.append(self.reviews_request(product_id, next_page))
            for comment in comments:
                if comment.id not in state.seen:
                    state.seen.add(comment.id)
                    output.append(comment)
        state.pending -= 1
        output.extend(self._maybe_done(product_id, state))
        yield from output

    def parse_new(self, response: Response, product_id: int, page: int) -> Iterator[Any]:
        """mode=new: a page of the newest reviews; the next one while this one
        held reviews not known yet (and fewer new ones than the rise)."""
        entry = self.new_reviews.get(product_id)
        if entry is None:  # a resumed job: its bookkeeping was not kept
            entry = self.new_reviews[product_id] = NewReviews(product_id, 0, 0, set())
        self.in_flight.pop(product_id, None)
        payload = self.payload(response)
        if payload is None:
            return
        try:
            comments = extract_comments(payload, product_id, response.url, datetime.now(UTC))
        except ExtractionError as exc:
            self.record_failure(response.request, exc.reason, str(exc))
            return
        paging = extract_paging(payload)
        if page == 1:
            self.first_pages_read += 1
            self.announced += max(0, paging.total - entry.read_count)
        fresh = [comment for comment in comments if comment.id not in entry.known]
        entry.known.update(comment.id for comment in fresh)
        entry.found += len(fresh)
        rise = max(0, entry.review_count - entry.read_count)
        yield from fresh
        if fresh and page < paging.last_page and entry.found < rise:
            yield self.reviews_request(product_id, page + 1)
            return
        yield ReviewsRead(
            id=product_id,
            review_count=paging.total,
            source_url=response.url,
            scraped_at=datetime.now(UTC),
        )

    def on_error(self, failure: Failure) -> None:
        super().on_error(failure)
        request = failure.request  # type: ignore[attr-defined]
        product_id = request.cb_kwargs.get("product_id")
        state = self.in_flight.get(product_id)
        if state is not None:
            state.failed = True
            state.pending -= 1
            # a failed page is in the failures file; do not read the others again
            state.rounds = self.max_rounds
            list(self._maybe_done(product_id, state))  # yields nothing now

    def _maybe_done(self, product_id: int, state: _ProductReviews) -> Iterator[Any]:
        if state.pending > 0:
            return
        shifted = state.low != state.high and len(state.seen) < state.high
        if shifted and state.rounds < self.max_rounds:
            # reviews arrived meanwhile and pushed some past the pages read
            state.rounds += 1
            self.crawler.stats.inc_value("comments/reread_rounds")
            last_page = max(1, math.ceil(state.high / self.page_size))
            state.low, state.high = -1, 0
            for page in range(1, last_page + 1):
                state.pending += 1
                yield self.reviews_request(product_id, page, again=True)
            return
        if shifted:
            logger.warning(
                "Product %s: %d of %d reviews read after %d rounds.",
                product_id,
                len(state.seen),
                state.high,
                state.rounds,
            )
        self.in_flight.pop(product_id, None)
        if not state.failed and not shifted and self.settings.get("MONGO_URI"):
            # read to the end: mode=new reads it again once its review count rises
            # (state for MongoDB: without it, nothing would keep it)
            yield ReviewsRead(
                id=product_id,
                review_count=state.high,
                source_url=self.api_url(REVIEWS_PATH, product_id=product_id),
                scraped_at=datetime.now(UTC),
            )
