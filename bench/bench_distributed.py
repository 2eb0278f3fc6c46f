"""Distributed crawling: records/s with 1, 2 and 3 workers, and what the site
sees from 3 workers under a shared rate limit.

    python bench/bench_distributed.py [--size small] [--workers 1,2,3] [--rate 50]
                                      [--json out.json]

Redis is Debian's ``redis-server`` on a free loopback port (tests/support/servers.py);
the simulator is a fresh one per run, ``--size small`` (2,000 products) with
20 +- 10 ms of latency. Every worker is a ``scrapy crawl products -s
DISTRIBUTED=1`` process with the project's settings; the figures come from the
workers' run reports (first start to last finish) and the simulator's stats.

- scaling: records (scraped + rejected) per second of the crawl as a whole, with
  1, 2, 3 workers and no rate limit;
- rate: the simulator limits API requests to R per second (a token bucket of R
  tokens; over it, 429 with Retry-After). Three workers with
  ``DISTRIBUTED_RATE_LIMIT=R`` (configured), three workers that learn the limit
  from 429s only (learned), and, for comparison, three one-process crawls of
  the same catalogue at the same time (independent: each paces itself). Per
  run: the simulator's admitted requests/s (non-429 responses over the crawl),
  its busiest second (``max_rps_1s``) and the share of 429s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.testing import SimProcess  # noqa: E402
from tests.support.servers import RedisServer  # noqa: E402


def run_workers(
    count: int,
    sim: SimProcess,
    redis_url: str,
    tmp: Path,
    settings: dict[str, Any],
    distributed: bool = True,
    timeout: float = 900,
) -> list[dict[str, Any]]:
    """Start ``count`` crawl processes at once; return their run reports."""
    categories = ",".join(map(str, sim.truth(reviews=0)["categories"]))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MARKETPLACE_URL": sim.url,
        "CATEGORIES": categories,
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }
    procs = []
    for index in range(count):
        output = tmp / f"w{index}"
        args = [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "products",
            "-a",
            "run_id=bench",
            "-s",
            f"OUTPUT_DIR={output}",
            "-s",
            f"DISTRIBUTED={int(distributed)}",
        ]
        for name, value in settings.items():
            args += ["-s", f"{name}={value}"]
        procs.append(
            (
                output,
                subprocess.Popen(
                    args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                ),
            )
        )
    reports = []
    for output, proc in procs:
        proc.wait(timeout=timeout)
        (path,) = output.glob("products/*/report.json")
        reports.append(orjson.loads(path.read_bytes()))
    return reports


def records(report: dict[str, Any]) -> int:
    items = report["items"]
    return sum(items["scraped"].values()) + sum(items["rejected"].values())


def span(reports: list[dict[str, Any]]) -> float:
    start = min(datetime.fromisoformat(r["started_at"]) for r in reports)
    end = max(datetime.fromisoformat(r["finished_at"]) for r in reports)
    return (end - start).total_seconds()


def scaling(size: str, counts: list[int], redis_url: str, tmp: Path) -> list[dict[str, Any]]:
    rows = []
    for count in counts:
        with SimProcess().start(size=size, seed=1, latency_ms=20, jitter_ms=10) as sim:
            reports = run_workers(count, sim, f"{redis_url}/{count}", tmp / f"scale-{count}", {})
            stats = sim.stats()
        seconds = span(reports)
        total = sum(records(r) for r in reports)
        rows.append(
            {
                "workers": count,
                "records": total,
                "seconds": round(seconds, 2),
                "records_per_s": round(total / seconds, 1),
                "per_worker": [records(r) for r in reports],
                "product_refetched": len(stats["product_refetched"]),
            }
        )
    return rows


def rate_runs(size: str, rate: int, redis_url: str, tmp: Path) -> list[dict[str, Any]]:
    runs = [
        ("configured", True, {"DISTRIBUTED_RATE_LIMIT": rate}),
        ("learned", True, {}),
        ("independent", False, {}),
    ]
    rows = []
    for db, (name, distributed, settings) in enumerate(runs, start=10):
        with SimProcess().start(
            size=size, seed=1, latency_ms=20, jitter_ms=10, rate_limit=rate
        ) as sim:
            reports = run_workers(
                3, sim, f"{redis_url}/{db}", tmp / f"rate-{name}", settings, distributed=distributed
            )
            stats = sim.stats()
        seconds = span(reports)
        refused = stats["by_status"].get("429", 0)
        answered = sum(stats["by_status"].values())
        rows.append(
            {
                "run": name,
                "limit": rate,
                "seconds": round(seconds, 2),
                "admitted_per_s": round((answered - refused) / seconds, 1),
                "max_rps_1s": stats["max_rps_1s"],
                "share_429": round(refused / answered, 4) if answered else 0.0,
                "records": sum(records(r) for r in reports),
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="small")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--rate", type=int, default=50)
    parser.add_argument("--skip-rate", action="store_true")
    parser.add_argument("--json", help="write the figures here")
    opts = parser.parse_args()
    counts = [int(c) for c in opts.workers.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp_name:
        tmp = Path(tmp_name)
        server = RedisServer(tmp / "redis").start()
        try:
            figures: dict[str, Any] = {
                "cpus": os.cpu_count(),
                "size": opts.size,
                "scaling": scaling(opts.size, counts, server.url, tmp),
            }
            print("records/s by number of workers (no rate limit):")
            print(table(figures["scaling"]))
            if not opts.skip_rate:
                figures["rate"] = rate_runs(opts.size, opts.rate, server.url, tmp)
                print(f"\n3 workers, the site limited to {opts.rate} requests/s:")
                print(table(figures["rate"]))
            with redis.Redis.from_url(server.url) as client:
                client.flushall()
        finally:
            server.stop()
    if opts.json:
        Path(opts.json).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
