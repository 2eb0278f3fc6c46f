"""``scrapy crawl products``: categories → brands → listing pages → product details.

Arguments (``-a``):
- ``categories=ID,ID``: categories to walk (default: the ``CATEGORIES`` setting);
- ``brands=ID,ID``: only these brands (default: every brand of the categories);
  a brand that none of the categories lists stops the run before any listing
  request;
- ``ids_file=PATH``: skip the listings and fetch these product ids (CSV with an
  ``id`` column, or JSON Lines with ``id``: a products feed or a failures file);
- ``mode=track`` (needs ``MONGO_URI``): listing first. Every listing page is
  read and its entries compared with the products collection (read once at
  start, :func:`crawler.mongo.readers.read_known_products`); only the details
  of products that are new, whose listing fields changed, that had been
  withdrawn or whose detail is older than ``refresh_days`` (default
  ``TRACK_REFRESH_DAYS``) are fetched; every listed product is recorded as seen
  (:class:`crawler.items.ProductSeen`). See docs/tracking.md.

A walk of every listing page of the categories (no ``brands``, no failed
listing; in the full mode no failed record at all) offers its categories to
the MongoDB pipeline (:meth:`ProductsSpider.complete_walk`), which marks the
products of those categories that the run did not see as withdrawn.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from pymongo.errors import PyMongoError
from scrapy import signals as scrapy_signals
from scrapy.exceptions import CloseSpider

from crawler import ledger
from crawler.args import ProductsArgs
from crawler.exceptions import ExtractionError
from crawler.extract.api import (
    LISTING_FIELDS,
    extract_brands,
    extract_listing_entries,
    extract_listing_ids,
    extract_paging,
    extract_product,
)
from crawler.failures import failure_reason
from crawler.items import ProductSeen
from crawler.middlewares.redirect import REDIRECTED_FROM
from crawler.mongo.config import MongoConfig
from crawler.mongo.readers import Known, read_known_products
from crawler.spiders.base import (
    LISTINGS_PATH,
    PRODUCT_PATH,
    MarketplaceSpider,
    what_categories_held,
)
from crawler.stopping import HostUnreachable, stopping

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import scrapy
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


class ProductsSpider(MarketplaceSpider):
    name = "products"

    arguments_class = ProductsArgs
    args: ProductsArgs
    page_size: int
    #: progress: distinct ids seen in listings, listing pages still to read
    listed: set[int]
    listings_pending: int
    #: what each category's brand filter held: its brands, or why it was not read
    held: dict[int, list[int] | str]
    #: mode=track: the products collection's state, the ids decided in this run
    known: dict[int, Known]
    decided: set[int]
    #: the crawl_state key of a listing walk (the MongoDB pipeline keeps it)
    state_key: str | None
    #: the crawl ran dry (spider_idle): every request scheduled was answered,
    #: also those a resumed JOBDIR job took over
    drained: bool
    refreshes_details: bool

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.page_size = crawler.settings.getint("LISTING_PAGE_SIZE")
        spider.listed = set()
        spider.listings_pending = 0
        spider.held = {}
        spider.known = {}
        spider.decided = set()
        spider.drained = False
        #: a track run's details are its rolling refresh: MongoDB keeps their time
        spider.refreshes_details = spider.args.mode == "track"
        crawler.signals.connect(spider.on_idle, signal=scrapy_signals.spider_idle)
        parsed = spider.args
        # a worker of a distributed crawl sees a part of the walk only: no
        # crawl_state, no delisting (a worker done early would mark what the
        # others have yet to see)
        spider.state_key = (
            None
            if parsed.ids or parsed.brands or crawler.settings.getbool("DISTRIBUTED")
            else f"products:{parsed.mode}:{','.join(map(str, sorted(parsed.categories)))}"
        )
        return spider

    def progress_total(self) -> tuple[int | None, bool]:
        if self.args.ids:
            return len(self.args.ids), True
        return len(self.listed) or None, self.listings_pending == 0

    async def start(self) -> AsyncIterator[Any]:
        if self.args.ids:
            async for request in self.paced(map(self.product_request, self.args.ids)):
                yield request
            return
        if self.args.mode == "track":
            await self.read_known()
        pairs = await self.discover_brands()
        self.listings_pending += len(pairs)
        for category_id, brand_id in pairs:
            yield self.listing_request(category_id, brand_id, page=1)

    async def read_known(self) -> None:
        """The products collection's state, read once."""
        config = MongoConfig.from_settings(self.settings)
        assert config is not None  # ProductsArgs lets mode=track through only then
        try:
            self.known = await read_known_products(config, LISTING_FIELDS)
        except PyMongoError as exc:  # the database is a boundary
            logger.error("Cannot read the products of MongoDB at %s: %s", config.where, exc)
            raise CloseSpider("mongo_unavailable") from exc
        logger.info(
            "Tracking: %d products known in MongoDB at %s; details older than %d days are "
            "read again.",
            len(self.known),
            config.where,
            self.args.refresh_days,
        )

    def on_idle(self) -> None:
        self.drained = True

    def complete_walk(self) -> list[int] | None:
        """The categories whose every listing page this run read, for the
        MongoDB pipeline to mark what it did not see as withdrawn; None when
        the walk is partial (brands, an ids file, a failed listing, listing
        pages not read; in the full mode any failed record, since a product
        whose detail failed was not seen)."""
        if self.state_key is None or not self.held or not self.drained:
            return None
        if any(isinstance(held, str) for held in self.held.values()):
            return None
        stats = self.crawler.stats.get_stats()
        if any(key.startswith(ledger.FAILED + "listing/") for key in stats):
            return None
        if self.args.mode != "track" and ledger.troubles(stats):
            return None
        return list(self.args.categories)

    # -- brands of the categories -------------------------------------------

    async def discover_brands(self) -> list[tuple[int, int]]:
        """(category, brand) pairs to list, from the categories' brand filters.

        Fetched through the engine, before the listings, so that an unknown
        brand stops the run before any listing request. A brand is called
        unknown only when every category page was read: a page that failed
        says nothing about its brands (it is in the failures file)."""
        results = await asyncio.gather(
            *(self.category_brands(category_id) for category_id in self.args.categories)
        )
        if "unreachable" in self.held.values():
            return []  # the host cannot be reached: the run is stopping
        known = {brand for brands in results for brand in brands}
        wanted = self.args.brands or sorted(known)
        all_read = all(not isinstance(held, str) for held in self.held.values())
        unknown = [brand for brand in self.args.brands if brand not in known]
        if unknown and all_read:
            categories = self.args.categories
            raise stopping(
                self.crawler,
                "unknown_brand",
                f"brands: {', '.join(map(str, unknown))} "
                f"{'is not a brand' if len(unknown) == 1 else 'are not brands'} of "
                f"{'category' if len(categories) == 1 else 'categories'} "
                f"{', '.join(map(str, categories))} (scrapy crawl brands lists theirs).",
            )
        wanted_set = set(wanted)
        return [
            (category_id, brand)
            for category_id, brands in zip(self.args.categories, results, strict=True)
            for brand in brands
            if brand in wanted_set
        ]

    async def category_brands(self, category_id: int) -> list[int]:
        """The brands of a category's brand filter; what it held is kept in
        ``held`` (its brands, or why it was not read)."""
        request = self.brand_filter_request(category_id, self.parse_listing)
        try:
            response = await self.crawler.engine.download_async(request)
        except HostUnreachable:
            self.held[category_id] = "unreachable"
            return []
        except Exception as exc:  # the download failed for good: a boundary
            reason = failure_reason(exc)
            self.record_failure(request, reason, str(exc) or repr(exc))
            self.held[category_id] = f"could not be read ({reason})"
            return []
        if response.status != 200:
            # the response's request is the last retry: its retry_times count
            self.record_failure(
                response.request or request,
                f"http_{response.status}",
                f"the API answered {response.status} (category page)",
            )
            self.held[category_id] = f"could not be read (the API answered {response.status})"
            return []
        payload = self.payload(response)
        if payload is None:
            self.held[category_id] = "could not be read (its body is not the API's)"
            return []
        now = datetime.now(UTC)
        brands = [b.id for b in extract_brands(payload, category_id, response.url, now)]
        self.held[category_id] = brands
        return brands

    def nothing_found(self) -> str | None:
        if self.args.ids:
            return f"none of the {len(self.args.ids):,} ids asked for gave a valid product"
        if not self.held or "unreachable" in self.held.values():
            return None
        accounts: dict[int, str] = {}
        for category_id, held in self.held.items():
            if isinstance(held, str):
                accounts[category_id] = held
            elif not held:
                accounts[category_id] = "lists no brands"
            elif self.args.brands and not set(held) & set(self.args.brands):
                accounts[category_id] = "lists none of the brands asked for"
            else:
                accounts[category_id] = f"lists {len(held):,} brands"
        what = what_categories_held(accounts)
        if self.listed:
            return f"{what}; their listings name {len(self.listed):,} products, none of them valid"
        if all(not isinstance(held, str) and held for held in self.held.values()):
            return f"{what}, whose listings hold no products"
        return what

    # -- listings -----------------------------------------------------------

    def listing_request(self, category_id: int, brand_id: int | None, page: int) -> scrapy.Request:
        url = self.api_url(
            LISTINGS_PATH,
            limit=self.page_size,
            category=category_id,
            page=page,
            brand=brand_id,
        )
        return self.api_request(
            url,
            self.parse_listing,
            kind="listing",
            record_id=category_id,
            cb_kwargs={"category_id": category_id, "brand_id": brand_id, "page": page},
        )

    def parse_listing(
        self, response: Response, category_id: int, brand_id: int | None, page: int
    ) -> Iterator[Any]:
        self.listings_pending -= 1
        payload = self.payload(response)
        if payload is None:
            return
        try:
            if self.args.mode == "track":
                entries = extract_listing_entries(payload, f"listing {response.url}")
                ids = [ident for ident, _ in entries]
            else:
                ids = extract_listing_ids(payload, f"listing {response.url}")
        except ExtractionError as exc:
            self.record_failure(response.request, exc.reason, str(exc))
            return
        self.crawler.stats.inc_value(ledger.TRACKING + "listing_pages")
        self.listed.update(ids)
        if page == 1:
            paging = extract_paging(payload)
            self.listings_pending += max(paging.last_page - 1, 0)
            for next_page in range(2, paging.last_page + 1):
                yield self.listing_request(category_id, brand_id, next_page)
        if self.args.mode == "track":
            yield from self.track(response.url, entries)
            return
        for product_id in ids:
            yield self.product_request(product_id)

    def track(self, url: str, entries: list[tuple[int, tuple[Any, ...]]]) -> Iterator[Any]:
        """Seen, and the detail when the listing says the stored one is behind."""
        now = datetime.now(UTC)
        oldest = now - timedelta(days=self.args.refresh_days)
        stats = self.crawler.stats
        for product_id, values in entries:
            if product_id in self.decided:  # listed in another category too
                continue
            self.decided.add(product_id)
            known = self.known.get(product_id)
            if known is None:
                why = "new"
            else:
                # seen, whatever becomes of its detail: a detail that fails
                # never makes a listed product look withdrawn
                yield ProductSeen(id=product_id, source_url=url, scraped_at=now)
                if known.delisted:
                    why = "relisted"
                elif known.listing != values:
                    why = "changed"
                elif known.detail_at is None or known.detail_at < oldest:
                    why = "refresh"
                else:
                    continue
            stats.inc_value(f"{ledger.TRACKING}details/{why}")
            yield self.product_request(product_id)

    def on_error(self, failure: Failure) -> None:
        super().on_error(failure)
        if failure.request.meta.get("kind") == "listing":  # type: ignore[attr-defined]
            self.listings_pending -= 1

    # -- product detail -----------------------------------------------------

    def product_request(self, product_id: int) -> scrapy.Request:
        # one URL per id, so that Scrapy's duplicate filter fetches each once; a
        # redirect of it is followed past the filter (ApiRedirectMiddleware)
        return self.api_request(
            self.api_url(PRODUCT_PATH.format(id=product_id)),
            self.parse_product,
            kind="product",
            record_id=product_id,
            meta={"handle_httpstatus_list": [404]},
        )

    def parse_product(self, response: Response) -> Iterator[Any]:
        if response.status == 404:
            self.record_failure(response.request, "not_found", "the product answers 404")
            return
        payload = self.payload(response)
        if payload is None:
            return
        try:
            product = extract_product(payload, response.url, datetime.now(UTC))
        except ExtractionError as exc:
            self.record_failure(response.request, exc.reason, str(exc))
            return
        redirected_from = response.meta.get(REDIRECTED_FROM)
        if redirected_from is not None:
            asked = response.meta.get("record_id")
            if asked is not None and product.id != asked:
                # another product's detail: not this record (that product is
                # stored by its own request, if the crawl asks for it)
                request = response.request
                self.record_failure(
                    request.replace(url=redirected_from) if request is not None else None,
                    "redirected",
                    f"the API redirected it to {response.url}, the detail of product {product.id}",
                )
                return
            product.redirected_from = redirected_from
        yield product
