"""The MongoDB sink: documents per second through MongoUpsertPipeline, against
raw pymongo on the same server, in one run, and the client's CPU per document.

    python bench/bench_mongo_sink.py [--count 10000] [--repeats 3] [--json out.json]

- pipeline: cleaned Product items through ``MongoUpsertPipeline.process_item``
  (the upsert built from each item, batches of ``MONGO_BATCH_SIZE`` written
  with ``bulk_write`` of PyMongo's ``AsyncMongoClient``) from the first item to
  the end of ``close_spider``;
- raw bulk: the same upserts, built beforehand, written with one unordered
  ``bulk_write`` per batch of the same size, one after the other, through the
  blocking ``MongoClient``; raw bulk (async): the same through ``AsyncMongoClient``;
- per item: the same upserts, one ``update_one(..., upsert=True)`` each (on
  ``--per-item-count`` documents), for reference;
- client side: building the upserts from the items and encoding them as BSON,
  no server: the most the pipeline could reach with an infinitely fast server.

Each sink writes into a fresh database with the pipeline's validators and
indexes, with the same write concern (``j: true``, the pipeline's default).
The server is ``secantusd-py`` started on a free loopback port with a
temporary storage path, or ``--uri`` / the ``MONGO_URI`` environment variable;
it runs in a process of its own, so the CPU time of this process
(``time.process_time``, all its threads) is the client's: its cost per
document is the figure that a faster client would change. The wire server
spends about 1.25 ms per document whatever the client does, which bounds every
sink's rate (so no goal is set against one ``update_one`` per item).
Figures are medians over ``--repeats`` runs. Goal: pipeline >= 0.95x raw bulk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import orjson
from pymongo import AsyncMongoClient, MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scrapy.settings import Settings  # noqa: E402
from scrapy.utils.misc import build_from_crawler  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from crawler.extract.api import extract_product  # noqa: E402
from crawler.items import Product  # noqa: E402
from crawler.mongo.collections import ensure_collections  # noqa: E402
from crawler.mongo.config import MongoConfig  # noqa: E402
from crawler.mongo.documents import upsert  # noqa: E402
from crawler.pipelines.clean import CleanPipeline  # noqa: E402
from crawler.pipelines.mongo import MongoUpsertPipeline  # noqa: E402
from crawler.spiders.base import MarketplaceSpider  # noqa: E402
from tests.support.servers import MongoServer  # noqa: E402

BODY = ROOT / "tests" / "data" / "product_37779493.json"
#: the pipeline's rate against raw bulk_write of the same documents
GOAL_VS_RAW_BULK = 0.95


class Timed:
    """Wall and CPU seconds (this process, all its threads) of a ``with`` block."""

    def __enter__(self) -> Timed:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


class BenchSpider(MarketplaceSpider):
    name = "bench"


def make_products(count: int) -> list[Product]:
    """``count`` cleaned products (the saved simulator body, ids and prices varied)."""
    body = orjson.loads(BODY.read_bytes())
    now = datetime.now(UTC)
    cleaner = build_from_crawler(CleanPipeline, get_crawler(BenchSpider))
    items = []
    for n in range(count):
        pid = 50_000_000 + n
        item = extract_product({**body, "id": pid, "price": 100_000 + n}, f"u/{pid}", now)
        items.append(cleaner.process_item(item))
    return items


def fresh_db(client: MongoClient[Any], uri: str, name: str) -> Any:
    """The database ``name``, emptied, with the collections a crawl's start makes."""
    client.drop_database(name)

    async def set_up() -> None:
        async with AsyncMongoClient(uri) as setup:
            await ensure_collections(setup[name])

    asyncio.run(set_up())
    return client[name]


def run_pipeline(uri: str, database: str, items: list[Product], batch_size: int) -> Timed:
    crawler = get_crawler(
        BenchSpider, {"MONGO_URI": uri, "MONGO_DATABASE": database, "MONGO_BATCH_SIZE": batch_size}
    )
    crawler.spider = crawler._create_spider(run_id="bench")
    crawler.stats.open_spider()
    pipeline = build_from_crawler(MongoUpsertPipeline, crawler)

    async def go() -> Timed:
        await pipeline.open_spider()  # the collections' setup is not timed
        with Timed() as timed:
            for item in items:
                await pipeline.process_item(item)
            await pipeline.close_spider()
        return timed

    timed = asyncio.run(go())
    stored = crawler.stats.get_value("items/stored/product")
    assert stored == len(items), f"the pipeline stored {stored} of {len(items)}"
    return timed


def run_raw_bulk(collection: Any, ops: list[Any], batch_size: int) -> Timed:
    with Timed() as timed:
        for start in range(0, len(ops), batch_size):
            collection.bulk_write(ops[start : start + batch_size], ordered=False)
    return timed


def run_raw_bulk_async(
    uri: str, options: dict[str, Any], database: str, ops: list[Any], batch_size: int
) -> Timed:
    async def go() -> Timed:
        client: AsyncMongoClient[Any] = AsyncMongoClient(uri, **options)
        try:
            collection = client[database][Product.collection]
            await client.admin.command("ping")  # connected before the clock starts
            with Timed() as timed:
                for start in range(0, len(ops), batch_size):
                    await collection.bulk_write(ops[start : start + batch_size], ordered=False)
            return timed
        finally:
            await client.close()

    return asyncio.run(go())


def run_per_item(collection: Any, ops: list[Any]) -> Timed:
    with Timed() as timed:
        for op in ops:
            collection.update_one(op._filter, op._doc, upsert=True)
    return timed


def client_side(items: list[Product]) -> Timed:
    with Timed() as timed:
        for item in items:
            op = upsert(item)
            bson.encode(op._doc)
    return timed


def measure(
    uri: str, count: int, per_item_count: int, batch_size: int, repeats: int
) -> dict[str, Any]:
    items = make_products(count)
    ops = [upsert(item) for item in items]
    config = MongoConfig.from_settings(Settings({"MONGO_URI": uri}))
    assert config is not None
    options = config.client_options()
    client: MongoClient[Any] = MongoClient(uri, **options)
    database = "bench_mongo_sink"
    counts = {
        "pipeline": count,
        "raw_bulk": count,
        "raw_bulk_async": count,
        "per_item": per_item_count,
        "client_side": count,
    }
    runs: dict[str, list[Timed]] = {name: [] for name in counts}
    try:
        for _ in range(repeats):
            runs["client_side"].append(client_side(items))
            fresh_db(client, uri, database)
            runs["pipeline"].append(run_pipeline(uri, database, items, batch_size))
            collection = fresh_db(client, uri, database)[Product.collection]
            runs["raw_bulk"].append(run_raw_bulk(collection, ops, batch_size))
            assert collection.count_documents({}) == count
            collection = fresh_db(client, uri, database)[Product.collection]
            runs["raw_bulk_async"].append(
                run_raw_bulk_async(uri, options, database, ops, batch_size)
            )
            assert collection.count_documents({}) == count
            collection = fresh_db(client, uri, database)[Product.collection]
            runs["per_item"].append(run_per_item(collection, ops[:per_item_count]))
        client.drop_database(database)
    finally:
        client.close()
    rates = {k: counts[k] / statistics.median(t.wall for t in v) for k, v in runs.items()}
    cpu_us = {
        k: round(1e6 * statistics.median(t.cpu for t in v) / counts[k], 1) for k, v in runs.items()
    }
    return {
        "documents": counts,
        "seconds": {k: [round(t.wall, 3) for t in v] for k, v in runs.items()},
        "cpu_seconds": {k: [round(t.cpu, 3) for t in v] for k, v in runs.items()},
        "docs_per_second": {k: round(v) for k, v in rates.items()},
        "client_cpu_us_per_doc": cpu_us,
        "pipeline_vs_raw_bulk": round(rates["pipeline"] / rates["raw_bulk"], 3),
        "pipeline_vs_raw_bulk_async": round(rates["pipeline"] / rates["raw_bulk_async"], 3),
        # for reference (bench/run.py shows it); no goal: the server bounds both
        "pipeline_vs_per_item": round(rates["pipeline"] / rates["per_item"], 1),
        "batch_size": batch_size,
        "repeats": repeats,
    }


def table(figures: dict[str, Any]) -> str:
    rates, counts = figures["docs_per_second"], figures["documents"]
    cpu = figures["client_cpu_us_per_doc"]
    names = {
        "pipeline": "MongoUpsertPipeline (AsyncMongoClient)",
        "raw_bulk": "raw bulk_write (MongoClient)",
        "raw_bulk_async": "raw bulk_write (AsyncMongoClient)",
        "per_item": "update_one per item (MongoClient)",
        "client_side": "(client side only: build + BSON, no server)",
    }
    lines = [
        "| sink | documents | docs/s | client CPU us/doc | pipeline is |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for key, name in names.items():
        shown = key not in ("pipeline", "client_side")
        ratio = f"{rates['pipeline'] / rates[key]:.2f}x" if shown else ""
        lines.append(f"| {name} | {counts[key]} | {rates[key]} | {cpu[key]} | {ratio} |")
    vs_bulk = figures["pipeline_vs_raw_bulk"]
    lines.append("")
    lines.append(
        f"per document: {1000 / rates['raw_bulk']:.2f} ms of wall time with raw bulk "
        f"(the server's), {cpu['pipeline']} us of client CPU in the pipeline "
        f"({cpu['raw_bulk']} us with raw bulk_write, {cpu['client_side']} us to build and "
        "encode the upsert)"
    )
    met = "met" if vs_bulk >= GOAL_VS_RAW_BULK else "MISSED"
    lines.append(f"goal >= {GOAL_VS_RAW_BULK}x raw bulk: {vs_bulk}x, {met}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--per-item-count", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uri", default=os.environ.get("MONGO_URI"))
    parser.add_argument("--json", help="write the figures to this file too")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mongo-") as folder:
        server = None if options.uri else MongoServer(Path(folder) / "data").start()
        uri = options.uri or server.uri  # type: ignore[union-attr]
        try:
            figures = measure(
                uri, options.count, options.per_item_count, options.batch_size, options.repeats
            )
        finally:
            if server is not None:
                server.stop()
    figures["server"] = "MONGO_URI" if options.uri else "secantusd-py (temporary)"
    print(table(figures))
    if options.json:
        Path(options.json).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
