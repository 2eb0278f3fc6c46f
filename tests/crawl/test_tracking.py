"""Daily tracking against the simulator's living catalogue: a full crawl, one
simulated day, then ``products -a mode=track`` and ``comments -a mode=new``;
MongoDB must then equal the simulator's truth of the day, and
``product_history`` hold exactly its changes."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import orjson
from pymongo import MongoClient

from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, run_crawl
from tests.support.truth import categories, valid_comments

#: the truth's field names that are not a product document's
_DOC_FIELD = {"quantity_sold": "quantity_sold", "stock_qty": "stock_qty"}


class Day:
    """One simulator and one database, crawled run after run."""

    def __init__(self, sim: SimProcess, mongo_db: tuple[str, str], tmp_path: Path) -> None:
        self.sim, self.tmp_path = sim, tmp_path
        self.uri, self.database = mongo_db
        self.runs = 0

    def crawl(
        self, spider: str, settings: dict[str, Any] | None = None, **args: Any
    ) -> CrawlResult:
        self.runs += 1
        truth = self.sim.truth(reviews=0)
        return run_crawl(
            spider,
            self.sim.url,
            self.tmp_path / f"run-{self.runs}",
            args={"categories": categories(truth), **args} if spider == "products" else args,
            settings={"MONGO_URI": self.uri, "MONGO_DATABASE": self.database, **(settings or {})},
        )

    def docs(self, collection: str) -> dict[Any, dict[str, Any]]:
        with MongoClient(self.uri, tz_aware=True) as client:
            return {d["_id"]: d for d in client[self.database][collection].find()}


def _history_fields(row: dict[str, Any]) -> set[str]:
    # all_time_quantity_sold is the detail's second name of quantity_sold
    return set(row["changes"]) - {"all_time_quantity_sold"}


def check_day(day: Day, since_day: int = 0) -> None:
    truth = day.sim.truth()
    changes = day.sim.changes(since_day)
    valid = set(truth["products"]["valid"])
    products = day.docs("products")
    listed = {pid for pid, doc in products.items() if doc.get("delisted_at") is None}
    assert listed == valid
    withdrawn = {pid for pid, doc in products.items() if doc.get("delisted_at") is not None}
    assert withdrawn == set(changes["withdrawn"])
    assert set(changes["new"]) <= listed
    for pid, fields in changes["changed"].items():
        doc = products[int(pid)]
        for name, (_, new) in fields.items():
            assert doc[_DOC_FIELD.get(name, name)] == new, (pid, name)
    rows = list(day.docs("product_history").values())
    changed_rows = {r["product_id"]: _history_fields(r) for r in rows if not r.get("delisted")}
    assert changed_rows == {int(pid): set(f) for pid, f in changes["changed"].items()}
    assert sorted(r["product_id"] for r in rows if r.get("delisted")) == changes["withdrawn"]
    assert len({(r["product_id"], r["run_id"]) for r in rows}) == len(rows)
    comments = set(day.docs("comments"))
    gone = set(changes["withdrawn"])
    kept = {cid for cid, doc in day.docs("comments").items() if doc["product_id"] not in gone}
    assert sorted(kept) == valid_comments(truth)
    assert comments >= kept


def test_track_and_new_reviews_follow_a_day_exactly(
    sim_factory, mongo_db: tuple[str, str], tmp_path: Path
) -> None:
    sim = sim_factory(size="tiny", seed=3)
    day = Day(sim, mongo_db, tmp_path)
    assert day.crawl("products").returncode == 0
    assert day.crawl("comments").returncode == 0
    assert day.docs("product_history") == {}
    sim.advance(1)
    sim.reset()
    track = day.crawl("products", mode="track")
    assert track.returncode == 0, track.stderr[-3000:]
    requests = sim.stats()["by_kind"]
    new = day.crawl("comments", mode="new")
    assert new.returncode == 0, new.stderr[-3000:]
    check_day(day)
    changes = sim.changes(0)
    # details only of the new, the changed (and the never stored: 404 and invalid)
    stats = track.stats
    assert stats["tracking/details/new"] >= len(changes["new"])
    assert stats.get("tracking/details/changed", 0) <= len(changes["changed"])
    assert stats["tracking/withdrawn"] == len(changes["withdrawn"])
    assert requests["product"] < len(sim.truth(reviews=0)["products"]["listed"]) // 4
    # the changes feed holds the run's history rows
    history = day.docs("product_history")
    feed = track.feed_records("products", "changes")
    assert sorted(r["_id"] for r in feed) == sorted(history)
    (report_path,) = track.output_dir.glob("products/*/report.json")
    report = orjson.loads(report_path.read_bytes())["tracking"]
    assert report["withdrawn"] == len(changes["withdrawn"])
    assert report["new"] == len(changes["new"])
    assert report["changed"] == len(changes["changed"])
    assert report["listing_pages"] == stats["tracking/listing_pages"]
    # a second track run of the day adds no history row, marks nothing again
    again = day.crawl("products", mode="track")
    assert again.returncode == 0
    assert day.docs("product_history") == history
    assert "tracking/withdrawn" not in again.stats
    state = day.docs("crawl_state")
    key = "products:track:" + ",".join(map(str, sorted(sim.truth(reviews=0)["categories"])))
    assert state[key]["last_complete"]["run_id"] and "running" not in state[key]


def test_a_track_run_with_failed_listings_marks_nothing_withdrawn(
    sim_factory, mongo_db: tuple[str, str], tmp_path: Path
) -> None:
    sim = sim_factory(size="tiny", seed=3)
    day = Day(sim, mongo_db, tmp_path)
    assert day.crawl("products").returncode == 0
    sim.advance(1)
    truth = sim.truth(reviews=0)
    sim.config(fail_listing_categories=[truth["categories"][0]], error_rate=0)
    track = day.crawl("products", {"RETRY_TIMES": 0}, mode="track")
    assert track.stats["run/problems"]  # the listings failed: a broken run
    assert track.stats["failures/listing/http_500"]
    assert "tracking/withdrawn" not in track.stats
    assert not [d for d in day.docs("products").values() if d.get("delisted_at")]
    state = day.docs("crawl_state")
    key = "products:track:" + ",".join(map(str, sorted(truth["categories"])))
    assert "last_complete" not in state[key] and state[key]["running"]["run_id"]


def test_a_track_run_killed_and_resumed_is_exact(
    sim_factory, mongo_db: tuple[str, str], tmp_path: Path
) -> None:
    from tests.crawl.test_resume import MONGO_OFTEN, Hold, Job, done_requests, requests_reach

    sim = sim_factory(size="tiny", seed=3, latency_ms=30)
    day = Day(sim, mongo_db, tmp_path)
    assert day.crawl("products").returncode == 0
    assert day.crawl("comments").returncode == 0
    sim.advance(1)
    sim.reset()
    uri, database = mongo_db
    truth = sim.truth(reviews=0)
    job = Job(
        "products",
        sim,
        tmp_path / "track",
        args={"mode": "track", "categories": categories(truth)},
        settings={"MONGO_URI": uri, "MONGO_DATABASE": database, **MONGO_OFTEN},
    )
    (tmp_path / "track").mkdir()
    journal = tmp_path / "track" / "job"
    stop = Hold(
        sim,
        requests_reach(sim, "listings", 6),
        lambda: done_requests(journal, "/listings") >= 4,
    )
    assert job.run(stop=stop) == -signal.SIGKILL
    assert job.run() == 0, job.logs[-1][-3000:]
    assert "Resuming job" in job.logs[-1]
    assert day.crawl("comments", mode="new").returncode == 0
    check_day(day)


def test_track_mode_without_mongodb_is_one_sentence_and_exit_2(
    sim, tmp_path: Path, monkeypatch
) -> None:
    from tests.crawl.test_crawl import scrapy_crawl

    monkeypatch.delenv("MONGO_URI", raising=False)
    sim.reset()
    proc = scrapy_crawl("products", "-a", "mode=track", url=sim.url, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: mode=track compares the listings with MongoDB: set MONGO_URI."
    )
    assert sim.stats()["total"] == 0  # stopped before the first request
