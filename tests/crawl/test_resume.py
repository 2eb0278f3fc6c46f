"""JOBDIR jobs stopped and resumed (crawler/extensions/resume.py, README "Stopping and resuming").

Real ``scrapy crawl`` processes against a simulator with latency, stopped with
SIGINT, SIGTERM or SIGKILL at points chosen by watching the simulator's request
counts (``/_sim/stats``), then resumed with the same command. Every job must end
with the ground truth: each valid record once in the feeds and in MongoDB, the
invalid ones in the rejects file, the 404s in the failures file, once each.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from crawler.resume.journal import JobState, read_records
from sim.testing import SimProcess
from tests.support.crawl import duplicates
from tests.support.paths import ROOT

#: few parallel requests and some latency: a crawl of the tiny catalogue takes
#: a few seconds, long enough to be stopped at chosen points
SLOW = {"CONCURRENT_REQUESTS_PER_DOMAIN": 1, "RESUME_CHECKPOINT_SECONDS": 0.2}
#: MongoDB writes often, so that a kill finds some of the work stored
MONGO_OFTEN = {"MONGO_FLUSH_SECONDS": 0.2, "MONGO_BATCH_SIZE": 20}
#: the simulator holding the crawl: every API request is answered 429 with a
#: Retry-After of 1000 s (the crawler waits RETRY_AFTER_MAX, two minutes), so the
#: crawl fetches nothing more while what it fetched settles in the journal
HOLD = {"rate_limit": 0.001}


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[SimProcess]:
    server = SimProcess().start(size="tiny", seed=1, latency_ms=30)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def slow_truth(slow_sim: SimProcess) -> dict[str, Any]:
    return slow_sim.truth()


@dataclass
class Job:
    """One JOBDIR job: the same ``scrapy crawl`` command, run as often as needed."""

    spider: str
    sim: SimProcess
    tmp: Path
    args: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    logs: list[str] = field(default_factory=list)
    returncodes: list[int] = field(default_factory=list)

    @property
    def output(self) -> Path:
        return self.tmp / "output"

    def command(self) -> list[str]:
        settings = {
            "JOBDIR": str(self.tmp / "job"),
            "MARKETPLACE_URL": self.sim.url,
            "OUTPUT_DIR": str(self.output),
            "LOG_LEVEL": "INFO",
            **SLOW,
            **self.settings,
        }
        command = [sys.executable, "-m", "scrapy", "crawl", self.spider]
        for name, value in self.args.items():
            command += ["-a", f"{name}={value}"]
        for name, value in settings.items():
            command += ["-s", f"{name}={value}"]
        return command

    def run(
        self, stop: Callable[[], bool] | None = None, sig: signal.Signals = signal.SIGKILL
    ) -> int:
        """Run the command to its end; with ``stop``, send ``sig`` once it holds
        (a :class:`Hold` is released once the crawl is gone)."""
        log_path = self.tmp / f"run-{len(self.logs)}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.env}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log, stderr=log)
            try:
                if stop is not None:
                    while proc.poll() is None and not stop():
                        time.sleep(0.02)
                    assert proc.poll() is None, "the crawl ended before the stop point"
                    proc.send_signal(sig)
                code = proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                if isinstance(stop, Hold):
                    stop.release()
        self.logs.append(log_path.read_text(errors="replace"))
        self.returncodes.append(code)
        return code

    def run_dir(self) -> Path:
        (path,) = (self.output / self.spider).iterdir()  # one run folder for the whole job
        return path

    def records(self, name: str) -> list[dict[str, Any]]:
        """The records of ``<name>.jsonl`` or of every ``<name>-NNNNN.jsonl``."""
        paths = sorted(self.run_dir().glob(f"{name}-*.jsonl")) or [
            p for p in [self.run_dir() / f"{name}.jsonl"] if p.exists()
        ]
        return [orjson.loads(line) for p in paths for line in p.read_bytes().splitlines()]


def requests_reach(sim: SimProcess, kind: str, n: int) -> Callable[[], bool]:
    """A stop condition: the simulator has answered ``n`` requests of ``kind``."""
    return lambda: sim.stats()["by_kind"][kind] >= n


def done_requests(job_dir: Path, path: str = "/api/v2/products/") -> int:
    """Requests to ``path`` that the job's journal holds as done, read as a
    resumed run reads it (the record being written may be cut off)."""
    journal = job_dir / "resume.journal"
    if not journal.exists():
        return 0
    state = JobState.replay(read_records(journal.read_bytes())[0])
    return sum(path in url for url in state.done.values())


class Hold:
    """A stop condition in two steps: once ``reached`` holds, the simulator
    holds the crawl (:data:`HOLD`), and the stop comes once ``then`` holds.

    A condition on the journal (requests done) follows the crawl with a lag
    that depends on the machine's speed (checkpoints, MongoDB's answers):
    while the crawl runs, it may reach its end first. Held, the crawl can
    only settle what it fetched, and a stop finds requests still to do."""

    def __init__(
        self, sim: SimProcess, reached: Callable[[], bool], then: Callable[[], bool] = lambda: True
    ) -> None:
        self.sim, self.reached, self.then = sim, reached, then
        self.held = False

    def __call__(self) -> bool:
        if not self.held:
            if not self.reached():
                return False
            self.sim.config(**HOLD)
            self.held = True
        return self.then()

    def release(self) -> None:
        if self.held:
            self.sim.config(rate_limit=0.0)
            self.held = False


def mongo_ids(uri: str, database: str, collection: str) -> list[Any]:
    with MongoClient(uri, serverSelectionTimeoutMS=10_000) as client:
        return sorted(d["_id"] for d in client[database][collection].find({}, {"_id": 1}))


def assert_products_exact(job: Job, truth: dict[str, Any]) -> None:
    ids = [r["id"] for r in job.records("products")]
    assert duplicates(ids) == []
    assert sorted(ids) == sorted(truth["products"]["valid"])
    rejects = [r["id"] for r in job.records("rejects")]
    assert duplicates(rejects) == []
    assert sorted(map(str, rejects)) == sorted(truth["products"]["invalid"])
    failures = [(r["kind"], r["id"], r["reason"]) for r in job.records("failures")]
    assert sorted(failures) == sorted(
        ("product", i, "not_found") for i in truth["products"]["not_found"]
    )


def resumed(log: str) -> dict[str, int]:
    """What a resumed run's log says it took over from the job's earlier runs."""
    (match,) = re.finditer(
        r"INFO: Resuming job .*: (?P<done>\d+) requests done, (?P<requeued>\d+) scheduled "
        r"again, (?P<failures>\d+) failures kept",
        log,
    )
    return {k: int(v) for k, v in match.groupdict().items()}


# -- graceful stop ---------------------------------------------------------------


def test_graceful_stop_then_resume(slow_sim: SimProcess, slow_truth: dict, tmp_path: Path) -> None:
    slow_sim.reset()
    listed = len(slow_truth["products"]["listed"])
    job = Job(
        "products",
        slow_sim,
        tmp_path,
        settings={"CATEGORIES": ",".join(map(str, slow_truth["categories"]))},
    )
    assert job.run(stop=requests_reach(slow_sim, "product", 60), sig=signal.SIGINT) == 1
    assert "INFO: Closing spider (shutdown)" in job.logs[0]
    first = slow_sim.stats()["by_kind"]["product"]
    assert first < listed
    failed_first = len(job.records("failures"))

    assert job.run() == 0  # the 404s are withdrawn products, not trouble, as in one run
    assert "Closing spider (finished)" in job.logs[1]
    took_over = resumed(job.logs[1])
    assert took_over["requeued"] > 0 and took_over["done"] >= first
    assert took_over["failures"] == failed_first
    stats = slow_sim.stats()
    # a clean stop loses nothing and redoes nothing: every detail fetched once
    assert stats["by_kind"]["product"] == listed
    assert stats["product_refetched"] == {}
    assert_products_exact(job, slow_truth)
    # the second part wrote a batch file of its own, numbered after the first's
    assert sorted(p.name for p in job.run_dir().glob("products-*.jsonl")) == [
        "products-00001.jsonl",
        "products-00002.jsonl",
    ]

    # the same command once more: the job is finished; nothing is fetched again
    before = slow_sim.stats()["by_kind"]["product"]
    # finished: nothing stored by this part, but the job stored its items already
    assert job.run() == 0
    assert slow_sim.stats()["by_kind"]["product"] == before
    took_over = resumed(job.logs[2])
    assert took_over["requeued"] == 0
    assert took_over["failures"] == len(slow_truth["products"]["not_found"])

    # another spider on this JOBDIR stops at once and leaves the job alone
    journal = (tmp_path / "job" / "resume.journal").read_bytes()
    other = Job(
        "brands",
        slow_sim,
        tmp_path,
        settings={"CATEGORIES": ",".join(map(str, slow_truth["categories"]))},
    )
    assert other.run() == 1
    assert "holds a job of the products spider, not of brands." in other.logs[0]
    assert "Closing spider (jobdir_mismatch)" in other.logs[0]
    assert (tmp_path / "job" / "resume.journal").read_bytes() == journal
    assert_products_exact(job, slow_truth)


# -- SIGKILL ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kill_at", "kill_resumed"),
    [
        ("listings", 8, False),  # category and listing pages under way, few details
        ("product", 100, True),  # mid-details, and the resumed run killed too
        # near the end: 200 listed, and the (up to 16) requests in flight when
        # the simulator holds are refused, counted, and keep it below 200
        ("product", 175, False),
    ],
    ids=["listings", "mid-details-twice", "near-the-end"],
)
def test_sigkill_then_resume_is_exact(
    slow_sim: SimProcess,
    slow_truth: dict,
    mongo_db: tuple[str, str],
    tmp_path: Path,
    kind: str,
    kill_at: int,
    kill_resumed: bool,
) -> None:
    uri, database = mongo_db
    slow_sim.reset()
    listed = len(slow_truth["products"]["listed"])
    job = Job(
        "products",
        slow_sim,
        tmp_path,
        settings={
            "CATEGORIES": ",".join(map(str, slow_truth["categories"])),
            "MONGO_DATABASE": database,
            **MONGO_OFTEN,
        },
        env={"MONGO_URI": uri},
    )
    journal = tmp_path / "job"
    # the simulator holds the crawl itself at kill_at: the crawl never runs past it
    slow_sim.config(hold_after=kill_at, hold_kind=kind)
    reached = requests_reach(slow_sim, kind, kill_at)
    stop = Hold(slow_sim, reached)
    if kill_resumed:  # and once the journal holds some details as done
        stop = Hold(slow_sim, reached, lambda: done_requests(journal) >= 20)
    assert job.run(stop=stop) == -signal.SIGKILL
    assert slow_sim.stats()["by_kind"]["product"] < listed
    if kill_resumed:
        # killed again 50 details later, after more details were journaled
        slow_sim.reset()
        slow_sim.config(hold_after=50, hold_kind="product")
        before = done_requests(journal)
        stop = Hold(
            slow_sim,
            requests_reach(slow_sim, "product", 50),
            lambda: done_requests(journal) >= before + 20,
        )
        assert job.run(stop=stop) == -signal.SIGKILL
        assert resumed(job.logs[-1])["requeued"] > 0
    done_before = done_requests(journal)
    slow_sim.reset()
    assert job.run() == 0  # the 404s are withdrawn products, not trouble
    assert "Closing spider (finished)" in job.logs[-1]
    assert resumed(job.logs[-1])["requeued"] > 0
    assert_products_exact(job, slow_truth)
    assert mongo_ids(uri, database, "products") == sorted(slow_truth["products"]["valid"])
    # what the journal held as done was not fetched again
    assert slow_sim.stats()["by_kind"]["product"] <= listed - done_before
    if kill_resumed:
        assert done_before >= 40


# -- comments --------------------------------------------------------------------


def test_comments_sigkill_then_resume_is_exact(
    slow_sim: SimProcess,
    slow_truth: dict,
    mongo_db: tuple[str, str],
    tmp_path: Path,
) -> None:
    uri, database = mongo_db
    slow_sim.reset()
    by_product = slow_truth["reviews"]["by_product"]
    invalid = {int(i) for i in slow_truth["reviews"]["invalid"]}
    valid = sorted(r for ids in by_product.values() for r in ids if r not in invalid)
    job = Job(
        "comments",
        slow_sim,
        tmp_path,
        args={"product_ids": ",".join(sorted(by_product, key=int))},
        settings={"MONGO_DATABASE": database, **MONGO_OFTEN},
        env={"MONGO_URI": uri},
    )
    journal = tmp_path / "job"
    stop = Hold(
        slow_sim,
        requests_reach(slow_sim, "reviews", 100),
        lambda: done_requests(journal, "/api/v2/reviews") >= 20,
    )
    assert job.run(stop=stop) == -signal.SIGKILL
    first = slow_sim.stats()["by_kind"]["reviews"]
    done_before = done_requests(journal, "/api/v2/reviews")
    assert job.run() == 0
    assert resumed(job.logs[-1])["requeued"] > 0
    ids = [r["id"] for r in job.records("comments")]
    assert duplicates(ids) == []
    assert sorted(ids) == valid
    rejects = [r["id"] for r in job.records("rejects")]
    assert sorted(rejects) == sorted(invalid)
    assert mongo_ids(uri, database, "comments") == valid
    # the resumed run did not start over, and nothing was skipped: one run
    # reads a page per 20 reviews of a product (at least one)
    pages = sum(max(1, math.ceil(len(ids) / 20)) for ids in by_product.values())
    again = slow_sim.stats()["by_kind"]["reviews"] - first
    assert again <= pages - done_before < pages <= first + again
