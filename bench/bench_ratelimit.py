"""Crawling under a rate limit: this crawler against stock Scrapy, in one run.

    python bench/bench_ratelimit.py [--rates 20,100] [--size small] [--json out.json]

The simulator (a fresh one per crawl, so each starts with a full token bucket)
limits API requests to R per second (a token bucket of R tokens; over it, 429
with Retry-After) and adds 20 +- 10 ms of latency. Each crawler runs the
products crawl of the whole catalogue (``--size small``: 2,000 products, their
listing pages first), nothing tuned for R:

- ours: the project's settings (BackoffRetryMiddleware, RateLimitThrottle);
- stock: Scrapy's RetryMiddleware and AutoThrottle with Scrapy's defaults for
  both (RETRY_TIMES 2, AUTOTHROTTLE_START_DELAY 5 s, TARGET_CONCURRENCY 1,
  MAX_DELAY 60 s); the rest of the project (concurrency, pipelines) the same.

Per crawl: requests/s the site admitted (non-429 API responses over the crawl's
duration, from its run report) as a share of R; the share of API responses
that were 429; records the crawl got (scraped + rejected) and records it
lost (failed). Goal: at least 0.9 R with at most 2% of 429s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler import settings as project  # noqa: E402
from sim.testing import SimProcess  # noqa: E402

#: Scrapy's RetryMiddleware and AutoThrottle, with Scrapy's defaults
STOCK = {
    "EXTENSIONS": {
        **project.EXTENSIONS,
        "crawler.extensions.throttle.RateLimitThrottle": None,
        "scrapy.extensions.throttle.AutoThrottle": 0,
    },
    "DOWNLOADER_MIDDLEWARES": {
        **project.DOWNLOADER_MIDDLEWARES,
        "crawler.middlewares.retry.BackoffRetryMiddleware": None,
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": 550,
    },
    "RETRY_TIMES": 2,
    "RETRY_GIVE_UP_LOG_LEVEL": "ERROR",
    "AUTOTHROTTLE_START_DELAY": 5.0,
    "AUTOTHROTTLE_MAX_DELAY": 60.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
}


def crawl(size: str, rate: int, who: str, tmp: Path, timeout: float) -> dict[str, Any]:
    with SimProcess(size=size, seed=1) as sim:
        truth = sim.truth(reviews=0)
        sim.config(rate_limit=rate, latency_ms=20, jitter_ms=10)
        out = tmp / f"{who}-{rate}"
        command = [sys.executable, "-m", "scrapy", "crawl", "products", "-a", "run_id=bench",
                   "-s", "CATEGORIES=" + ",".join(map(str, truth["categories"]))]
        for name, value in (STOCK if who == "stock" else {}).items():
            text = orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
            command += ["-s", f"{name}={text}"]
        env = {**os.environ, "MARKETPLACE_URL": sim.url, "CRAWLER_OUTPUT_DIR": str(out),
               "LOG_LEVEL": "WARNING"}
        env.pop("MONGO_URI", None)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        wall = time.perf_counter() - started
        stats = sim.stats()
    report_path = out / "products" / "bench" / "report.json"
    if not report_path.exists():
        raise RuntimeError(f"the {who} crawl wrote no report:\n{proc.stderr[-3000:]}")
    report = orjson.loads(report_path.read_bytes())
    by_status = {int(k): v for k, v in stats["by_status"].items()}
    total = sum(by_status.values())
    admitted = total - by_status.get(429, 0)
    duration = report["duration_seconds"]
    items = report["items"]
    expected = truth["totals"]["listed"] - truth["totals"]["not_found"]
    return {
        "crawler": who,
        "rate_limit": rate,
        "api_requests": total,
        "responses_429": by_status.get(429, 0),
        "share_429": round(by_status.get(429, 0) / total, 4) if total else None,
        "admitted_per_second": round(admitted / duration, 2),
        "share_of_rate": round(admitted / duration / rate, 3),
        "duration_seconds": round(duration, 1),
        "process_seconds": round(wall, 1),
        "records": sum(items["scraped"].values()) + sum(items["rejected"].values()),
        "records_expected": expected,
        "failed": report["failures"]["count"],
        "exit_status": proc.returncode,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| R (req/s) | crawler | admitted req/s | share of R | 429 share | records | failed "
        "| duration |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['rate_limit']} | {r['crawler']} | {r['admitted_per_second']} | "
            f"{r['share_of_rate']:.2f} | {r['share_429']:.1%} | "
            f"{r['records']}/{r['records_expected']} | {r['failed']} | {r['duration_seconds']} s |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="20,100")
    parser.add_argument("--size", default="small")
    parser.add_argument("--crawlers", default="ours,stock")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per crawl")
    parser.add_argument("--json", help="write the figures here")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as folder:
        for rate in (int(r) for r in options.rates.split(",")):
            for who in options.crawlers.split(","):
                rows.append(crawl(options.size, rate, who, Path(folder), options.timeout))
                print(f"R={rate} {who}: {rows[-1]}", file=sys.stderr, flush=True)
    print(table(rows))
    if options.json:
        Path(options.json).write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
