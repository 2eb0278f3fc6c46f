"""Distributed crawling: records/s with 1, 2 and 3 workers, and what the site
sees from 3 workers under a shared rate limit.

    python bench/bench_distributed.py [--size small] [--workers 1,2,3] [--rate 50]
                                      [--json out.json]
    python bench/bench_distributed.py --pinned [--size small] [--repeats 3]

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
- ``--pinned``: the per-worker cost of distribution, measured. One crawl
  process on a core of its own (the second CPU this process may use), the
  simulator and Redis on another (the first): a plain one-process crawl, then
  one worker with ``DISTRIBUTED=1``, in turns, ``--repeats`` times, no added
  latency (``--latency-ms``). Per run: the crawl process's CPU ms per record
  (its rusage), records/s, and what Redis did per request the crawl sent:
  commands (``INFO commandstats``, the commands run by its Lua scripts
  included), script calls (EVALSHA), Redis CPU ms. Medians; the ratio
  distributed / plain is the CPU distribution costs a worker.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def crawl_env(sim: SimProcess, redis_url: str) -> dict[str, str]:
    """The environment of a benchmark crawl: the simulator's categories, Redis."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MARKETPLACE_URL": sim.url,
        "CATEGORIES": ",".join(map(str, sim.truth(reviews=0)["categories"])),
        "REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MONGO_URI", None)
    return env


def crawl_command(output: Path, distributed: bool, settings: dict[str, Any]) -> list[str]:
    """``scrapy crawl products`` into ``output``, plain or distributed."""
    args = [sys.executable, "-m", "scrapy", "crawl", "products", "-a", "run_id=bench"]
    args += ["-s", f"OUTPUT_DIR={output}", "-s", f"DISTRIBUTED={int(distributed)}"]
    for name, value in settings.items():
        args += ["-s", f"{name}={value}"]
    return args


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
    env = crawl_env(sim, redis_url)
    procs = []
    for index in range(count):
        output = tmp / f"w{index}"
        args = crawl_command(output, distributed, settings)
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


# -- pinned: one worker on a core of its own ----------------------------------


def pin(pid: int, cores: set[int]) -> None:
    """Every thread of a running process onto ``cores`` (sched_setaffinity of
    a pid moves only the thread of that id; threads started later inherit)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), cores)


def redis_counters(client: redis.Redis) -> dict[str, float]:
    """Redis' commands by name (``INFO commandstats``, calls) and its CPU seconds."""
    stats = client.info("commandstats")
    counters = {
        name.removeprefix("cmdstat_"): float(value["calls"]) for name, value in stats.items()
    }
    cpu = client.info("cpu")
    counters["_cpu_seconds"] = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return counters


def pinned_run(
    sim: SimProcess,
    redis_url: str,
    output: Path,
    core: int,
    distributed: bool,
    crawl: str,
) -> dict[str, Any]:
    """One crawl process pinned to ``core``; its CPU from its own rusage, what
    Redis did meanwhile from Redis' counters."""
    env = crawl_env(sim, redis_url)
    args = crawl_command(output, distributed, {"DISTRIBUTED_CRAWL": crawl})
    with redis.Redis.from_url(redis_url) as client:
        before = redis_counters(client)
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # before the interpreter starts: every thread it starts inherits it
            preexec_fn=lambda: os.sched_setaffinity(0, {core}),
        )
        # wait4: this child's own rusage (the simulator and Redis are
        # children of this process too, still running)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        after = redis_counters(client)
    (path,) = output.glob("products/*/report.json")
    report = orjson.loads(path.read_bytes())
    done = records(report)
    requests = report["requests"]
    delta = {name: after[name] - before.get(name, 0.0) for name in after}
    # our own INFO calls are not the crawl's
    commands = sum(v for name, v in delta.items() if not name.startswith("_") and name != "info")
    scripts = sum(delta.get(name, 0.0) for name in ("evalsha", "eval", "evalsha_ro", "eval_ro"))
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "crawl": "distributed" if distributed else "plain",
        "exit_status": proc.returncode,
        "records": done,
        "requests": requests,
        "seconds": report["duration_seconds"],
        "records_per_s": round(done / report["duration_seconds"], 1),
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_record": round(1000 * cpu / done, 3) if done else None,
        "redis_commands_per_request": round(commands / requests, 2) if requests else None,
        "redis_scripts_per_request": round(scripts / requests, 2) if requests else None,
        "redis_cpu_ms_per_request": round(1000 * delta["_cpu_seconds"] / requests, 4)
        if requests
        else None,
        "redis_commands": {
            name: int(v) for name, v in sorted(delta.items()) if v and not name.startswith("_")
        },
    }


def pinned(
    size: str, repeats: int, latency_ms: float, redis_server: Any, tmp: Path
) -> dict[str, Any]:
    """Plain and distributed, one process each on a core of its own, in turns."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        raise SystemExit("--pinned needs two CPUs at least (one for the crawl, one for the rest)")
    others, worker = cores[0], cores[1]
    assert redis_server.proc is not None
    pin(redis_server.proc.pid, {others})
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "distributed": []}
    with SimProcess().start(size=size, seed=1, latency_ms=latency_ms) as sim:
        assert sim.proc is not None
        pin(sim.proc.pid, {others})
        for n in range(repeats):
            for name in runs:
                distributed = name == "distributed"
                # a crawl of its own per run (its keys), in one Redis database
                runs[name].append(
                    pinned_run(
                        sim,
                        f"{redis_server.url}/5",
                        tmp / f"pinned-{name}-{n}",
                        worker,
                        distributed,
                        f"pinned-{n}",
                    )
                )
    medians: dict[str, dict[str, Any]] = {}
    for name, rows in runs.items():
        medians[name] = {
            key: statistics.median(r[key] for r in rows)
            for key in (
                "records",
                "requests",
                "records_per_s",
                "cpu_ms_per_record",
                "redis_commands_per_request",
                "redis_scripts_per_request",
                "redis_cpu_ms_per_request",
            )
        }
    plain, dist = medians["plain"]["cpu_ms_per_record"], medians["distributed"]["cpu_ms_per_record"]
    return {
        "cores": {"crawl": worker, "simulator_and_redis": others},
        "size": size,
        "latency_ms": latency_ms,
        "repeats": repeats,
        "median": medians,
        "distributed_over_plain_cpu": round(dist / plain, 3),
        "runs": runs,
    }


def pinned_table(figures: dict[str, Any]) -> str:
    keys = [
        "records",
        "records_per_s",
        "cpu_ms_per_record",
        "redis_commands_per_request",
        "redis_scripts_per_request",
        "redis_cpu_ms_per_request",
    ]
    lines = ["| crawl | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, row in figures["median"].items():
        lines.append(f"| {name} | " + " | ".join(str(row[k]) for k in keys) + " |")
    lines.append(
        f"\ndistributed / plain CPU per record: {figures['distributed_over_plain_cpu']}x "
        f"(medians of {figures['repeats']}; crawl on CPU {figures['cores']['crawl']}, "
        f"simulator and Redis on CPU {figures['cores']['simulator_and_redis']})"
    )
    return "\n".join(lines)


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
    parser.add_argument(
        "--pinned",
        action="store_true",
        help="only the per-worker cost: plain and distributed crawl, each on a core of its own",
    )
    parser.add_argument("--repeats", type=int, default=3, help="--pinned: runs of each")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="--pinned: the simulator's added latency"
    )
    opts = parser.parse_args()
    counts = [int(c) for c in opts.workers.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-distributed-") as tmp_name:
        tmp = Path(tmp_name)
        server = RedisServer(tmp / "redis").start()
        try:
            figures: dict[str, Any] = {"cpus": os.cpu_count(), "size": opts.size}
            if opts.pinned:
                figures["pinned"] = pinned(opts.size, opts.repeats, opts.latency_ms, server, tmp)
                print(pinned_table(figures["pinned"]))
                with redis.Redis.from_url(server.url) as client:
                    client.flushall()
                if opts.json:
                    Path(opts.json).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
                return 0
            figures["scaling"] = scaling(opts.size, counts, server.url, tmp)
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
