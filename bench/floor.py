"""The floor: the products crawl as a bare Scrapy spider.

What Scrapy itself costs for our crawl: the same requests as ``scrapy crawl
products`` (the categories' brand filters, every listing page of every
(category, brand), each product's detail once; or the details of an ids file)
and the same per-record work as the baseline (bench/baseline.py): extraction
(``crawler.extract.api``), HTML cleaning (``CleanPipeline.process_item`` as a
plain function), validation (the compiled schemas of ``crawler.schemas``),
JSON Lines batch files of 1,000 records (the baseline's writer). None of the
project's spiders, middlewares, pipelines, extensions or add-ons: Scrapy's
default components, no item pipeline, no feed exporter, ``CONCURRENT_ITEMS =
1``; a valid record is yielded as an item, so that it takes Scrapy's item path
as ours does.

The handler and reactor are the project's: ``TWISTED_REACTOR``,
``TWISTED_REACTOR_ENABLED``, ``DOWNLOAD_HANDLERS`` and ``ASYNCIO_EVENT_LOOP``
are read from ``crawler/settings.py`` when this script starts (those it sets),
so the floor follows when the project changes them; ``--setting NAME=VALUE``
(JSON values) overrides any setting for one run. The concurrency is ours too
(``CONCURRENT_REQUESTS``, ``CONCURRENT_REQUESTS_PER_DOMAIN``). ``--lean`` also
turns off the Scrapy components that crawler/settings.py turns off (Scrapy
trimmed as ours is, without our own components).

    python bench/floor.py --url http://127.0.0.1:PORT --categories 1,2 --out DIR
    python bench/floor.py --url ... --ids-file ids.csv --out DIR

Prints one JSON line, as the baseline: records (valid + rejected), rejected,
failed, requests, wall seconds, CPU seconds.
"""

from __future__ import annotations

import argparse
import importlib
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
import scrapy
from scrapy import signals
from scrapy.crawler import AsyncCrawlerProcess, CrawlerProcess
from scrapy.settings import BaseSettings, Settings
from scrapy.utils.misc import load_object
from scrapy.utils.python import global_object_name
from scrapy.utils.reactor import _asyncio_reactor_path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.baseline import BatchWriter
from crawler.args import read_ids_file
from crawler.exceptions import ExtractionError
from crawler.extract.api import (
    extract_brands,
    extract_listing_ids,
    extract_paging,
    extract_product,
    parse_json,
)
from crawler.items import Product
from crawler.pipelines.clean import CleanPipeline
from crawler.pipelines.validate import CHECKERS, json_record

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.http import Response

LISTINGS = "/api/personalish/v1/blocks/listings"
PRODUCT = "/api/v2/products/{id}"

#: the project's choices of handler and reactor, copied when it sets them
FOLLOWED = ("TWISTED_REACTOR", "TWISTED_REACTOR_ENABLED", "DOWNLOAD_HANDLERS", "ASYNCIO_EVENT_LOOP")
#: the project's settings that make the same requests at the same concurrency
SAME_REQUESTS = (
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "USER_AGENT",
    "DEFAULT_REQUEST_HEADERS",
    "LISTING_PAGE_SIZE",
)


def scrapy_handler(path: str) -> str:
    """Scrapy's handler for a project handler that subclasses one (its nearest
    base class from Scrapy); any other handler as it is."""
    if not path.startswith("crawler."):
        return path
    base = next(c for c in load_object(path).__mro__ if c.__module__.startswith("scrapy."))
    return global_object_name(base)


def project_settings() -> dict[str, Any]:
    """The names of FOLLOWED and SAME_REQUESTS that crawler/settings.py sets."""
    module = importlib.import_module("crawler.settings")
    found = {
        name: getattr(module, name) for name in (*FOLLOWED, *SAME_REQUESTS) if hasattr(module, name)
    }
    if "DOWNLOAD_HANDLERS" in found:
        # the handler Scrapy ships for the project's own subclass of it (a
        # project component: lazy, one INFO line, no per-host pool cap)
        found["DOWNLOAD_HANDLERS"] = {
            scheme: scrapy_handler(path) for scheme, path in found["DOWNLOAD_HANDLERS"].items()
        }
    return found


#: the clean step as the baseline calls it: the pipeline's plain function,
#: not a component in Scrapy's item path (it uses no crawler)
CLEANER = CleanPipeline(None)  # type: ignore[arg-type]


class FloorSpider(scrapy.Spider):
    name = "floor"

    def __init__(
        self, url: str, categories: list[int], ids: list[int] | None, out: Path, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.base = url.rstrip("/")
        self.categories, self.ids = categories, ids
        out.mkdir(parents=True, exist_ok=True)
        self.products = BatchWriter(out, "products")
        self.rejects = BatchWriter(out, "rejects")
        self.counts = {"records": 0, "rejected": 0, "failed": 0}
        self.headers = {"Referer": self.base + "/", "x-guest-token": str(uuid.uuid4())}

    def request(self, path: str, callback: Any, **kwargs: Any) -> scrapy.Request:
        return scrapy.Request(
            self.base + path,
            callback=callback,
            errback=self.failed,
            headers=self.headers,
            **kwargs,
        )

    def listing(self, callback: Any, cb_kwargs: dict[str, Any], **query: Any) -> scrapy.Request:
        size = self.settings.getint("LISTING_PAGE_SIZE", 40)
        query = {"limit": size, **query}
        return self.request(f"{LISTINGS}?{urlencode(query)}", callback, cb_kwargs=cb_kwargs)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.ids is not None:
            for product_id in self.ids:
                yield self.detail(product_id)
            return
        for category in self.categories:
            yield self.listing(
                self.parse_brands, {"category": category}, category=category, page=1, aggregations=2
            )

    def detail(self, product_id: int) -> scrapy.Request:
        return self.request(
            PRODUCT.format(id=product_id),
            self.parse_product,
            meta={"handle_httpstatus_list": [404]},
        )

    def payload(self, response: Response) -> dict[str, Any] | None:
        try:
            return parse_json(response.body, response.url)
        except ExtractionError:
            self.counts["failed"] += 1
            return None

    def parse_brands(self, response: Response, category: int) -> Iterator[scrapy.Request]:
        payload = self.payload(response)
        if payload is None:
            return
        for brand in extract_brands(payload, category, response.url, datetime.now(UTC)):
            kwargs = {"category": category, "brand": brand.id, "page": 1}
            yield self.listing(
                self.parse_listing, kwargs, category=category, page=1, brand=brand.id
            )

    def parse_listing(
        self, response: Response, category: int, brand: int, page: int
    ) -> Iterator[scrapy.Request]:
        payload = self.payload(response)
        if payload is None:
            return
        try:
            ids = extract_listing_ids(payload, response.url)
        except ExtractionError:
            self.counts["failed"] += 1
            return
        if page == 1:
            for next_page in range(2, extract_paging(payload).last_page + 1):
                kwargs = {"category": category, "brand": brand, "page": next_page}
                yield self.listing(
                    self.parse_listing, kwargs, category=category, page=next_page, brand=brand
                )
        for product_id in ids:
            yield self.detail(product_id)

    def parse_product(self, response: Response) -> Iterator[dict[str, Any]]:
        if response.status != 200:
            self.counts["failed"] += 1
            return
        payload = self.payload(response)
        if payload is None:
            return
        try:
            item = extract_product(payload, response.url, datetime.now(UTC))
        except ExtractionError:
            self.counts["failed"] += 1
            return
        CLEANER.process_item(item)
        record = json_record(item)
        self.counts["records"] += 1
        problems = CHECKERS[Product].problems(record)
        if problems:
            self.counts["rejected"] += 1
            self.rejects.write({"id": item.id, "reasons": [f"{f}_{p}" for f, p in problems]})
            return
        self.products.write(record)
        yield record

    def failed(self, failure: Any) -> None:
        self.counts["failed"] += 1

    def closed(self, reason: str) -> None:
        self.products.flush()
        self.rejects.flush()


def lean_settings() -> dict[str, Any]:
    """``--lean``: Scrapy's own components that crawler/settings.py turns off
    (set to None), off here too, and its ``WARN_ON_GENERATOR_RETURN_VALUE``:
    the floor of a Scrapy crawl trimmed as ours is."""
    module = importlib.import_module("crawler.settings")
    values: dict[str, Any] = {}
    for name in ("SPIDER_MIDDLEWARES", "DOWNLOADER_MIDDLEWARES", "EXTENSIONS"):
        off = {
            path: None
            for path, order in getattr(module, name, {}).items()
            if order is None and path.startswith("scrapy.")
        }
        if off:
            values[name] = off
    if hasattr(module, "WARN_ON_GENERATOR_RETURN_VALUE"):
        values["WARN_ON_GENERATOR_RETURN_VALUE"] = module.WARN_ON_GENERATOR_RETURN_VALUE
    return values


def settings(overrides: dict[str, Any], lean: bool = False) -> Settings:
    values = {
        **project_settings(),
        **(lean_settings() if lean else {}),
        "CONCURRENT_ITEMS": 1,
        "LOG_LEVEL": "WARNING",
        # a bench process: no console to listen on a port
        "TELNETCONSOLE_ENABLED": False,
        **overrides,
    }
    return Settings(values)


def plain(value: Any) -> Any:
    return value.copy_to_dict() if isinstance(value, BaseSettings) else value


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--categories", default="")
    parser.add_argument("--ids-file")
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for this run, VALUE as JSON (or text)",
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="Scrapy's components that the project turns off, off here too",
    )
    options = parser.parse_args()
    overrides: dict[str, Any] = {}
    for pair in options.setting:
        name, _, value = pair.partition("=")
        try:
            overrides[name] = orjson.loads(value)
        except orjson.JSONDecodeError:
            overrides[name] = value
    config = settings(overrides, options.lean)
    categories = [int(c) for c in options.categories.split(",") if c]
    ids = read_ids_file(options.ids_file) if options.ids_file else None
    # the process class `scrapy crawl` picks for these settings (scrapy/cmdline.py)
    process: CrawlerProcess | AsyncCrawlerProcess
    if config["TWISTED_REACTOR"] == _asyncio_reactor_path or not config.getbool(
        "TWISTED_REACTOR_ENABLED"
    ):
        process = AsyncCrawlerProcess(config)
    else:
        process = CrawlerProcess(config)
    crawler = process.create_crawler(FloorSpider)
    # the crawl itself, opened to closed, as our run report's duration
    marks: dict[str, float] = {}

    def opened(**_: Any) -> None:
        marks["opened"] = time.perf_counter()

    def closed(**_: Any) -> None:
        marks["closed"] = time.perf_counter()

    # (the signals hold weak references: these two live as long as main)
    crawler.signals.connect(opened, signal=signals.spider_opened)
    crawler.signals.connect(closed, signal=signals.spider_closed)
    process.crawl(crawler, url=options.url, categories=categories, ids=ids, out=Path(options.out))
    process.start()
    wall = marks["closed"] - marks["opened"]
    spider = crawler.spider
    assert isinstance(spider, FloorSpider)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        orjson.dumps(
            {
                **spider.counts,
                "requests": crawler.stats.get_value("downloader/request_count", 0)
                if crawler.stats
                else 0,
                "wall_seconds": wall,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "settings": {name: plain(config[name]) for name in FOLLOWED},
            },
            default=str,
        ).decode()
    )
    return 0 if spider.counts["records"] else 1


if __name__ == "__main__":
    sys.exit(main())
