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
# Kept as text: the spiders parse it as they parse -a categories, so that
# CATEGORIES=abc is the same one-sentence error (exit 2), not a traceback here.
CATEGORIES = os.environ.get("CATEGORIES", "1789,1846")
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

# The API is one host, so CONCURRENT_REQUESTS_PER_DOMAIN is the cap that counts
# (raise it together with CONCURRENT_REQUESTS; the benchmarks set both). 16 in
# flight: the site's 429s, not a guess, then set the pace (RateLimitThrottle,
# README "Throttling"); against the simulator's ~1 ms latency it runs fast.
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 16
# AutoThrottle's latency rule, run by RateLimitThrottle (EXTENSIONS below).
AUTOTHROTTLE_ENABLED = True
# Scrapy's 5 s start delay would make short runs crawl; latency feedback takes
# over after the first responses anyway. Only with the latency rule (below).
AUTOTHROTTLE_START_DELAY = 0.25
AUTOTHROTTLE_MAX_DELAY = 30.0
# AUTOTHROTTLE_TARGET_CONCURRENCY is not set here (Scrapy: 1): unset,
# RateLimitThrottle takes the per-domain cap, CONCURRENT_REQUESTS_PER_DOMAIN as
# the crawl has it (-s, a spider's custom_settings), so that the latency rule
# does not cap a site that answers fine: with a target at or above the slot's
# concurrency, RateLimitThrottle leaves the pacing to the cap, whose rate
# (concurrency / latency) already falls when the site slows down. AutoThrottle's
# delay on top of the cap (target = concurrency = 64) cost a third of the
# latency-bound benchmark's throughput (0.45-0.50 of the limit instead of
# 0.71). It was float(CONCURRENT_REQUESTS_PER_DOMAIN) here, fixed when this
# file was read: -s CONCURRENT_REQUESTS_PER_DOMAIN=64 left it at 16 and turned
# the latency delay on. Set it (e.g. -s AUTOTHROTTLE_TARGET_CONCURRENCY=4),
# lower than CONCURRENT_REQUESTS_PER_DOMAIN, to keep fewer requests in flight
# on average; a value set anywhere is kept.
# The HTTP client: Scrapy's aiohttp handler (experimental upstream) costs less
# CPU per request than Twisted's (docs/benchmarks.md); crawler/handlers/aiohttp.py
# says how to fall back to Twisted's. The dashboard spider sets its own
# (scrapy-playwright).
DOWNLOAD_HANDLERS = {
    "http": "crawler.handlers.aiohttp.AiohttpHandler",
    "https": "crawler.handlers.aiohttp.AiohttpHandler",
}
# A JSON API answers in well under a second; 180 s (Scrapy's default) only
# holds a slot on a hung connection. With 5 retries a hung request costs at
# most 6 x 20 s plus the waits, and the failures file names it.
DOWNLOAD_TIMEOUT = 20
# A product detail is ~20-60 KB and a listing page ~100-200 KB; a body over
# 4 MB is not the API answering (it fails as body_too_large, not retried).
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
# Scrapy's default of 100 item workers per response is the largest CPU cost of
# a crawl of small JSON responses (scrapy#5182); our callbacks yield at most a
# page of items, processed in order.
CONCURRENT_ITEMS = 1

# -- resilience -------------------------------------------------------------
# Retries, 429 throttling, JOBDIR resume and the HTTP cache: see
# README "Resilience". The components are listed under EXTENSIONS and
# DOWNLOADER_MIDDLEWARES below.

# 5 retries (6 attempts) of 429, 5xx, 408, timeouts, lost connections and
# malformed JSON bodies (Scrapy: 2, at once). The n-th waits Retry-After when
# the API sends one, else 1, 2, 4, 8, 16 s (at most 60 s), each between half
# and all of it (jitter): ~30 s of waiting outlasts a short outage.
RETRY_TIMES = 5
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 60.0
RETRY_BACKOFF_JITTER = 0.5
# a Retry-After longer than this is cut to it (a retry then may meet another 429)
RETRY_AFTER_MAX = 120.0
# a 200 whose JSON does not parse is a cut body or a proxy's page: retried
RETRY_MALFORMED_JSON = True
# the spider logs a request that failed for good, once, with its reason
RETRY_GIVE_UP_LOG_LEVEL = "DEBUG"
# After a 429 a slot sends at 90% of the rate the site admitted over the last
# 2 s, then 2% more per second while no 429 comes (README "Throttling"): no
# setting to match the site's limit; about 1% 429s at 0.95-1.0 of it (bench).
THROTTLE_429_ENABLED = True
THROTTLE_429_BACKOFF = 0.9
THROTTLE_429_WINDOW = 2.0
THROTTLE_429_RECOVERY = 0.02
# With JOBDIR: how often requests are journaled as done (their items flushed
# to the feeds and, with MongoDB on, acknowledged); what a kill makes redo.
RESUME_CHECKPOINT_SECONDS = 2.0
# The HTTP cache is off; turn it on for re-runs of the same crawl
# (-s HTTPCACHE_ENABLED=True): RFC 2616 rules with the API's ETag and
# Cache-Control, so a second run within max-age sends no request and a later
# one revalidates (304). Answers that are retried are never stored.
HTTPCACHE_ENABLED = False
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.RFC2616Policy"
HTTPCACHE_IGNORE_HTTP_CODES = [408, 429, 500, 502, 503, 504, 522, 524]

# -- components -------------------------------------------------------------

# Pipelines: cleaning (100s), validation (200s), storage (300s+).
ITEM_PIPELINES: dict[str, int] = {
    # HTML and entities to clean text, the description sanitised: validation
    # then judges what users get ("   " as a name is empty once cleaned)
    "crawler.pipelines.clean.CleanPipeline": 100,
    # a schema per item type; invalid items go to the rejects file, not further
    "crawler.pipelines.validate.ValidatePipeline": 200,
    # product images (and, with REVIEW_IMAGES, review photos) stored once and
    # linked from the record (250): only valid items, before MongoDB stores
    # them; listed by ImagesAddon (ADDONS) when IMAGES_STORE is set
    # (docs/images.md)
    # batch upserts into MongoDB (300), only valid items: listed by MongoAddon
    # (ADDONS) when MONGO_URI is set, so that a run without MongoDB logs no
    # "Disabled" WARNING
}

# -- images (docs/images.md) -------------------------------------------------

# Off when empty: a folder, or s3://bucket/prefix (credentials, region and
# endpoint from the environment, as botocore reads them: AWS_ACCESS_KEY_ID, ...).
IMAGES_STORE = os.environ.get("IMAGES_STORE", "")
# the first N images of a product, each at its largest size; 0: all
IMAGES_PER_PRODUCT = 0
# review photos too (the comments spider's items)
REVIEW_IMAGES = False
# one small thumbnail per image (name -> (width, height)), for listings
IMAGES_THUMBS = {"small": (100, 100)}
# an image stored less than 90 days ago is not downloaded again (Scrapy's default)
IMAGES_EXPIRES = 90
# product photos are well under 1 MB; over 10 MB is not a photo (too_large)
IMAGES_MAX_BYTES = 10 * 1024 * 1024
# 40 megapixels: more than any product photo, far less memory than a
# decompression bomb would take (Pillow's own check, at 89 MP, stays on)
IMAGES_MAX_PIXELS = 40_000_000
# the hosts images may come from: "host" (the scheme's default port) or
# "host:port"; the marketplace's image CDN. Tests and the demo add the simulator.
IMAGES_ALLOWED_HOSTS = ["salt.tikicdn.com"]
# admit loopback addresses for the allowed hosts: ONLY tests and the demo (the
# simulator is on 127.0.0.1). Private, link-local and metadata addresses are
# refused whatever this says.
IMAGES_ALLOW_LOOPBACK = False
# the image guard's DNS resolver (a function host -> addresses); tests set theirs
IMAGES_RESOLVER = "crawler.ssrf.system_resolver"
# image requests in the downloader at once (their own slot): 8 of the 32 of
# CONCURRENT_REQUESTS, so the API's 16 per domain always fit
IMAGES_CONCURRENCY = 8
# a CDN answers in well under a second; a slow image ends as timeout, not a stall
IMAGES_DOWNLOAD_TIMEOUT = 30.0
# 2 retries (429, 5xx, timeouts): an image is not worth the API's 5
IMAGES_RETRY_TIMES = 2
# URLs whose result a run remembers (a repeated URL is answered without a
# stat); older ones are asked of the store again: flat memory
IMAGES_MEMO_SIZE = 10_000

# -- MongoDB ----------------------------------------------------------------

# Off when empty. From the environment, so that credentials stay out of files
# and command lines; logged without the password.
MONGO_URI = os.environ.get("MONGO_URI", "")
MONGO_DATABASE = os.environ.get("MONGO_DATABASE", "marketplace")
# 500 upserts per bulk_write: few round trips, a few MB per request at most
MONGO_BATCH_SIZE = 500
# a slow crawl still writes what it has at least this often
MONGO_FLUSH_SECONDS = 5.0
# a batch is retried 6 times, the waits doubling from 0.5 s up to 30 s (about
# 30 s of waiting plus the server-selection timeouts) before it is given up
MONGO_RETRY_TIMES = 6
MONGO_RETRY_BACKOFF = 0.5
MONGO_RETRY_BACKOFF_MAX = 30.0
# pymongo waits 30 s to find a server by default; 10 s lets a retry come sooner
MONGO_TIMEOUT_SECONDS = 10.0
# pymongo's default has no socket timeout: a hung server would hang the crawl
MONGO_SOCKET_TIMEOUT_SECONDS = 60.0
# write concern j:true: a batch counts as stored once it is in the journal, so
# a server that crashes right after acknowledging it loses nothing counted
MONGO_JOURNAL = True

EXTENSIONS = {
    # the failures file and the failures/* stats (the exit status reads them)
    "crawler.extensions.failures.FailuresLog": 100,
    # report.json next to the feeds and the run's verdict (the exit status)
    "crawler.extensions.report.RunReport": 110,
    # records done / known total / rate / ETA; says more than LogStats
    "crawler.extensions.progress.Progress": 120,
    "scrapy.extensions.logstats.LogStats": None,
    # AutoThrottle plus a rate per slot that drops on 429 and recovers gently
    # (Scrapy's never slows down on 429); takes AutoThrottle's place
    "scrapy.extensions.throttle.AutoThrottle": None,
    "crawler.extensions.throttle.RateLimitThrottle": 0,
    # JOBDIR jobs that resume exactly after a kill (off without JOBDIR); the
    # feeds it continues get their item filter from ResumeAddon (ADDONS)
    "crawler.resume.extension.ResumeJournal": 130,
    # the Parquet twins of the JSON Lines batch files (off unless PARQUET_FEEDS)
    "crawler.extensions.parquet.ParquetBatches": 140,
    # an open console on a production crawler is a remote shell (security)
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,
}
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Default components that cost CPU on every request or response and do
# nothing for a stateless JSON API (measured: ~10% of a crawl's CPU):
SPIDER_MIDDLEWARES: dict[str, int | None] = {
    # no DEPTH_LIMIT here, and the depth stats say nothing about an API crawl
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
    # the spiders build every URL; none comes from a page
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": None,
    # a development aid (warns about meta copied between requests)
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
    # the spiders set the Referer the API expects (<MARKETPLACE_URL>/) on every
    # request; this one would only compute a policy per request to keep it
    "scrapy.spidermiddlewares.referer.RefererMiddleware": None,
}
DOWNLOADER_MIDDLEWARES: dict[str, int | None] = {
    # the image guard (no SSRF): every image request and redirect is checked
    # before robots.txt (100) or anything else could open a connection; off
    # unless IMAGES_STORE is set (docs/images.md)
    "crawler.middlewares.image_guard.ImageGuardMiddleware": 50,
    # the API needs no HTTP auth, sets no session cookies (the guest token is a
    # header) and answers JSON, never an HTML meta refresh
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware": None,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    # no spider has allowed_domains (every URL is built from MARKETPLACE_URL),
    # so it filters nothing and only parses each request's host
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    # retries after a backoff or Retry-After wait that blocks nothing else, in
    # the place of Scrapy's RetryMiddleware (550, which retries at once): below
    # the HTTP cache (900), so it sees what the cache answered
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.retry.BackoffRetryMiddleware": 550,
    # redirects followed within the API (the duplicate filter aside, so that a
    # product redirected to one fetched already is not dropped), refused to any
    # other host (failure offsite_redirect); it keeps the spiders' Referer, so
    # without RefererMiddleware (above) it has nothing to warn about
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.middlewares.redirect.ApiRedirectMiddleware": 600,
}
# A development check that re-reads a callback's source (inspect.getsource,
# ast.parse) whenever its small cache of bound methods misses: on every few
# responses, ~3% of a crawl's CPU. None of our generator callbacks returns a
# value; that is for review and ruff, not for a check per response.
WARN_ON_GENERATOR_RETURN_VALUE = False

# -- distributed crawling (README "Distributed crawls") --------------------------------

# Off: one process. On (-s DISTRIBUTED=1): this process is one worker of a crawl
# shared through Redis; the add-on then sets the scheduler, the seeding and the
# shared rate limit (crawler/distributed/addon.py) and changes nothing when off.
DISTRIBUTED = os.environ.get("DISTRIBUTED") or "0"  # "1"/"true": on (parsed by getbool)
# this worker's name, unique among the workers; empty: <host>-<pid>, set by the
# add-on so that every component of the worker uses the same name
DISTRIBUTED_WORKER_ID = ""
# a worker silent for 10 s (it beats every third of it) is gone and its
# requests in flight are queued again: 3 beats missed, not one slow Redis call
DISTRIBUTED_HEARTBEAT_SECONDS = 10.0
# requests done are acknowledged every second (their items flushed to the
# feeds and, with MongoDB on, stored): what a killed worker makes others redo
DISTRIBUTED_ACK_SECONDS = 1.0
# a worker without work looks at the shared queue 5 times a second: idle
# workers pick new requests up soon, at a few Redis calls a second each
DISTRIBUTED_POLL_SECONDS = 0.2
# requests per second to the site, all workers together; 0: none (the site's
# 429s still lower the shared rate, THROTTLE_429_* above)
DISTRIBUTED_RATE_LIMIT = 0.0
# from the environment: a URL with a password stays out of files (never
# logged); an empty variable counts as unset
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
# the name of the crawl the workers share (Redis keys <spider>:<crawl>:*); an
# empty variable counts as unset
DISTRIBUTED_CRAWL = os.environ.get("DISTRIBUTED_CRAWL") or "default"
ADDONS = {
    "crawler.distributed.addon.DistributedAddon": 0,
    # MongoUpsertPipeline in ITEM_PIPELINES when MONGO_URI is set (see above)
    "crawler.pipelines.mongo.MongoAddon": 5,
    # ProductImagesPipeline in ITEM_PIPELINES when IMAGES_STORE is set (see above)
    "crawler.pipelines.images.ImagesAddon": 6,
    # a resumed JOBDIR job: the feeds it continues skip the items their files
    # hold (crawler/resume/addon.py); changes nothing otherwise
    "crawler.resume.addon.ResumeAddon": 10,
}

# -- output -----------------------------------------------------------------

# A run writes into <OUTPUT_DIR>/<spider>/<run_id>/ (see crawler/run.py).
OUTPUT_DIR = os.environ.get("CRAWLER_OUTPUT_DIR", "output")
FEED_EXPORTERS = {
    "jsonlines": "crawler.exporters.OrjsonLinesItemExporter",
    # -o products.parquet, "format": "parquet" (docs/parquet.md)
    "parquet": "crawler.exporters.ParquetItemExporter",
}
# off / beside / instead: a Parquet twin of each JSON Lines batch file of the run
# folder (products-00001.parquet), written once the batch file is closed;
# "instead" removes the JSON Lines file then (kept in a JOBDIR job, whose resume
# reads it). Off by default: Parquet costs CPU that most runs do not need.
PARQUET_FEEDS = os.environ.get("PARQUET_FEEDS") or "off"
# rows per Parquet row group: DuckDB, Polars and Spark read row groups in
# parallel and skip them by their min/max; 20,000 products are ~80 MB of column
# data (~8 MB zstd), and a -o parquet feed holds ~200 MB while it builds one. A
# batch file's twin (1,000 items) is one group.
PARQUET_ROW_GROUP_ROWS = 20_000
FEED_EXPORT_ENCODING = "utf-8"
FEED_URI_PARAMS = "crawler.run.uri_params"
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

# -- daily tracking (docs/tracking.md) -----------------------------------------

# the product fields whose change is a product_history row: what the users of
# the history follow (prices and discounts, stock, rating and reviews, sales,
# name, brand, seller); a field left out is still stored, only not compared
TRACK_FIELDS = [
    "price",
    "list_price",
    "original_price",
    "discount",
    "discount_rate",
    "inventory_status",
    "stock_qty",
    "rating_average",
    "review_count",
    "quantity_sold",
    "all_time_quantity_sold",
    "name",
    "brand_id",
    "brand_name",
    "seller_id",
    "seller_name",
]
# products -a mode=track fetches a detail older than this many days again
# (rolling refresh): fields only the detail has are never older than a week
TRACK_REFRESH_DAYS = 7
# the changes feed; empty: <run dir>/changes-00001.jsonl, beside the run's feeds
CHANGES_FILE = ""

# -- run report and progress -------------------------------------------------

# report.json next to the feeds and the verdict that sets the exit status
REPORT_ENABLED = True
# any failed record that means trouble (a timeout, a 5xx out of retries, a
# malformed body, a storage error) breaks the run (exit status 1); a listed id
# that answers 404 is a withdrawn product and never does (crawler/ledger.py)
REPORT_MAX_FAILURE_SHARE = 0.0
# fewer items than this break the run; 0: no minimum
REPORT_MIN_ITEMS = 0
# seconds between progress lines (0: none)
PROGRESS_INTERVAL = 30.0
# seconds between samples of the records done, for the HTML report's rate plot:
# a short run still gets a curve; at most 300 kept, so a long run costs no more
# (0: none)
PROGRESS_SAMPLE_INTERVAL = 1.0
# a run whose valid items fall by more than this share against the previous
# complete run of the same spider and scope breaks (exit status 1); None: no
# such rule (a catalogue may shrink for good; a daily job sets e.g. 0.2)
REPORT_MAX_ITEM_DROP = None
# {"<type>/<field>": share}: a field whose share of non-empty values is below
# its minimum breaks the run; empty: no minimum (which fields matter is the
# user's call: e.g. {"product/price": 0.95})
REPORT_MIN_COVERAGE: dict[str, float] = {}
# a field's coverage or a type's item count that moved more than this share
# (coverage: points of share; counts: relative) against the previous complete
# run is flagged in report.html; only a flag, never the exit status
REPORT_FLAG_TOLERANCE = 0.05

# -- logging ----------------------------------------------------------------

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")

# -- Playwright (dashboard spider) --------------------------------------------
# Only the dashboard spider routes requests through scrapy-playwright: its
# DOWNLOAD_HANDLERS are set in the spider's custom_settings, so the API
# spiders keep Scrapy's own HTTP handler. These settings are read only there.

# The dashboard's address when it is not on MARKETPLACE_URL (empty: same host).
DASHBOARD_URL = os.environ.get("DASHBOARD_URL", "")
# seconds to wait for a table page to render after Apply/Next
DASHBOARD_TABLE_TIMEOUT = 30.0
# retries (Retry button) of a table page that failed to load
DASHBOARD_TABLE_RETRIES = 2
# sign-ins again within one chunk before the chunk is given up
DASHBOARD_SESSION_RENEWALS = 2
# the longest date range the dashboard's filter accepts
DASHBOARD_MAX_CHUNK_DAYS = 31
# where a failed chunk's screenshot and HTML go; empty: <run dir>/debug, next
# to the run's feeds and its failures file
DASHBOARD_DEBUG_DIR = ""

PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    # Debian's Chromium, installed by scripts/setup-system.sh: `playwright
    # install` downloads a browser build, which this project never needs
    "executable_path": "/usr/bin/chromium",
    "headless": True,
    "args": [
        # Chromium refuses to run as root with its sandbox
        "--no-sandbox",
        "--disable-gpu",
        # no calls home (updates, sync, field trials): offline machines
        # otherwise see connection errors in a loop
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ],
}
# images, fonts and media are not data: never downloaded
PLAYWRIGHT_ABORT_REQUEST = "crawler.browser.should_abort_request"
# a dashboard page loads in well under a second; give up on a hung one
# sooner than Playwright's 30 s (ms)
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 20_000
