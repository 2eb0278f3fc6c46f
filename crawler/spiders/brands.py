"""``scrapy crawl brands``: the brands of categories, from the listings' brand filter.

Arguments (``-a``):
- ``categories=ID,ID`` (default: the ``CATEGORIES`` setting).

A brand listed by several categories is one item whose ``category_ids`` names
them all; the items are yielded once every category has answered (or failed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from crawler.args import BrandsArgs
from crawler.extract.api import extract_brands
from crawler.failures import failure_reason
from crawler.spiders.base import MarketplaceSpider, what_categories_held

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

    from crawler.items import Brand


class BrandsSpider(MarketplaceSpider):
    name = "brands"

    arguments_class = BrandsArgs
    args: BrandsArgs
    #: categories that have not answered (or failed) yet
    pending: set[int]
    brands: dict[int, Brand]
    #: what each category held: "lists N brands", or why it was not read
    held: dict[int, str]

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.pending = set(spider.args.categories)
        spider.brands = {}
        spider.held = {}
        return spider

    async def start(self) -> AsyncIterator[Any]:
        for category_id in self.args.categories:
            yield self.brand_filter_request(category_id, self.parse_category)

    def parse_category(self, response: Response, category_id: int) -> Iterator[Brand]:
        payload = self.payload(response)
        if payload is None:
            self.held[category_id] = "could not be read (its body is not the API's)"
        else:
            now = datetime.now(UTC)
            found = extract_brands(payload, category_id, response.url, now)
            self.held[category_id] = f"lists {len(found):,} brands" if found else "lists no brands"
            for brand in found:
                known = self.brands.get(brand.id)
                if known is None:
                    self.brands[brand.id] = brand
                elif category_id not in known.category_ids:
                    known.category_ids.append(category_id)
        yield from self._category_done(category_id)

    def on_error(self, failure: Failure) -> Iterator[Brand]:  # type: ignore[override]
        super().on_error(failure)
        category_id = failure.request.cb_kwargs["category_id"]  # type: ignore[attr-defined]
        self.held[category_id] = (
            f"could not be read ({failure_reason(failure.value or Exception())})"
        )
        yield from self._category_done(category_id)

    def nothing_found(self) -> str | None:
        if not self.held:
            return None
        return what_categories_held(dict(sorted(self.held.items())))

    def _category_done(self, category_id: int) -> Iterator[Brand]:
        self.pending.discard(category_id)
        if not self.pending:
            for brand in self.brands.values():
                brand.category_ids.sort()
                yield brand
