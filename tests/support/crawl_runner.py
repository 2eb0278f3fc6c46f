"""Run one crawl in this process and write its items and stats as JSON.

Used by the crawl tests through :func:`tests.support.crawl.run_crawl`: a fresh
process per crawl (a Twisted reactor starts once per process), items collected
through the ``item_scraped`` signal, stats from the crawler's collector.

    python tests/support/crawl_runner.py '{"spider": "products", "args": {}, "out": "x.json"}'
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
from itemadapter import ItemAdapter
from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings


def main(spec: dict) -> int:
    settings = get_project_settings()
    settings.setdict(spec.get("settings", {}), priority="cmdline")
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(spec["spider"])
    items: list[dict] = []

    def collect(item: object, **_: object) -> None:
        items.append({**ItemAdapter(item).asdict(), "item_type": type(item).__name__})

    crawler.signals.connect(collect, signal=signals.item_scraped)
    process.crawl(crawler, **spec.get("args", {}))
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    Path(spec["out"]).write_bytes(
        orjson.dumps({"items": items, "stats": stats}, default=str, option=orjson.OPT_NON_STR_KEYS)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(orjson.loads(sys.argv[1])))
