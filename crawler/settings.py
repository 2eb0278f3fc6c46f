"""Settings of the marketplace crawler.

Every value that differs from Scrapy's default says why. Values that a user is
expected to change come from the environment where noted; ``-s NAME=VALUE``
overrides any of them for one run.
"""

from __future__ import annotations

import os

BOT_NAME = "crawler"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"
# our ``crawl`` command: one-sentence argument errors, exit status from the run
COMMANDS_MODULE = "crawler.commands"

# -- the marketplace --------------------------------------------------------

# The only thing that differs between the simulator and the real host.
MARKETPLACE_URL = os.environ.get("MARKETPLACE_URL", "https://tiki.vn")
# Categories the brands and products spiders walk (-a categories=... overrides).
# Tiki's "Điện Thoại - Máy Tính Bảng" and "Laptop - Máy Vi Tính - Linh kiện".
CATEGORIES = [
    int(c) for c in os.environ.get("CATEGORIES", "1789,1846").split(",") if c.strip()
]
# the real API's default page size for listings
LISTING_PAGE_SIZE = 40
# the real API caps reviews pages at 20
REVIEWS_PAGE_SIZE = 20
# rounds of reading a product's review pages when reviews arrive meanwhile
COMMENTS_MAX_ROUNDS = 3

# The real API expects a browser-like client asking for JSON (api-shape.md);
# Referer and x-guest-token are set per request by the spiders.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
DEFAULT_REQUEST_HEADERS = {
    "Accept": "application/json",
    "Accept-Language": "vi-VN,vi;q=0.9,en;q=0.8",
}
ROBOTSTXT_OBEY = True

# -- pace -------------------------------------------------------------------

# Public crawlers of the real API keep to a few concurrent requests; AutoThrottle
# then follows the server's latency. Against the local simulator the latency is
# ~1 ms, so the same settings run fast there.
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 16
AUTOTHROTTLE_ENABLED = True
# Scrapy's 5 s start delay would make short runs crawl; latency feedback takes
# over after the first responses anyway.
AUTOTHROTTLE_START_DELAY = 0.25
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 8.0
# A JSON API answers in well under a minute; 180 s (Scrapy's default) only
# holds a slot on a hung connection.
DOWNLOAD_TIMEOUT = 30
# A product detail is ~20-60 KB; anything near 16 MB is not the API answering.
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
# Scrapy's default of 100 item workers per response is the largest CPU cost of
# a crawl of small JSON responses (scrapy#5182); our callbacks yield at most a
# page of items, processed in order.
CONCURRENT_ITEMS = 1

# -- components -------------------------------------------------------------

# Pipelines: cleaning (100s), validation (200s), storage (300s+).
ITEM_PIPELINES: dict[str, int] = {}

EXTENSIONS = {
    # the failures file and the failures/* stats (the exit status reads them)
    "crawler.extensions.failures.FailuresLog": 100,
    # an open console on a production crawler is a remote shell (security)
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,
}
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

SPIDER_MIDDLEWARES: dict[str, int | None] = {}
DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {}

# -- output -----------------------------------------------------------------

# A run writes into <OUTPUT_DIR>/<spider>/<run_id>/ (see crawler/feeds.py).
OUTPUT_DIR = os.environ.get("CRAWLER_OUTPUT_DIR", "output")
FEED_EXPORTERS = {"jsonlines": "crawler.exporters.OrjsonLinesItemExporter"}
FEED_EXPORT_ENCODING = "utf-8"
FEED_URI_PARAMS = "crawler.feeds.uri_params"
# no empty files: a spider that yields no brands leaves no brands file
FEED_STORE_EMPTY = False
_FEED = "%(output_dir)s/%(name)s/%(run_id)s/{}-%(batch_id)05d.jsonl"
FEEDS = {
    _FEED.format(kind): {
        "format": "jsonlines",
        "item_classes": [f"crawler.items.{cls}"],
        "batch_item_count": 1000,
    }
    for kind, cls in (
        ("brands", "Brand"),
        ("products", "Product"),
        ("comments", "Comment"),
        ("dashboard", "DashboardRow"),
    )
}

# -- logging ----------------------------------------------------------------

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
