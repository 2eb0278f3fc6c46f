"""The yardstick: a seed-style products crawl in plain asyncio + aiohttp.

What our users would otherwise write: a semaphore-bounded aiohttp client,
JSON parsing, the same extraction, HTML cleaning and validation calls as the
crawler, JSON Lines batch files of 1,000 records. No retries, no throttling,
no stats, no resume: it is the bar on cost, not a product.

    python bench/baseline.py --url http://127.0.0.1:PORT --categories 1,2 --out DIR
    python bench/baseline.py --url ... --ids-file ids.csv --out DIR

Prints one JSON line: records (valid + rejected), rejected, failed, requests,
wall seconds, CPU seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.args import read_ids_file
from crawler.exceptions import ExtractionError
from crawler.extract.api import (
    extract_brands,
    extract_listing_ids,
    extract_paging,
    extract_product,
    parse_json,
)
from crawler.pipelines.clean import CleanPipeline
from crawler.pipelines.validate import CHECKERS, json_record

LISTINGS = "/api/personalish/v1/blocks/listings"


class BatchWriter:
    """JSON Lines files of ``size`` records: ``<prefix>-00001.jsonl``, ..."""

    def __init__(self, folder: Path, prefix: str, size: int = 1000) -> None:
        self.folder, self.prefix, self.size = folder, prefix, size
        self.buffer: list[bytes] = []
        self.batch = 0

    def write(self, record: dict[str, Any]) -> None:
        self.buffer.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        if len(self.buffer) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.batch += 1
            path = self.folder / f"{self.prefix}-{self.batch:05d}.jsonl"
            path.write_bytes(b"".join(self.buffer))
            self.buffer = []


class Baseline:
    def __init__(self, url: str, concurrency: int, out: Path) -> None:
        self.url = url.rstrip("/")
        self.semaphore = asyncio.Semaphore(concurrency)
        self.concurrency = concurrency
        self.cleaner = CleanPipeline(None)  # type: ignore[arg-type]  # uses no crawler
        out.mkdir(parents=True, exist_ok=True)
        self.products = BatchWriter(out, "products")
        self.rejects = BatchWriter(out, "rejects")
        self.counts = {"records": 0, "rejected": 0, "failed": 0, "requests": 0}
        self.headers = {
            "User-Agent": "Mozilla/5.0",
            "Accept": "application/json",
            "Referer": self.url + "/",
            "x-guest-token": str(uuid.uuid4()),
        }

    async def get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, bytes]:
        async with self.semaphore:
            self.counts["requests"] += 1
            async with session.get(self.url + path) as response:
                return response.status, await response.read()

    async def listing(self, session: aiohttp.ClientSession, query: str) -> dict[str, Any]:
        status, body = await self.get(session, f"{LISTINGS}?{query}")
        return parse_json(body, query) if status == 200 else {}

    async def brand_ids(self, session: aiohttp.ClientSession, category: int) -> list[int]:
        now = datetime.now(UTC)
        payload = await self.listing(session, f"limit=40&category={category}&page=1&aggregations=2")
        return [b.id for b in extract_brands(payload, category, "", now)]

    async def listed_ids(
        self, session: aiohttp.ClientSession, category: int, brand: int
    ) -> list[int]:
        query = f"limit=40&category={category}&brand={brand}"
        first = await self.listing(session, f"{query}&page=1")
        pages = await asyncio.gather(
            *(
                self.listing(session, f"{query}&page={page}")
                for page in range(2, extract_paging(first).last_page + 1)
            )
        )
        return [i for payload in (first, *pages) for i in extract_listing_ids(payload)]

    async def detail(self, session: aiohttp.ClientSession, product_id: int) -> None:
        try:
            status, body = await self.get(session, f"/api/v2/products/{product_id}")
            if status != 200:
                self.counts["failed"] += 1
                return
            item = extract_product(parse_json(body, str(product_id)), self.url, datetime.now(UTC))
        except (TimeoutError, aiohttp.ClientError, ExtractionError):
            self.counts["failed"] += 1
            return
        self.cleaner.process_item(item)
        record = json_record(item)
        self.counts["records"] += 1
        problems = CHECKERS[type(item)].problems(record)
        if problems:
            self.counts["rejected"] += 1
            self.rejects.write({"id": item.id, "reasons": [f"{f}_{p}" for f, p in problems]})
        else:
            self.products.write(record)

    async def details(self, session: aiohttp.ClientSession, ids: list[int]) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for product_id in ids:
            queue.put_nowait(product_id)

        async def worker() -> None:
            while not queue.empty():
                await self.detail(session, queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def run(self, categories: list[int], ids: list[int] | None) -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        async with aiohttp.ClientSession(headers=self.headers, connector=connector) as session:
            if ids is None:
                brands = await asyncio.gather(*(self.brand_ids(session, c) for c in categories))
                listed = await asyncio.gather(
                    *(
                        self.listed_ids(session, category, brand)
                        for category, brand_ids in zip(categories, brands, strict=True)
                        for brand in brand_ids
                    )
                )
                ids = list(dict.fromkeys(i for chunk in listed for i in chunk))
            await self.details(session, ids)
        self.products.flush()
        self.rejects.flush()
        return self.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--categories", default="")
    parser.add_argument("--ids-file")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--out", required=True)
    options = parser.parse_args()
    categories = [int(c) for c in options.categories.split(",") if c]
    ids = read_ids_file(options.ids_file) if options.ids_file else None
    started = time.perf_counter()
    counts = asyncio.run(
        Baseline(options.url, options.concurrency, Path(options.out)).run(categories, ids)
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts["wall_seconds"] = time.perf_counter() - started
    counts["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(orjson.dumps(counts).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
