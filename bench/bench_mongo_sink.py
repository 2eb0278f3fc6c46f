"""The MongoDB sink: documents per second through MongoUpsertPipeline, against
raw pymongo on the same server, in one run.

    python bench/bench_mongo_sink.py [--count 10000] [--repeats 3] [--json out.json]

- pipeline: cleaned Product items through ``MongoUpsertPipeline.process_item``
  (the upsert built from each item, batches of ``MONGO_BATCH_SIZE`` written
  with ``bulk_write`` in a worker thread) from the first item to the end of
  ``close_spider``;
- raw bulk: the same upserts, built beforehand, written with one unordered
  ``bulk_write`` per batch of the same size, one after the other;
- per item: the same upserts, one ``update_one(..., upsert=True)`` each (on
  ``--per-item-count`` documents: the rate, not the total, is compared);
- client side: building the upserts from the items and encoding them as BSON,
  no server: the most the pipeline could reach with an infinitely fast server.

Each sink writes into a fresh database with the pipeline's validators and
indexes, with the same write concern (``j: true``, the pipeline's default).
The server is ``secantusd-py`` started on a free loopback port with a
temporary storage path, or ``--uri`` / the ``MONGO_URI`` environment variable.
Figures are medians over ``--repeats`` runs. Goals: pipeline >= 0.9x raw bulk,
>= 10x per item.
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
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scrapy.settings import Settings  # noqa: E402
from scrapy.utils.misc import build_from_crawler  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from crawler.extract.api import extract_product  # noqa: E402
from crawler.items import Product  # noqa: E402
from crawler.mongo.collections import setup_collections  # noqa: E402
from crawler.mongo.config import MongoConfig  # noqa: E402
from crawler.mongo.documents import upsert  # noqa: E402
from crawler.pipelines.clean import CleanPipeline  # noqa: E402
from crawler.pipelines.mongo import MongoUpsertPipeline  # noqa: E402
from crawler.spiders.base import MarketplaceSpider  # noqa: E402
from tests.support.servers import MongoServer  # noqa: E402

BODY = ROOT / "tests" / "data" / "product_37779493.json"


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


def fresh_db(client: MongoClient[Any], name: str) -> Any:
    client.drop_database(name)
    db = client[name]
    setup_collections(db)
    return db


def run_pipeline(uri: str, database: str, items: list[Product], batch_size: int) -> float:
    crawler = get_crawler(
        BenchSpider, {"MONGO_URI": uri, "MONGO_DATABASE": database, "MONGO_BATCH_SIZE": batch_size}
    )
    crawler.spider = crawler._create_spider(run_id="bench")
    crawler.stats.open_spider()
    pipeline = build_from_crawler(MongoUpsertPipeline, crawler)

    async def go() -> float:
        await pipeline.open_spider()  # the collections' setup is not timed
        started = time.perf_counter()
        for item in items:
            await pipeline.process_item(item)
        await pipeline.close_spider()
        return time.perf_counter() - started

    seconds = asyncio.run(go())
    stored = crawler.stats.get_value("items/stored/product")
    assert stored == len(items), f"the pipeline stored {stored} of {len(items)}"
    return seconds


def run_raw_bulk(collection: Any, ops: list[Any], batch_size: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(ops), batch_size):
        collection.bulk_write(ops[start : start + batch_size], ordered=False)
    return time.perf_counter() - started


def run_per_item(collection: Any, ops: list[Any]) -> float:
    started = time.perf_counter()
    for op in ops:
        collection.update_one(op._filter, op._doc, upsert=True)
    return time.perf_counter() - started


def client_side(items: list[Product]) -> float:
    started = time.perf_counter()
    for item in items:
        op = upsert(item)
        bson.encode(op._doc)
    return time.perf_counter() - started


def measure(
    uri: str, count: int, per_item_count: int, batch_size: int, repeats: int
) -> dict[str, Any]:
    items = make_products(count)
    ops = [upsert(item) for item in items]
    config = MongoConfig.from_settings(Settings({"MONGO_URI": uri}))
    assert config is not None
    client: MongoClient[Any] = MongoClient(uri, **config.client_options())
    database = "bench_mongo_sink"
    seconds: dict[str, list[float]] = {
        "pipeline": [],
        "raw_bulk": [],
        "per_item": [],
        "client_side": [],
    }
    try:
        for _ in range(repeats):
            seconds["client_side"].append(client_side(items))
            fresh_db(client, database)
            seconds["pipeline"].append(run_pipeline(uri, database, items, batch_size))
            collection = fresh_db(client, database)[Product.collection]
            seconds["raw_bulk"].append(run_raw_bulk(collection, ops, batch_size))
            assert collection.count_documents({}) == count
            collection = fresh_db(client, database)[Product.collection]
            seconds["per_item"].append(run_per_item(collection, ops[:per_item_count]))
        client.drop_database(database)
    finally:
        client.close()
    counts = {
        "pipeline": count,
        "raw_bulk": count,
        "per_item": per_item_count,
        "client_side": count,
    }
    rates = {k: counts[k] / statistics.median(v) for k, v in seconds.items()}
    return {
        "documents": counts,
        "seconds": {k: [round(s, 3) for s in v] for k, v in seconds.items()},
        "docs_per_second": {k: round(v) for k, v in rates.items()},
        "pipeline_vs_raw_bulk": round(rates["pipeline"] / rates["raw_bulk"], 3),
        "pipeline_vs_per_item": round(rates["pipeline"] / rates["per_item"], 1),
        "batch_size": batch_size,
        "repeats": repeats,
    }


def table(figures: dict[str, Any]) -> str:
    rates, counts = figures["docs_per_second"], figures["documents"]
    names = {
        "pipeline": "MongoUpsertPipeline",
        "raw_bulk": "raw bulk_write",
        "per_item": "update_one per item",
        "client_side": "(client side only: build + BSON, no server)",
    }
    lines = ["| sink | documents | docs/s | pipeline is |", "| --- | ---: | ---: | ---: |"]
    for key, name in names.items():
        shown = key not in ("pipeline", "client_side")
        ratio = f"{rates['pipeline'] / rates[key]:.2f}x" if shown else ""
        lines.append(f"| {name} | {counts[key]} | {rates[key]} | {ratio} |")
    vs_bulk, vs_item = figures["pipeline_vs_raw_bulk"], figures["pipeline_vs_per_item"]
    lines.append("")
    lines.append(
        f"per document: {1000 / rates['raw_bulk']:.2f} ms in the server (raw bulk), "
        f"{1000 / rates['per_item']:.2f} ms with a round trip each (per item), "
        f"{1e6 / rates['client_side']:.0f} us of client work in the pipeline"
    )
    lines.append(f"goal >= 0.9x raw bulk: {vs_bulk}x, {'met' if vs_bulk >= 0.9 else 'MISSED'}")
    lines.append(f"goal >= 10x per item: {vs_item}x, {'met' if vs_item >= 10 else 'MISSED'}")
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
