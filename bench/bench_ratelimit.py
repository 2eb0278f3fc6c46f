"""Crawling under a rate limit: this crawler against stock Scrapy, in one run.

    python bench/bench_ratelimit.py [--rates 20,100] [--size small] [--json out.json]
                                    [--latency]

The simulator (a fresh one per crawl, so each starts with a full token bucket)
limits API requests to R per second (a token bucket of R tokens; over it, 429
with Retry-After) and adds 20 +- 10 ms of latency. Each crawler runs the
products crawl of the whole catalogue (``--size small``: 2,000 products, their
listing pages first), nothing tuned for R:

- ours: the project's settings (BackoffRetryMiddleware, RateLimitThrottle);
- stock: Scrapy's RetryMiddleware and AutoThrottle with Scrapy's defaults for
  both (RETRY_TIMES 2, AUTOTHROTTLE_START_DELAY 5 s, TARGET_CONCURRENCY 1,
  MAX_DELAY 60 s); the rest of the project (concurrency, pipelines) the same.

The crawls run two at a time (``--jobs``; ours and stock of one R side by
side), each against its own simulator: at these rates a crawl needs a small
share of a core. The whole benchmark takes about 3.5 minutes (R=20: ~2 minutes
for both crawlers, R=100: ~1.5 minutes, stock's being the slower one).

Per crawl: requests/s the site admitted (non-429 API responses over the crawl's
duration, from its run report) as a share of R; the share of API responses
that were 429; records the crawl got (scraped + rejected) and records it lost
(failed: the catalogue's 404s are expected). Goal: at least 0.9 R with at most
2% of 429s. (The bucket's first R tokens come on top of R per second: a crawl
that keeps to the limit can show a share a little above 1.)

``--latency`` adds the latency-bound check of the throttle (issue 7's
scenario: 100 +- 20 ms, CONCURRENT_REQUESTS and ..._PER_DOMAIN 64, limit
640 records/s), records/s as a share of the limit for: the project's settings
with AUTOTHROTTLE_TARGET_CONCURRENCY 64 (as bench/run.py), the same with a
target just under the concurrency (AutoThrottle's latency delay at work, as
before RateLimitThrottle left the pacing to the concurrency cap) and with no
throttle at all (the ceiling).

Prints a markdown table; writes the figures as JSON, a list of one row per
crawl (``--json``, by default bench/results/ratelimit-<time>.json), and the
latency-bound ones next to it (``<name>-latency.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler import settings as project  # noqa: E402
from sim.testing import SimProcess  # noqa: E402

RESULTS = ROOT / "bench" / "results"

#: Scrapy's RetryMiddleware and AutoThrottle, with Scrapy's defaults
STOCK: dict[str, Any] = {
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

#: issue 7's latency-bound scenario
LATENCY_CONCURRENCY, LATENCY_S = 64, 0.100
LATENCY_VARIANTS: dict[str, dict[str, Any]] = {
    "throttle, target 64 (now)": {"AUTOTHROTTLE_TARGET_CONCURRENCY": 64},
    "throttle, target 63.9 (latency delay on, before)": {"AUTOTHROTTLE_TARGET_CONCURRENCY": 63.9},
    "no throttle": {"AUTOTHROTTLE_ENABLED": False},
}


def run_products(
    url: str, out: Path, args: list[str], settings: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str], float]:
    """One ``scrapy crawl products`` process; its run report."""
    command = [sys.executable, "-m", "scrapy", "crawl", "products", "-a", "run_id=bench", *args]
    for name, value in settings.items():
        text = orjson.dumps(value).decode() if isinstance(value, dict) else str(value)
        command += ["-s", f"{name}={text}"]
    env = {
        **os.environ,
        "MARKETPLACE_URL": url,
        "CRAWLER_OUTPUT_DIR": str(out),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MONGO_URI", None)
    started = time.perf_counter()
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    wall = time.perf_counter() - started
    report_path = out / "products" / "bench" / "report.json"
    if not report_path.exists():
        raise RuntimeError(f"the crawl in {out} wrote no report:\n{proc.stderr[-3000:]}")
    return orjson.loads(report_path.read_bytes()), proc, wall


def records(report: dict[str, Any]) -> int:
    items = report["items"]
    return sum(items["scraped"].values()) + sum(items["rejected"].values())


def crawl(size: str, rate: int, who: str, tmp: Path, timeout: float) -> dict[str, Any]:
    with SimProcess(size=size, seed=1) as sim:
        truth = sim.truth(reviews=0)
        sim.config(rate_limit=rate, latency_ms=20, jitter_ms=10)
        settings = {
            "CATEGORIES": ",".join(map(str, truth["categories"])),
            **(STOCK if who == "stock" else {}),
        }
        report, proc, wall = run_products(sim.url, tmp / f"{who}-{rate}", [], settings, timeout)
        stats = sim.stats()
    by_status = {int(k): v for k, v in stats["by_status"].items()}
    total = sum(by_status.values())
    limited = by_status.get(429, 0)
    admitted = total - limited
    duration = report["duration_seconds"]
    return {
        "crawler": who,
        "rate_limit": rate,
        "api_requests": total,
        "responses_429": limited,
        "share_429": round(limited / total, 4) if total else None,
        "admitted_per_second": round(admitted / duration, 2),
        "share_of_rate": round(admitted / duration / rate, 3),
        "duration_seconds": round(duration, 1),
        "process_seconds": round(wall, 1),
        "records": records(report),
        "records_expected": truth["totals"]["listed"] - truth["totals"]["not_found"],
        "failed": report["failures"]["count"],
        "not_found": truth["totals"]["not_found"],
        "exit_status": proc.returncode,
    }


def latency_bound(size: str, repeats: int, count: int, tmp: Path, timeout: float) -> list[dict]:
    """Issue 7's latency-bound scenario, the throttle on and off, runs interleaved."""
    limit = LATENCY_CONCURRENCY / LATENCY_S
    base = {
        "CONCURRENT_REQUESTS": LATENCY_CONCURRENCY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": LATENCY_CONCURRENCY,
        "ROBOTSTXT_OBEY": False,
    }
    shares: dict[str, list[float]] = {name: [] for name in LATENCY_VARIANTS}
    with SimProcess(size=size, seed=1) as sim:
        ids = sim.truth(reviews=0)["products"]["valid"][:count]
        path = tmp / "latency-ids.csv"
        path.write_text("id\n" + "\n".join(map(str, ids)) + "\n", encoding="utf-8")
        sim.config(latency_ms=LATENCY_S * 1000, jitter_ms=20)
        for n in range(repeats):
            for i, (name, extra) in enumerate(LATENCY_VARIANTS.items()):
                report, _, _ = run_products(
                    sim.url,
                    tmp / f"latency-{n}-{i}",
                    ["-a", f"ids_file={path}"],
                    {**base, **extra},
                    timeout,
                )
                shares[name].append(records(report) / report["duration_seconds"] / limit)
                print(f"latency-bound {name}: {shares[name][-1]:.3f}", file=sys.stderr, flush=True)
    return [
        {
            "variant": name,
            "limit_records_per_second": limit,
            "share_of_limit": round(statistics.median(values), 3),
            "runs": [round(v, 3) for v in values],
        }
        for name, values in shares.items()
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| R (req/s) | crawler | admitted req/s | share of R | 429 share | records | failed "
        "(404s) | duration |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['rate_limit']} | {r['crawler']} | {r['admitted_per_second']} | "
            f"{r['share_of_rate']:.2f} | {r['share_429']:.1%} | "
            f"{r['records']}/{r['records_expected']} | {r['failed']} ({r['not_found']}) | "
            f"{r['duration_seconds']} s |"
        )
    return "\n".join(lines)


def latency_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| latency-bound (100±20 ms, concurrency 64, limit 640/s) | share of limit "
        "(median) | runs |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {r['variant']} | {r['share_of_limit']:.3f} | {r['runs']} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="20,100")
    parser.add_argument("--size", default="small")
    parser.add_argument("--crawlers", default="ours,stock")
    parser.add_argument("--jobs", type=int, default=2, help="crawls at once (1: one by one)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per crawl")
    parser.add_argument("--latency", action="store_true", help="add the latency-bound check")
    parser.add_argument("--latency-repeats", type=int, default=2)
    parser.add_argument("--latency-count", type=int, default=2000)
    parser.add_argument("--json", help="write the figures here (default: bench/results/)")
    options = parser.parse_args()
    runs = [
        (int(rate), who)
        for rate in filter(None, options.rates.split(","))
        for who in options.crawlers.split(",")
    ]
    with tempfile.TemporaryDirectory(prefix="bench-ratelimit-") as folder:
        tmp = Path(folder)

        def one(run: tuple[int, str]) -> dict[str, Any]:
            row = crawl(options.size, run[0], run[1], tmp, options.timeout)
            print(f"R={run[0]} {run[1]}: {row}", file=sys.stderr, flush=True)
            return row

        with ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            rows = list(pool.map(one, runs))
        if options.latency:
            latency = latency_bound(
                options.size, options.latency_repeats, options.latency_count, tmp, options.timeout
            )
    print(table(rows))
    if options.json:
        path = Path(options.json)
    else:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        path = RESULTS / f"ratelimit-{stamp}.json"
    # a list of rows, one per crawl: bench/run.py reads them into its table
    path.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    print(f"\nfigures: {path}")
    if options.latency:
        print()
        print(latency_table(latency))
        latency_path = path.with_name(f"{path.stem}-latency.json")
        latency_path.write_bytes(orjson.dumps(latency, option=orjson.OPT_INDENT_2))
        print(f"\nfigures: {latency_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
