"""The simulator's redirect knobs and its --print-categories flag (issue 12, items 5 and 7)."""

from __future__ import annotations

import http.client
import subprocess
import sys
import urllib.parse
from collections import Counter

import orjson
import pytest

from sim.faults import KnobError, validate_knobs
from tests.support.paths import ROOT


def raw_get(base_url: str, path: str) -> tuple[int, str | None, bytes]:
    """One GET that does not follow redirects: (status, Location, body)."""
    parts = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Location"), response.read()
    finally:
        conn.close()


def test_redirects_answer_as_the_ground_truth_lists_them(sim_factory) -> None:
    sim = sim_factory(size="tiny", seed=1, redirect_rate=0.15)
    truth = sim.truth(reviews=0)
    redirected = truth["products"]["redirected"]
    assert truth["totals"]["redirected"] == len(redirected)
    assert set(Counter(r["kind"] for r in redirected.values())) == {
        "product",
        "canonical",
        "offsite",
    }
    assert {r["status"] for r in redirected.values()} == {301, 302}
    port = urllib.parse.urlsplit(sim.url).port
    not_found = set(truth["products"]["not_found"])
    valid = set(truth["products"]["valid"])
    for pid, entry in redirected.items():
        assert int(pid) not in not_found  # only products with a detail redirect
        status, location, _ = raw_get(sim.url, f"/api/v2/products/{pid}")
        assert (status, location) == (entry["status"], entry["location"])
        if entry["kind"] == "offsite":
            assert location == f"http://127.0.0.2:{port}/api/v2/products/{pid}"
            continue
        status, location, body = raw_get(sim.url, location)
        assert status == 200 and location is None  # one hop, within the API
        detail_id = orjson.loads(body)["id"]
        if entry["kind"] == "canonical":
            assert location is None and detail_id == int(pid)
            assert entry["location"].startswith(f"/api/v2/products/{pid}?spid=")
        else:  # another product: a valid one that does not redirect itself
            assert detail_id == entry["to"] != int(pid)
            assert entry["to"] in valid and str(entry["to"]) not in redirected
    assert sim.stats()["faults"]["redirected"] == len(redirected)


def test_redirects_are_a_function_of_the_seed_and_the_knobs(sim_factory) -> None:
    one = sim_factory(size="tiny", seed=2, redirect_rate=0.2, redirect_kinds="product,offsite")
    two = sim_factory(size="tiny", seed=2)
    assert two.truth(reviews=0)["products"]["redirected"] == {}  # off by default
    two.config(redirect_rate=0.2, redirect_kinds=["offsite", "product"])
    first = one.truth(reviews=0)["products"]["redirected"]
    second = two.truth(reviews=0)["products"]["redirected"]
    assert first and {r["kind"] for r in first.values()} == {"product", "offsite"}
    # the same products, kinds and statuses (offsite locations name each one's port)
    assert {p: (r["kind"], r["status"], r.get("to")) for p, r in first.items()} == {
        p: (r["kind"], r["status"], r.get("to")) for p, r in second.items()
    }
    two.config(redirect_host="127.0.0.3:8123", redirect_kinds="offsite")
    locations = {r["location"] for r in two.truth(reviews=0)["products"]["redirected"].values()}
    assert locations and all(loc.startswith("http://127.0.0.3:8123/api/") for loc in locations)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"redirect_host": "10.0.0.1"}, "127.0.0.0/8"),
        ({"redirect_host": "example.com"}, "127.0.0.0/8"),
        ({"redirect_host": "127.0.0.2:99999"}, "127.0.0.0/8"),
        ({"redirect_kinds": "sideways"}, "known kinds"),
        ({"redirect_rate": 2}, "within [0, 1]"),
    ],
)
def test_bad_redirect_knobs_are_refused(knobs, message) -> None:
    with pytest.raises(KnobError, match=message.replace("[", r"\[")):
        validate_knobs(knobs)


def test_print_categories_gives_the_catalogues_category_ids(sim) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "--size", "tiny", "--seed", "1", "--print-categories"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout == ",".join(map(str, sim.truth(reviews=0)["categories"])) + "\n"
