"""Images on against off: images per second, the API crawl's records per second,
and the crawl's memory, on the simulator's images (``--images 1``).

    python bench/bench_images.py [--size small] [--json figures.json]

Three ``scrapy crawl products`` runs over every listed product of one simulator
(seed 1; ids from its ground truth, so no listings): images off; images on
into an empty folder store (every image downloaded: the simulator's share of
broken ones included, slow ones ending at a 2 s timeout); images on again
(every good image ``uptodate``, only the failed ones fetched again). For each:
records/s and images/s over the crawl's duration (run report), the peak RSS,
and the RSS at 25, 50, 75 and 100% of the
run's time (sampled every 0.25 s): flat memory is a small growth from the first mark to
the last.
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
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.testing import SimProcess  # noqa: E402


def crawl(sim: SimProcess, ids: Path, out: Path, settings: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "MARKETPLACE_URL": sim.url, "CRAWLER_OUTPUT_DIR": str(out)}
    env["LOG_LEVEL"] = "WARNING"
    env.pop("MONGO_URI", None)
    env.pop("IMAGES_STORE", None)
    command = [sys.executable, "-m", "scrapy", "crawl", "products", "-a", "run_id=bench"]
    command += ["-a", f"ids_file={ids}", "-s", "ROBOTSTXT_OBEY=False"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    proc = psutil.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    started = time.perf_counter()
    samples: list[tuple[float, int]] = []
    while proc.poll() is None:
        try:
            samples.append((time.perf_counter() - started, proc.memory_info().rss))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.25)
    peak = max(rss for _, rss in samples)
    wall = samples[-1][0]
    # the RSS at 25, 50, 75 and 100% of the run's time
    rss_at = [next(rss for t, rss in samples if t >= wall * k / 4) for k in (1, 2, 3, 4)]
    report = orjson.loads((out / "products" / "bench" / "report.json").read_bytes())
    stats_path = out / "products" / "bench" / "failures.jsonl"
    failed_images = (
        sum(1 for line in stats_path.read_bytes().splitlines() if b'"kind":"image"' in line)
        if stats_path.exists()
        else 0
    )
    items = report["items"]
    records = sum(items["scraped"].values()) + sum(items["rejected"].values())
    duration = report["duration_seconds"]
    store = settings.get("IMAGES_STORE")
    downloaded = len(list((Path(store) / "full").iterdir())) if store else 0
    return {
        "records": records,
        "duration_seconds": round(duration, 2),
        "records_per_second": round(records / duration, 1),
        "images_failed": failed_images,
        "images_stored": downloaded,
        "image_results_per_second": None,
        "peak_rss_mb": round(peak / 2**20, 1),
        "rss_mb_at_25_50_75_100": [round(v / 2**20, 1) for v in rss_at],
        "rss_growth_mb": round((rss_at[-1] - rss_at[0]) / 2**20, 1) if rss_at else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    results: dict[str, Any] = {"size": args.size}
    with (
        tempfile.TemporaryDirectory() as folder,
        SimProcess(size=args.size, seed=1, images=1, images_slow_seconds=60) as sim,
    ):
        tmp = Path(folder)
        truth = sim.truth(reviews=0)
        images = sim.get("/_sim/truth/images").json()
        ids = tmp / "ids.csv"
        ids.write_text("id\n" + "\n".join(map(str, truth["products"]["listed"])) + "\n")
        port = sim.url.rsplit(":", 1)[1]
        on = {
            "IMAGES_STORE": str(tmp / "store"),
            "IMAGES_ALLOWED_HOSTS": f"127.0.0.1:{port}",
            "IMAGES_ALLOW_LOOPBACK": "1",
            "IMAGES_DOWNLOAD_TIMEOUT": "2",
            "IMAGES_RETRY_TIMES": "0",
        }
        good = sum(len(urls) for urls in images["good"].values())
        attempted = good + len(images["bad"]) + len(images["refused"])
        for name, settings in (("off", {}), ("on_cold", on), ("on_warm", on)):
            before = sim.get("/_sim/images/stats").json()["requests"]
            figures = crawl(sim, ids, tmp / name, settings)
            fetched = sim.get("/_sim/images/stats").json()["requests"] - before
            figures["image_requests"] = fetched
            if settings:
                figures["image_results_per_second"] = round(
                    attempted / figures["duration_seconds"], 1
                )
                figures["images_downloaded_per_second"] = round(
                    (good if name == "on_cold" else 0) / figures["duration_seconds"], 1
                )
            results[name] = figures
        results["images"] = {
            "good": good,
            "bad": len(images["bad"]),
            "refused": len(images["refused"]),
        }
    off, cold = results["off"], results["on_cold"]
    results["records_per_second_on_vs_off"] = round(
        cold["records_per_second"] / off["records_per_second"], 2
    )
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    print()
    print(
        "| run | records/s | images/s (downloaded) | image results/s | peak RSS MB | RSS growth |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in ("off", "on_cold", "on_warm"):
        r = results[name]
        cells = [
            r["records_per_second"],
            r.get("images_downloaded_per_second", "-"),
            r.get("image_results_per_second") or "-",
            r["peak_rss_mb"],
            r["rss_growth_mb"],
        ]
        print(f"| {name} | " + " | ".join(map(str, cells)) + " |")
    if args.json:
        args.json.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
