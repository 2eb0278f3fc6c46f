"""``scrapy crawl products``: categories → brands → listing pages → product details.

Arguments (``-a``):
- ``categories=ID,ID``: categories to walk (default: the ``CATEGORIES`` setting);
- ``brands=ID,ID``: only these brands (default: every brand of the categories);
  a brand that none of the categories lists stops the run before any listing
  request;
- ``ids_file=PATH``: skip the listings and fetch these product ids (CSV with an
  ``id`` column, or JSON Lines with ``id``: a products feed or a failures file).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from crawler.args import ProductsArgs
from crawler.exceptions import ExtractionError
from crawler.extract.api import extract_brands, extract_listing_ids, extract_paging, extract_product
from crawler.failures import failure_reason
from crawler.middlewares.redirect import REDIRECTED_FROM
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

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.page_size = crawler.settings.getint("LISTING_PAGE_SIZE")
        spider.listed = set()
        spider.listings_pending = 0
        spider.held = {}
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
        pairs = await self.discover_brands()
        self.listings_pending += len(pairs)
        for category_id, brand_id in pairs:
            yield self.listing_request(category_id, brand_id, page=1)

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
    ) -> Iterator[scrapy.Request]:
        self.listings_pending -= 1
        payload = self.payload(response)
        if payload is None:
            return
        try:
            ids = extract_listing_ids(payload, f"listing {response.url}")
        except ExtractionError as exc:
            self.record_failure(response.request, exc.reason, str(exc))
            return
        self.listed.update(ids)
        if page == 1:
            paging = extract_paging(payload)
            self.listings_pending += max(paging.last_page - 1, 0)
            for next_page in range(2, paging.last_page + 1):
                yield self.listing_request(category_id, brand_id, next_page)
        for product_id in ids:
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
