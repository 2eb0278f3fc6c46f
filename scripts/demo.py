"""The demo: start the simulator, crawl products, then their comments.

    make demo                      # what the README's first command runs
    python scripts/demo.py --size tiny

Runs the real ``scrapy crawl`` commands against a local simulator and
compares what they wrote with the simulator's ground truth. Its own output is
the commands and a summary, which ends it; the crawls' logs go to a file that
it names first (``<output>/demo/<run id>.log``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.testing import SimProcess  # noqa: E402


def feed_ids(folder: Path, kind: str) -> list[int]:
    ids = []
    for path in sorted(folder.glob(f"{kind}-*.jsonl")):
        ids.extend(orjson.loads(line)["id"] for line in path.read_bytes().splitlines())
    return ids


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


def crawl(spider: str, env: dict[str, str], log: Path, *args: str) -> tuple[int, float]:
    """Run ``scrapy crawl``, its output (the log, a traceback) appended to ``log``."""
    started = time.perf_counter()
    command = [sys.executable, "-m", "scrapy", "crawl", spider, *args]
    print("$", " ".join(command[2:]), flush=True)
    with log.open("ab") as out:
        code = subprocess.run(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
        ).returncode
    return code, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", help="simulator size (default: small)")
    parser.add_argument("--seed", default="1")
    parser.add_argument("--output", default=str(ROOT / "output"))
    options = parser.parse_args()

    started = time.perf_counter()
    sim = SimProcess()
    # images on, a slow one ends in 5 s: the demo shows the images flow too
    sim.start(size=options.size, seed=options.seed, images=1, images_slow_seconds=5)
    try:
        truth = sim.truth()
        run_id = "demo-" + datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        env = {
            **os.environ,
            "MARKETPLACE_URL": sim.url,
            "CATEGORIES": ",".join(map(str, truth["categories"])),
            "CRAWLER_OUTPUT_DIR": options.output,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        }
        log = Path(options.output) / "demo" / f"{run_id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"Simulator at {sim.url} ({options.size}, seed {options.seed})", flush=True)
        print(f"The crawls log to {log}", flush=True)
        products_dir = Path(options.output) / "products" / run_id
        comments_dir = Path(options.output) / "comments" / run_id
        # The simulator answers 404 for ~1-3% of the listed ids (as the real API
        # does for withdrawn products): recorded, not a failed run (exit 0).
        images_dir = Path(options.output) / "images"
        images = (
            *("-s", f"IMAGES_STORE={images_dir}"),
            # the simulator's host, on loopback: admitted for the demo only
            *("-s", f"IMAGES_ALLOWED_HOSTS=127.0.0.1:{sim.port}", "-s", "IMAGES_ALLOW_LOOPBACK=1"),
            *("-s", "IMAGES_DOWNLOAD_TIMEOUT=2", "-s", "IMAGES_RETRY_TIMES=0"),
        )
        code_p, secs_p = crawl("products", env, log, "-a", f"run_id={run_id}", *images)
        code_c, secs_c = crawl(
            "comments",
            env,
            log,
            "-a",
            f"run_id={run_id}",
            "-a",
            f"ids_file={products_dir}/products-*.jsonl",
        )
        product_ids = feed_ids(products_dir, "products")
        comment_ids = feed_ids(comments_dir, "comments")
        truth = sim.truth()
        image_truth = sim.get("/_sim/truth/images").json()
    finally:
        sim.stop()

    invalid_products = {int(i): reason for i, reason in truth["products"]["invalid"].items()}
    invalid_reviews = {int(i) for i in truth["reviews"]["invalid"]}
    crawled = set(product_ids)
    expected_comments = {
        r
        for pid, ids in truth["reviews"]["by_product"].items()
        if int(pid) in crawled
        for r in ids
        if r not in invalid_reviews
    }
    rejected = {
        record["id"]: record
        for record in map(orjson.loads, read_lines(products_dir / "rejects.jsonl"))
    }
    wall = time.perf_counter() - started
    print()
    print(f"products: {len(product_ids)} valid in {products_dir} ({secs_p:.1f} s, exit {code_p})")
    print(f"  rejected with reasons ({products_dir}/rejects.jsonl): {len(rejected)}")
    print(
        f"  not found (404, listed in {products_dir}/failures.jsonl for a retry run): "
        f"{len(truth['products']['not_found'])}"
    )
    linked = [
        entry
        for path in sorted(products_dir.glob("products-*.jsonl"))
        for record in map(orjson.loads, read_lines(path))
        for entry in record.get("images") or []
    ]
    stored = sum(1 for entry in linked if entry["status"] != "failed")
    failed = Counter(entry["reason"] for entry in linked if entry["status"] == "failed")
    print(
        f"images: {stored} stored in {images_dir}/full (thumbnails in {images_dir}/thumbs), "
        "linked from the products' 'images'"
    )
    print(
        f"  failed with reasons (kind image in {products_dir}/failures.jsonl): "
        + ", ".join(f"{reason} {n}" for reason, n in sorted(failed.items()))
    )
    print(f"comments: {len(comment_ids)} valid in {comments_dir} ({secs_c:.1f} s, exit {code_c})")
    ok = crawled == set(truth["products"]["valid"]) and len(product_ids) == len(crawled)
    ok &= set(rejected) == set(invalid_products)
    ok &= set(comment_ids) == expected_comments and len(comment_ids) == len(set(comment_ids))
    ok &= code_p == 0 and code_c == 0
    good = sum(len(urls) for urls in image_truth["good"].values())
    refused = {e["url"]: e["reason"] for e in linked if e["status"] == "failed"}
    bad = {url: refused.pop(url) for url in image_truth["bad"] if url in refused}
    ok &= stored == good and bad == image_truth["bad"]
    ok &= set(refused) == set(image_truth["refused"])
    if code_p or code_c:
        print(f"  a crawl did not exit 0: its log is in {log}")
    print(f"products report: {products_dir / 'report.html'}")
    print(f"comments report: {comments_dir / 'report.html'}")
    print(f"ground truth matched: {'yes' if ok else 'NO'}; demo wall time {wall:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
