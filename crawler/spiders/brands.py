"""``scrapy crawl brands``: the brands of categories, from the listings' brand filter.

Arguments (``-a``):
- ``categories=ID,ID`` (default: the ``CATEGORIES`` setting).

A brand listed by several categories is one item whose ``category_ids`` names
them all; the items are yielded once every category has answered (or failed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.args import parse_id_list
from crawler.exceptions import SpiderArgumentError
from crawler.extract.api import extract_brands
from crawler.spiders.base import LISTINGS_PATH, MarketplaceSpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from crawler.items import Brand


class BrandsSpider(MarketplaceSpider):
    name = "brands"

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> BrandsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.category_ids = cls.parse_arguments(kwargs, crawler.settings)["categories"]
        spider.pending = set(spider.category_ids)
        spider.brands: dict[int, Brand] = {}
        return spider

    @classmethod
    def parse_arguments(cls, kwargs: dict[str, Any], settings: Any) -> dict[str, Any]:
        categories = parse_id_list(
            kwargs.get("categories") or settings.getlist("CATEGORIES"), "categories"
        )
        if not categories:
            raise SpiderArgumentError(
                "No categories to crawl: set CATEGORIES or pass -a categories=ID,ID."
            )
        return {"categories": categories}

    async def start(self) -> AsyncIterator[Any]:
        for category_id in self.category_ids:
            url = self.api_url(
                LISTINGS_PATH,
                limit=self.settings.getint("LISTING_PAGE_SIZE"),
                category=category_id,
                page=1,
                aggregations=2,
            )
            yield self.api_request(
                url,
                self.parse_category,
                kind="category",
                record_id=category_id,
                cb_kwargs={"category_id": category_id},
            )

    def parse_category(self, response: Response, category_id: int) -> Iterator[Brand]:
        payload = self.payload(response)
        if payload is not None:
            now = datetime.now(UTC)
            for brand in extract_brands(payload, category_id, response.url, now):
                known = self.brands.get(brand.id)
                if known is None:
                    self.brands[brand.id] = brand
                elif category_id not in known.category_ids:
                    known.category_ids.append(category_id)
        yield from self._category_done(category_id)

    def on_error(self, failure: Failure) -> Iterator[Brand]:  # type: ignore[override]
        super().on_error(failure)
        yield from self._category_done(failure.request.cb_kwargs["category_id"])  # type: ignore[attr-defined]

    def _category_done(self, category_id: int) -> Iterator[Brand]:
        self.pending.discard(category_id)
        if not self.pending:
            for brand in self.brands.values():
                brand.category_ids.sort()
                yield brand
