"""Daily tracking against a full crawl: requests and CPU, and the same MongoDB state.

    python bench/bench_tracking.py [--size medium] [--seed 1] [--json out.json]

In one run, on one simulator (20,000 products by default) and one MongoDB server:

1. day 0: a full ``products`` and ``comments`` crawl into database ``tracked``;
2. ``POST /_sim/advance {"days": 1}``;
3. tracking: ``products -a mode=track`` then ``comments -a mode=new`` on ``tracked``;
4. full: ``products`` then ``comments`` into a fresh database ``full`` (the day's
   full crawl);
5. both databases are compared: the listed products (ids and every field of
   ``TRACK_FIELDS``), the withdrawn ones, and the reviews of the listed products.

Requests are the simulator's API requests (``/_sim/stats``) of each crawl; CPU is
the crawl processes' user + system time (``RUSAGE_CHILDREN`` around each one).
Goal: tracking at most 1/10 of the full crawl's requests, with the same state.
Each crawl is ``python -m scrapy crawl`` as a user runs it; the server is
``secantusd-py`` on a free loopback port, or ``--uri`` / ``MONGO_URI``.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler import settings as defaults  # noqa: E402
from sim.testing import SimProcess  # noqa: E402
from tests.support.servers import MongoServer  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def crawl(
    spider: str, sim: SimProcess, uri: str, database: str, out: Path, **args: str
) -> dict[str, Any]:
    """One ``scrapy crawl``: its requests, CPU seconds, wall seconds and exit status."""
    settings = {
        "MARKETPLACE_URL": sim.url,
        "MONGO_URI": uri,
        "MONGO_DATABASE": database,
        "OUTPUT_DIR": str(out),
        "LOG_LEVEL": "WARNING",
        "PROGRESS_INTERVAL": 0,
    }
    command = [sys.executable, "-m", "scrapy", "crawl", spider]
    for name, value in args.items():
        command += ["-a", f"{name}={value}"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    sim.reset()
    cpu, wall = children_cpu(), time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    stats = sim.stats()
    return {
        "spider": spider,
        "args": args,
        "requests": stats["total"],
        "by_kind": stats["by_kind"],
        "cpu_seconds": round(children_cpu() - cpu, 2),
        "wall_seconds": round(time.perf_counter() - wall, 2),
        "returncode": proc.returncode,
        # the last log line of a crawl that failed (not kept in the results: it may
        # name this machine's paths)
        "_log_tail": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
    }


def state(uri: str, database: str) -> dict[str, Any]:
    """What a day's MongoDB state is made of, to compare two databases."""
    fields = defaults.TRACK_FIELDS
    with MongoClient(uri, tz_aware=True) as client:
        db = client[database]
        products = {d["_id"]: d for d in db["products"].find()}
        listed = {pid: d for pid, d in products.items() if d.get("delisted_at") is None}
        comments = [
            d["_id"]
            for d in db["comments"].find({}, {"_id": 1, "product_id": 1})
            if d["product_id"] in listed
        ]
    return {
        "listed": {pid: tuple(d.get(f) for f in fields) for pid, d in listed.items()},
        "comments": sorted(comments),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="medium")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--uri", default=os.environ.get("MONGO_URI"))
    parser.add_argument("--json", type=Path, help="write the results here too")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        folder = Path(tmp)
        server = None
        uri = options.uri
        if not uri:
            server = MongoServer(folder / "mongo").start()
            uri = server.uri
        sim = SimProcess().start(size=options.size, seed=options.seed)
        try:
            truth = sim.truth(reviews=0)
            categories = ",".join(map(str, truth["categories"]))
            runs: dict[str, dict[str, Any]] = {}
            out = folder / "output"
            runs["day0_products"] = crawl(
                "products", sim, uri, "tracked", out, categories=categories
            )
            runs["day0_comments"] = crawl("comments", sim, uri, "tracked", out)
            sim.advance(1)
            changes = sim.changes(0)
            runs["track_products"] = crawl(
                "products", sim, uri, "tracked", out, categories=categories, mode="track"
            )
            runs["new_comments"] = crawl("comments", sim, uri, "tracked", out, mode="new")
            runs["full_products"] = crawl("products", sim, uri, "full", out, categories=categories)
            runs["full_comments"] = crawl("comments", sim, uri, "full", out)
            tracked, full = state(uri, "tracked"), state(uri, "full")
        finally:
            sim.stop()
            if server is not None:
                server.stop()
    track = runs["track_products"], runs["new_comments"]
    whole = runs["full_products"], runs["full_comments"]
    track_requests = sum(r["requests"] for r in track)
    full_requests = sum(r["requests"] for r in whole)
    same = tracked == full
    result = {
        "size": options.size,
        "products": truth["totals"]["listed"],
        "day_changes": {
            "changed": len(changes["changed"]),
            "new": len(changes["new"]),
            "withdrawn": len(changes["withdrawn"]),
            "products_with_new_reviews": len(changes["new_reviews"]),
        },
        "runs": runs,
        "tracking": {
            "requests": track_requests,
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in track), 2),
        },
        "full": {
            "requests": full_requests,
            "cpu_seconds": round(sum(r["cpu_seconds"] for r in whole), 2),
        },
        "request_ratio": round(track_requests / full_requests, 4) if full_requests else None,
        "same_state": same,
        "state_sizes": {"listed": len(full["listed"]), "comments": len(full["comments"])},
    }
    if not same:
        result["state_differences"] = {
            "listed_only_tracked": sorted(set(tracked["listed"]) - set(full["listed"]))[:20],
            "listed_only_full": sorted(set(full["listed"]) - set(tracked["listed"]))[:20],
            "fields_differ": sorted(
                pid
                for pid in set(tracked["listed"]) & set(full["listed"])
                if tracked["listed"][pid] != full["listed"][pid]
            )[:20],
            "comments": len(set(tracked["comments"]) ^ set(full["comments"])),
        }
    print("| run | requests | CPU s | wall s | exit |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, run in runs.items():
        print(
            f"| {name} | {run['requests']:,} | {run['cpu_seconds']:.1f} | "
            f"{run['wall_seconds']:.1f} | {run['returncode']} |"
        )
    print(
        f"tracking: {track_requests:,} requests, {result['tracking']['cpu_seconds']:.1f} CPU s; "
        f"full: {full_requests:,} requests, {result['full']['cpu_seconds']:.1f} CPU s; "
        f"ratio {result['request_ratio']}; same MongoDB state: {same}"
    )
    for name, run in runs.items():
        for line in run.pop("_log_tail"):
            print(f"{name}: {line}", file=sys.stderr)
    if options.json:
        options.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
