"""Memory of a long dashboard run: peak RSS of the crawler process and of the
browser, sampled while the dashboard spider reads N one-day chunks (200 by
default) from the simulator.

    python bench/bench_dashboard_memory.py [--chunks 200] [--render-delay-ms 20]
                                           [--interval 0.2] [--json out.json]

- crawler: the ``scrapy crawl dashboard`` process (Python, Scrapy, the items);
- browser: every Chromium process under it (browser, zygotes, GPU, network
  and renderer processes), as the sum of their RSS, and as the sum of their
  PSS (shared pages counted once: what the machine really gives them);
- driver: the Playwright driver (node) between the crawler and Chromium.

Each sample also reads the simulator's count of table loads, so that the
peaks are given per quarter of the run: a bounded run has the same peaks in
its last quarter as in its second. The simulator is started with the
dashboard's render delay set to ``--render-delay-ms``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.testing import SimProcess  # noqa: E402

USER, PASSWORD = "bench-analyst", "bench-password"
FIRST_DAY = date(2026, 1, 1)
MIB = 1024 * 1024


@dataclass
class Sample:
    elapsed: float
    loads: int
    crawler_rss: int
    browser_rss: int
    browser_pss: int
    driver_rss: int
    browser_processes: int


@dataclass
class Result:
    chunks: int
    seconds: float
    exit_code: int
    rows: int
    samples: int
    peak_mib: dict[str, float] = field(default_factory=dict)
    peak_mib_by_quarter: dict[str, list[float]] = field(default_factory=dict)


def _memory(proc: psutil.Process) -> tuple[int, int]:
    """(RSS, PSS) of a process, 0 for one that is gone."""
    try:
        info = proc.memory_full_info()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0, 0
    return info.rss, getattr(info, "pss", info.rss)


def sample(crawler: psutil.Process, start: float, loads: int) -> Sample:
    crawler_rss, _ = _memory(crawler)
    browser_rss = browser_pss = driver_rss = count = 0
    try:
        children = crawler.children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for child in children:
        try:
            name = child.name()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        rss, pss = _memory(child)
        if name.startswith("node"):
            driver_rss += rss
        elif "chrom" in name:
            browser_rss += rss
            browser_pss += pss
            count += 1
    return Sample(
        time.monotonic() - start, loads, crawler_rss, browser_rss, browser_pss, driver_rss, count
    )


def table_loads(sim: SimProcess) -> int:
    try:
        return int(sim.get("/_sim/dashboard/stats", timeout=5).json()["table_loads"])
    except OSError:
        return -1


def summarize(
    samples: list[Sample], chunks: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    keys = ("crawler_rss", "browser_rss", "browser_pss", "driver_rss")
    peaks = {k: max(getattr(s, k) for s in samples) / MIB for k in keys}
    quarters: dict[str, list[float]] = {k: [] for k in keys}
    for q in range(4):
        low, high = chunks * q / 4, chunks * (q + 1) / 4
        part = [s for s in samples if low <= s.loads < high] or [samples[-1]]
        for k in keys:
            quarters[k].append(round(max(getattr(s, k) for s in part) / MIB, 1))
    return {k: round(v, 1) for k, v in peaks.items()}, quarters


def run(chunks: int, delay_ms: float, interval: float) -> Result:
    end = FIRST_DAY + timedelta(days=chunks - 1)
    with (
        SimProcess(
            size="tiny",
            seed=1,
            dashboard_user=USER,
            dashboard_password=PASSWORD,
            dashboard_render_delay_ms=delay_ms,
        ) as sim,
        tempfile.TemporaryDirectory() as tmp,
    ):
        command = [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "dashboard",
            "-a",
            "report=orders",
            "-a",
            f"start={FIRST_DAY}",
            "-a",
            f"end={end}",
            "-a",
            "chunk_days=1",
            "-a",
            "run_id=bench",
            "-s",
            f"MARKETPLACE_URL={sim.url}",
            "-s",
            f"OUTPUT_DIR={tmp}",
            "-s",
            "LOG_LEVEL=WARNING",
        ]
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DASHBOARD_USERNAME": USER,
            "DASHBOARD_PASSWORD": PASSWORD,
        }
        started = time.monotonic()
        with open(Path(tmp) / "crawl.log", "wb") as log:
            proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
            crawler = psutil.Process(proc.pid)
            samples: list[Sample] = []
            while proc.poll() is None:
                samples.append(sample(crawler, started, table_loads(sim)))
                time.sleep(interval)
            seconds = time.monotonic() - started
        rows = sum(
            len(p.read_bytes().splitlines()) for p in Path(tmp).glob("dashboard/bench/dashboard-*")
        )
        if proc.returncode != 0:
            print((Path(tmp) / "crawl.log").read_text(errors="replace")[-3000:], file=sys.stderr)
    peaks, quarters = summarize(samples, chunks)
    return Result(chunks, round(seconds, 1), proc.returncode, rows, len(samples), peaks, quarters)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--render-delay-ms", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(args.chunks, args.render_delay_ms, args.interval)
    print(
        f"{result.chunks} chunks in {result.seconds} s, exit {result.exit_code}, "
        f"{result.rows} rows, {result.samples} samples"
    )
    for key, peak in result.peak_mib.items():
        by_quarter = ", ".join(f"{v:.1f}" for v in result.peak_mib_by_quarter[key])
        print(f"  peak {key:12} {peak:8.1f} MiB   by quarter: {by_quarter}")
    if args.json:
        record = {
            "bench": "dashboard_memory",
            "time": datetime.now(UTC).isoformat(),
            **asdict(result),
        }
        args.json.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    return 0 if result.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
