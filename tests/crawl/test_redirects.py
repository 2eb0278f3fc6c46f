"""No record disappears (issue 12, item 5): every product id the products spider
is asked for, or reads in a listing, ends stored, rejected with a reason, or in
the failures file, also when the API redirects its detail.

The simulator's redirect knobs (sim/redirects.py) send a share of the details
to another product's detail (``redirected``), to their own canonical URL
(followed, stored with ``redirected_from``) or to a foreign host, another
loopback address with a simulator of its own listening there
(``offsite_redirect``: refused, never fetched). The ground truth lists which.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, duplicates, run_crawl

FOREIGN_HOST = "127.0.0.2"


def lines(run: CrawlResult, spider: str, name: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in run.output_dir.glob(f"{spider}/*/{name}")
        for line in path.read_bytes().splitlines()
    ]


def outcomes(run: CrawlResult) -> dict[str, list[int]]:
    """Each way a product record can end, with the ids that ended so."""
    return {
        "stored": [r["id"] for r in run.feed_records("products", "products")],
        "rejected": [r["id"] for r in lines(run, "products", "rejects.jsonl")],
        "failed": [r["id"] for r in lines(run, "products", "failures.jsonl")],
    }


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Any:
    """A simulator on another loopback address: the host the API redirects off to."""
    server = SimProcess()
    server.start(size="tiny", seed=1, host=FOREIGN_HOST)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redirecting(foreign) -> Any:
    """A tiny simulator (seed 1) whose details redirect: 15% of them, every kind."""
    port = foreign.url.rsplit(":", 1)[1]
    server = SimProcess()
    server.start(size="tiny", seed=1, redirect_rate=0.15, redirect_host=f"{FOREIGN_HOST}:{port}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def listing_run(redirecting, foreign, tmp_path_factory) -> tuple[CrawlResult, dict]:
    truth = redirecting.truth(reviews=0)
    foreign.reset()
    run = run_crawl(
        "products",
        redirecting.url,
        tmp_path_factory.mktemp("redirects"),
        settings={"CATEGORIES": truth["categories"]},
    )
    return run, truth


def by_kind(truth: dict, kind: str) -> dict[int, dict[str, Any]]:
    return {
        int(pid): entry
        for pid, entry in truth["products"]["redirected"].items()
        if entry["kind"] == kind
    }


def test_a_canonical_redirect_is_followed_and_the_record_says_where_it_came_from(
    listing_run, redirecting
) -> None:
    run, truth = listing_run
    url = redirecting.url
    canonical = by_kind(truth, "canonical")
    valid = set(truth["products"]["valid"])
    wanted = {pid for pid in canonical if pid in valid}
    assert wanted, "the seed gives valid products with a canonical redirect"
    stored = {r["id"]: r for r in run.feed_records("products", "products")}
    for pid in wanted:
        record = stored[pid]
        assert record["redirected_from"] == f"{url}/api/v2/products/{pid}"
        assert record["source_url"] == url + canonical[pid]["location"]
    # a record that was not redirected says so
    plain = valid - {int(p) for p in truth["products"]["redirected"]}
    assert plain and all(stored[pid]["redirected_from"] is None for pid in plain)


def test_a_redirect_to_another_product_is_listed_as_failed_redirected(listing_run) -> None:
    run, truth = listing_run
    moved = by_kind(truth, "product")
    assert moved
    failed = {r["id"]: r for r in lines(run, "products", "failures.jsonl")}
    for pid, entry in moved.items():
        record = failed[pid]
        assert record["reason"] == "redirected"
        assert str(entry["to"]) in record["message"]
        assert record["url"].endswith(f"/api/v2/products/{pid}")  # where it was asked
    stored = outcomes(run)["stored"]
    # the product redirected to is stored once, by its own request
    assert duplicates(stored) == []
    assert {entry["to"] for entry in moved.values()} <= set(stored)


def test_a_redirect_to_another_host_is_refused_and_never_fetched(listing_run, foreign) -> None:
    run, truth = listing_run
    offsite = by_kind(truth, "offsite")
    assert offsite
    failed = {r["id"]: r for r in lines(run, "products", "failures.jsonl")}
    for pid, entry in offsite.items():
        assert failed[pid]["reason"] == "offsite_redirect"
        assert entry["location"] in failed[pid]["message"]
    assert run.stats["failures/product/offsite_redirect"] == len(offsite)
    assert run.stats["redirect/offsite_refused"] == len(offsite)
    # the foreign host saw no request of the crawl
    assert foreign.stats()["total"] == 0


def test_not_found_and_invalid_products_end_failed_and_rejected(listing_run) -> None:
    run, truth = listing_run
    redirected = truth["products"]["redirected"]
    failed = {r["id"]: r["reason"] for r in lines(run, "products", "failures.jsonl")}
    rejects = {r["id"]: r["reasons"] for r in lines(run, "products", "rejects.jsonl")}
    for pid in truth["products"]["not_found"]:
        assert failed[int(pid)] == "not_found"
    invalid = {int(p): reason for p, reason in truth["products"]["invalid"].items()}
    # an invalid product is rejected with its reason unless its redirect took it elsewhere
    kept = {
        pid
        for pid in invalid
        if str(pid) not in redirected or redirected[str(pid)]["kind"] == "canonical"
    }
    assert kept and {pid: rejects[pid] for pid in kept} == {pid: [invalid[pid]] for pid in kept}


def test_every_listed_id_ends_stored_rejected_or_failed_once(listing_run) -> None:
    run, truth = listing_run
    ends = outcomes(run)
    everything = [pid for ids in ends.values() for pid in ids]
    assert duplicates(everything) == []  # each id ends one way, once
    listed = set(truth["products"]["listed"])
    assert set(everything) == listed
    assert sum(len(ids) for ids in ends.values()) == len(listed)
    # and the ways they ended are the ground truth's
    redirected = truth["products"]["redirected"]
    moved_off = {int(p) for p, e in redirected.items() if e["kind"] != "canonical"}
    reasons = Counter(r["reason"] for r in lines(run, "products", "failures.jsonl"))
    assert reasons == Counter(
        {
            "not_found": len(truth["products"]["not_found"]),
            "redirected": len(by_kind(truth, "product")),
            "offsite_redirect": len(by_kind(truth, "offsite")),
        }
    )
    assert set(ends["stored"]) == set(truth["products"]["valid"]) - moved_off
    assert run.stats["finish_reason"] == "finished"


def test_an_id_redirected_to_a_product_fetched_already_is_not_lost(
    redirecting, tmp_path: Path
) -> None:
    """The issue's case: A's detail redirects to B's URL, which the crawl has
    fetched already, so Scrapy's duplicate filter used to drop A's request."""
    truth = redirecting.truth(reviews=0)
    moved = by_kind(truth, "product")
    canonical = [p for p in by_kind(truth, "canonical") if p in set(truth["products"]["valid"])]
    asked: list[int] = []
    for pid, entry in sorted(moved.items()):
        asked += [entry["to"], pid]  # B first, then A
    asked = list(dict.fromkeys(asked + canonical))
    ids_file = tmp_path / "ids.csv"
    ids_file.write_text("id\n" + "\n".join(map(str, asked)) + "\n", encoding="utf-8")
    run = run_crawl(
        "products",
        redirecting.url,
        tmp_path,
        args={"ids_file": str(ids_file)},
        settings={"CONCURRENT_REQUESTS": 1, "CONCURRENT_REQUESTS_PER_DOMAIN": 1},
    )
    ends = outcomes(run)
    everything = [pid for ids in ends.values() for pid in ids]
    assert duplicates(everything) == [] and sorted(everything) == sorted(asked)
    failed = {r["id"]: r["reason"] for r in lines(run, "products", "failures.jsonl")}
    assert failed == dict.fromkeys(moved, "redirected")
    assert sorted(ends["stored"]) == sorted({e["to"] for e in moved.values()} | set(canonical))
    assert run.stats.get("dupefilter/filtered", 0) == 0  # the redirects passed the filter


def test_a_normal_run_logs_no_redirect_middleware_warning(sim, truth, tmp_path: Path) -> None:
    run = run_crawl("products", sim.url, tmp_path, args={"ids_file": str(_ids(tmp_path, truth))})
    assert run.stats["finish_reason"] == "finished"
    assert "RedirectMiddleware" not in run.stderr
    assert "Referer" not in run.stderr


def _ids(tmp_path: Path, truth: dict) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text(
        "id\n" + "\n".join(map(str, truth["products"]["valid"][:5])) + "\n", encoding="utf-8"
    )
    return path
