"""The benchmark runner: ``make bench`` (or ``python bench/run.py``).

Starts the simulator in its own process and measures, with medians over
``--repeats`` runs:

- cpu: the products crawl (listings + details, cleaning, validation, feeds; no
  database) with no added latency: records/s and CPU ms per record for our
  crawler, for the bare Scrapy spider of the same crawl (bench/floor.py: the
  floor, what Scrapy itself costs) and for the asyncio + aiohttp baseline
  (bench/baseline.py), and the ratios ours/baseline, floor/baseline and
  ours/floor; also both on Twisted's HTTP client, the fallback of the default
  aiohttp one (``--no-twisted`` leaves them out), the handler's gain side by side;
- cpu_ids: the same three crawlers fetching 20,000 products from an ids file
  (the ``large`` catalogue), no listings;
- latency: 100 ms +- 20 ms added latency, concurrency 64, products from an ids
  file: records/s as a share of the limit (concurrency / latency);
- scale: 200,000 products from an ids file: wall time, peak RSS, and RSS after
  50k, 100k, 150k, 200k records (detail responses the simulator served);
- the rate-limit and MongoDB sink benchmarks (bench/bench_ratelimit.py,
  bench/bench_mongo_sink.py) when present, run as they are.

Prints a markdown table; writes the figures to bench/results/<time>.json.
``--smoke`` runs everything tiny and once (the test suite does that).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.handlers.aiohttp import TWISTED_HANDLERS  # noqa: E402
from sim.testing import SimProcess  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = ROOT / "bench" / "results"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ours(
    url: str, out: Path, args: list[str], settings: dict[str, Any], env_extra: dict[str, str]
) -> dict[str, Any]:
    """One ``scrapy crawl products``: records from its run report, CPU of the process."""
    command = [sys.executable, "-m", "scrapy", "crawl", "products", "-a", "run_id=bench", *args]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    env = {
        **os.environ,
        **env_extra,
        "MARKETPLACE_URL": url,
        "CRAWLER_OUTPUT_DIR": str(out),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MONGO_URI", None)
    cpu, started = children_cpu(), time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    report_path = out / "products" / "bench" / "report.json"
    if not report_path.exists():
        raise RuntimeError(f"our crawl wrote no report:\n{proc.stderr[-3000:]}")
    report = orjson.loads(report_path.read_bytes())
    items = report["items"]
    records = sum(items["scraped"].values()) + sum(items["rejected"].values())
    # records/s over the crawl itself (start to finish), CPU of the whole process
    return {
        "records": records,
        "wall_seconds": report["duration_seconds"],
        "cpu_seconds": cpu,
        "process_seconds": wall,
        "requests": report["requests"],
    }


def run_baseline(
    url: str, out: Path, args: list[str], script: str = "baseline.py"
) -> dict[str, Any]:
    command = [
        sys.executable,
        str(ROOT / "bench" / script),
        "--url",
        url,
        "--out",
        str(out),
        *args,
    ]
    cpu, started = children_cpu(), time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    wall, cpu = time.perf_counter() - started, children_cpu() - cpu
    counts = orjson.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "records": counts["records"],
        "wall_seconds": counts["wall_seconds"],
        "cpu_seconds": cpu,
        "process_seconds": wall,
        "requests": counts["requests"],
    }


def run_floor(url: str, out: Path, args: list[str]) -> dict[str, Any]:
    """One run of the bare Scrapy spider (bench/floor.py), counted as the baseline."""
    return run_baseline(url, out, args, script="floor.py")


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of a repeated measurement."""
    records = statistics.median(r["records"] for r in runs)
    wall = statistics.median(r["wall_seconds"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    return {
        "records": records,
        "wall_seconds": round(wall, 2),
        "records_per_second": round(records / wall, 1),
        "cpu_ms_per_record": round(1000 * cpu / records, 3) if records else None,
        "runs": runs,
    }


def ratios(result: dict[str, Any], variants: list[str]) -> None:
    """CPU per record of ours (and its variants) against the baseline and the
    floor, and of the floor against the baseline (each crawler's median)."""
    base = result["baseline"]["cpu_ms_per_record"]
    for name in variants:
        # ours_twisted against the floor with the same handler, when it ran
        floor_name = name.replace("ours", "scrapy_floor")
        floor_name = floor_name if floor_name in result else "scrapy_floor"
        ours, floor = result[name]["cpu_ms_per_record"], result[floor_name]["cpu_ms_per_record"]
        result[name]["cpu_ratio"] = round(ours / base, 2)
        result[name]["cpu_ratio_to_floor"] = round(ours / floor, 2)
    for name in ("scrapy_floor", "scrapy_floor_twisted"):
        if name in result:
            result[name]["cpu_ratio"] = round(result[name]["cpu_ms_per_record"] / base, 2)
    result["cpu_ratio"] = result["ours"]["cpu_ratio"]
    result["ratios"] = {
        "ours_baseline": result["ours"]["cpu_ratio"],
        "floor_baseline": result["scrapy_floor"]["cpu_ratio"],
        "ours_floor": result["ours"]["cpu_ratio_to_floor"],
    }


def interleaved(repeats: int, crawls: dict[str, Callable[[int], dict[str, Any]]]) -> dict[str, Any]:
    """Each crawl ``repeats`` times, one of each in turn (ours, baseline, floor,
    ours, ...), so that a slow spell of the machine hits every crawler; the
    medians of each."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in crawls}
    for n in range(repeats):
        for name, crawl in crawls.items():
            runs[name].append(crawl(n))
    return {name: summary(r) for name, r in runs.items()}


def bench_cpu(size: str, repeats: int, tmp: Path, twisted: bool) -> dict[str, Any]:
    variants: dict[str, dict[str, Any]] = {"ours": {}}
    if twisted:
        variants["ours_twisted"] = {"DOWNLOAD_HANDLERS": TWISTED_HANDLERS}
    with SimProcess(size=size, seed=1) as sim:
        categories = ",".join(map(str, sim.truth(reviews=0)["categories"]))
        crawls: dict[str, Callable[[int], dict[str, Any]]] = {
            name: (
                lambda n, name=name, settings=settings: run_ours(
                    sim.url,
                    tmp / f"cpu-{name}-{n}",
                    [],
                    {"CATEGORIES": categories, **settings},
                    {},
                )
            )
            for name, settings in variants.items()
        }
        crawls["baseline"] = lambda n: run_baseline(
            sim.url, tmp / f"cpu-base-{n}", ["--categories", categories, "--concurrency", "16"]
        )
        crawls["scrapy_floor"] = lambda n: run_floor(
            sim.url, tmp / f"cpu-floor-{n}", ["--categories", categories]
        )
        if twisted:
            # the floor of the Twisted row: the same handler
            crawls["scrapy_floor_twisted"] = lambda n: run_floor(
                sim.url,
                tmp / f"cpu-floor-twisted-{n}",
                ["--categories", categories, "--setting", f"DOWNLOAD_HANDLERS={TWISTED_HANDLERS}"],
            )
        result = interleaved(repeats, crawls)
    ratios(result, list(variants))
    return result


def bench_cpu_ids(size: str, repeats: int, tmp: Path, count: int) -> dict[str, Any]:
    """The three crawlers on ``count`` product ids from an ids file (no listings)."""
    with SimProcess(size=size, seed=1) as sim:
        ids = sim.truth(reviews=0)["products"]["listed"][:count]
        if len(ids) < count:
            raise RuntimeError(
                f"the {size!r} catalogue has {len(ids):,} products, fewer than the "
                f"{count:,} ids asked for (--ids-size)"
            )
        path = ids_file(ids, tmp / "cpu-ids.csv")
        crawls: dict[str, Callable[[int], dict[str, Any]]] = {
            "ours": lambda n: run_ours(
                sim.url, tmp / f"ids-ours-{n}", ["-a", f"ids_file={path}"], {}, {}
            ),
            "baseline": lambda n: run_baseline(
                sim.url, tmp / f"ids-base-{n}", ["--ids-file", str(path), "--concurrency", "16"]
            ),
            "scrapy_floor": lambda n: run_floor(
                sim.url, tmp / f"ids-floor-{n}", ["--ids-file", str(path)]
            ),
        }
        result = interleaved(repeats, crawls)
    result["ids"] = len(ids)
    ratios(result, ["ours"])
    return result


def ids_file(ids: list[int], path: Path) -> Path:
    path.write_text("id\n" + "\n".join(map(str, ids)) + "\n", encoding="utf-8")
    return path


def bench_latency(size: str, repeats: int, tmp: Path, count: int) -> dict[str, Any]:
    concurrency, latency = 64, 0.100
    limit = concurrency / latency
    settings = {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": concurrency,
        "ROBOTSTXT_OBEY": False,
    }
    with SimProcess(size=size, seed=1) as sim:
        ids = sim.truth(reviews=0)["products"]["valid"][:count]
        path = ids_file(ids, tmp / "latency-ids.csv")
        sim.config(latency_ms=100, jitter_ms=20)
        ours = [
            run_ours(sim.url, tmp / f"lat-ours-{n}", ["-a", f"ids_file={path}"], settings, {})
            for n in range(repeats)
        ]
        baseline = [
            run_baseline(
                sim.url,
                tmp / f"lat-base-{n}",
                ["--ids-file", str(path), "--concurrency", str(concurrency)],
            )
            for n in range(repeats)
        ]
    result = {
        "limit_records_per_second": limit,
        "ours": summary(ours),
        "baseline": summary(baseline),
    }
    for who in ("ours", "baseline"):
        result[who]["share_of_limit"] = round(result[who]["records_per_second"] / limit, 3)
    return result


def bench_scale(size: str, tmp: Path, marks: list[int]) -> dict[str, Any]:
    with SimProcess(size=size, seed=1) as sim:
        ids = sim.truth(reviews=0)["products"]["listed"]
        path = ids_file(ids, tmp / "scale-ids.csv")
        sim.reset()
        out = tmp / "scale"
        env = {
            **os.environ,
            "MARKETPLACE_URL": sim.url,
            "CRAWLER_OUTPUT_DIR": str(out),
            "LOG_LEVEL": "WARNING",
        }
        env.pop("MONGO_URI", None)
        command = [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "products",
            "-a",
            "run_id=bench",
            "-a",
            f"ids_file={path}",
            "-s",
            "ROBOTSTXT_OBEY=False",
        ]
        started = time.perf_counter()
        proc = psutil.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        peak, rss, rss_at, pending = 0, 0, {}, list(marks)
        folder = out / "products" / "bench"
        while proc.poll() is None:
            try:
                rss = proc.memory_info().rss
            except psutil.NoSuchProcess:
                break
            peak = max(peak, rss)
            # records done = product details served (valid, invalid or 404;
            # at most CONCURRENT_REQUESTS of them still on their way)
            served = sim.stats()["by_kind"]["product"]
            while pending and served >= pending[0]:
                rss_at[str(pending.pop(0))] = rss
            time.sleep(0.25)
        wall = time.perf_counter() - started
        # a mark reached after the last sample (the last one, at the very end)
        # gets the last sample's RSS
        served = sim.stats()["by_kind"]["product"]
        while pending and served >= pending[0] and rss:
            rss_at[str(pending.pop(0))] = rss
    report = orjson.loads((folder / "report.json").read_bytes())
    items = report["items"]
    records = sum(items["scraped"].values()) + sum(items["rejected"].values())
    after = {k: round(v / 2**20, 1) for k, v in rss_at.items()}
    return {
        "products": len(ids),
        "records": records,
        "failed": report["failures"]["count"],
        "wall_seconds": round(wall, 1),
        "records_per_second": round((records + report["failures"]["count"]) / wall, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "rss_mb_after": after,
        # flat: what the RSS grew from the first mark to the last
        "rss_growth_mb": round(list(after.values())[-1] - next(iter(after.values())), 1)
        if after
        else None,
    }


def bench_script(name: str, args: list[str], tmp: Path) -> dict[str, Any] | None:
    """Another bench script of this folder, run as it is; its figures if it
    writes ``--json`` output, its printed table otherwise."""
    script = ROOT / "bench" / name
    if not script.exists():
        return None
    out = tmp / f"{script.stem}.json"
    proc = subprocess.run(
        [sys.executable, str(script), *args, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    result: dict[str, Any] = {"exit_status": proc.returncode, "output": proc.stdout[-4000:]}
    if out.exists():
        result["figures"] = orjson.loads(out.read_bytes())
    return result


def _count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def cpu_rows(cpu: dict[str, Any], label: str) -> list[str]:
    """Records/s and CPU ms per record of ours (and its variants), the floor and
    the baseline, with the ratios ours/baseline, floor/baseline, ours/floor."""
    lines = []
    b = cpu["baseline"]
    for name, suffix in (("ours", ""), ("ours_twisted", ", Twisted's client (fallback)")):
        if name not in cpu:
            continue
        o = cpu[name]
        f = cpu.get(name.replace("ours", "scrapy_floor"), cpu["scrapy_floor"])
        rates = [x["records_per_second"] for x in (o, f, b)]
        lines.append(
            f"| {label}{suffix}: records/s | {rates[0]} | {rates[1]} | {rates[2]} | "
            f"ours/base {rates[0] / rates[2]:.2f}x, floor/base {rates[1] / rates[2]:.2f}x, "
            f"ours/floor {rates[0] / rates[1]:.2f}x |"
        )
        lines.append(
            f"| {label}{suffix}: CPU ms/record | {o['cpu_ms_per_record']} | "
            f"{f['cpu_ms_per_record']} | {b['cpu_ms_per_record']} | "
            f"ours/base {o['cpu_ratio']}x (goal <= 3x), floor/base {f['cpu_ratio']}x, "
            f"ours/floor {o['cpu_ratio_to_floor']}x |"
        )
    return lines


def table(results: dict[str, Any]) -> str:
    lines = [
        "| benchmark | ours | scrapy floor | baseline | ratio / share |",
        "| --- | --- | --- | --- | --- |",
    ]
    if results.get("cpu"):
        lines += cpu_rows(results["cpu"], "cpu")
    if results.get("cpu_ids"):
        lines += cpu_rows(results["cpu_ids"], f"cpu, {_count(results['cpu_ids']['ids'])} ids")
    lat = results.get("latency")
    if lat:
        o, b = lat["ours"], lat["baseline"]
        lines.append(
            f"| latency 100±20 ms, conc. 64: records/s (limit "
            f"{lat['limit_records_per_second']:.0f}) | {o['records_per_second']} | | "
            f"{b['records_per_second']} | {o['share_of_limit']:.1%} / "
            f"{b['share_of_limit']:.1%} of limit |"
        )
    scale = results.get("scale")
    if scale:
        after = ", ".join(f"{_count(int(k))}: {v}" for k, v in scale["rss_mb_after"].items())
        lines.append(
            f"| scale: {scale['products']:,} ids | {scale['wall_seconds']} s, "
            f"{scale['records_per_second']}/s, peak {scale['peak_rss_mb']} MB "
            f"(RSS MB after {after}) | | | grew {scale['rss_growth_mb']} MB |"
        )
    rows = (results.get("ratelimit") or {}).get("figures") or []
    if isinstance(rows, dict):  # {"rows": [...], ...} or one row
        rows = rows.get("rows", [rows])
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or "admitted_per_second" not in row:
            continue
        lines.append(
            f"| rate limit {row['rate_limit']} req/s, {row['crawler']}: admitted "
            f"req/s | {row['admitted_per_second']} | | | {row['share_of_rate']:.2f} of R, "
            f"{row['share_429']:.1%} 429s |"
        )
    mongo = (results.get("mongo_sink") or {}).get("figures")
    if isinstance(mongo, dict) and "docs_per_second" in mongo:
        rates = mongo["docs_per_second"]
        lines.append(
            f"| MongoDB sink: docs/s (pipeline / raw bulk / per item) | "
            f"{rates['pipeline']} | | {rates['raw_bulk']} / {rates['per_item']} | "
            f"{mongo['pipeline_vs_raw_bulk']}x bulk, {mongo['pipeline_vs_per_item']}x "
            f"per item |"
        )
    for name in ("ratelimit", "mongo_sink"):
        if results.get(name) and not results[name].get("figures"):
            lines.append(f"| {name} | no figures | | | exit {results[name]['exit_status']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="small", help="simulator size for cpu and latency")
    parser.add_argument("--scale-size", default="huge")
    parser.add_argument("--latency-count", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--ids-size", default="large", help="simulator size for cpu_ids (>= --ids-count products)"
    )
    parser.add_argument("--ids-count", type=int, default=20_000, help="ids of the cpu_ids crawl")
    parser.add_argument("--only", default="cpu,cpu_ids,latency,scale,ratelimit,mongo_sink")
    parser.add_argument(
        "--no-twisted",
        dest="twisted",
        action="store_false",
        help="leave out the cpu runs on Twisted's HTTP client (the fallback)",
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one run each")
    parser.add_argument("--results", default=str(RESULTS))
    options = parser.parse_args()
    only = set(options.only.split(","))
    if options.smoke:
        options.size, options.scale_size, options.repeats = "tiny", "tiny", 1
        options.latency_count, options.twisted = 40, False
        options.ids_size, options.ids_count = "tiny", 200
        only -= {"ratelimit", "mongo_sink"}
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "options": vars(options),
    }
    marks = [50_000, 100_000, 150_000, 200_000] if not options.smoke else [100]
    scenarios: dict[str, Callable[[Path], Any]] = {
        "cpu": lambda tmp: bench_cpu(options.size, options.repeats, tmp, options.twisted),
        "cpu_ids": lambda tmp: bench_cpu_ids(
            options.ids_size, options.repeats, tmp, options.ids_count
        ),
        "latency": lambda tmp: bench_latency(
            options.size, options.repeats, tmp, options.latency_count
        ),
        "scale": lambda tmp: bench_scale(options.scale_size, tmp, marks),
        "ratelimit": lambda tmp: bench_script("bench_ratelimit.py", [], tmp),
        "mongo_sink": lambda tmp: bench_script("bench_mongo_sink.py", [], tmp),
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        for name, scenario in scenarios.items():
            if name not in only:
                continue
            print(f"bench: {name} ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            results[name] = scenario(Path(folder))
            print(
                f"bench: {name} done in {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    # the machine's load: other work on it makes the CPU figures noisier
    results["load_average_after"] = os.getloadavg()
    # the figures first: a table that cannot be printed loses nothing
    folder = Path(options.results)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    path = folder / f"{'smoke-' if options.smoke else ''}{stamp}.json"
    path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(table(results))
    for name in ("ratelimit", "mongo_sink"):
        if results.get(name):
            print(f"\n{name}:\n{results[name]['output']}")
    print(f"\nfigures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
