"""The living catalogue: `POST /_sim/advance`, the truth of the current day and its changes."""

from __future__ import annotations

from sim.testing import SimProcess
from tests.support.sim_client import Client, walk_listing


def _listed_ids(sim: SimProcess, truth: dict) -> set[int]:
    ids: set[int] = set()
    with Client(sim.url) as client:
        for category in truth["categories"]:
            ids.update(int(pid) for pid in walk_listing(client, category))
    return ids


def test_a_day_changes_the_catalogue_deterministically_and_day_0_comes_back(sim_factory) -> None:
    sim = sim_factory(size="tiny", seed=1)
    day0 = sim.truth(reviews="counts")
    assert day0["day"] == 0 and day0["products"]["withdrawn"] == []
    assert sim.changes(0) == {
        "since_day": 0,
        "day": 0,
        "changed": {},
        "new": [],
        "withdrawn": [],
        "new_reviews": {},
    }
    assert sim.advance(1) == {"day": 1}
    changes = sim.changes(0)
    day1 = sim.truth(reviews="counts")
    assert day1["day"] == 1 and changes["day"] == 1
    assert changes["changed"] and changes["new"] and changes["withdrawn"]
    valid0 = set(day0["products"]["valid"])
    assert set(changes["withdrawn"]) <= valid0
    assert set(day1["products"]["withdrawn"]) == set(changes["withdrawn"])
    assert set(day1["products"]["valid"]) == valid0 - set(changes["withdrawn"]) | set(
        changes["new"]
    )
    # the listings hold the day's products; a withdrawn one's detail answers 404
    listed = _listed_ids(sim, day1)
    assert listed == set(day1["products"]["listed"])
    assert all(sim.get(f"/api/v2/products/{pid}").status == 404 for pid in changes["withdrawn"])
    for pid, fields in changes["changed"].items():
        detail = sim.get(f"/api/v2/products/{pid}").json()
        for name, (old, new) in fields.items():
            assert old != new
            if name == "quantity_sold":
                assert detail["quantity_sold"]["value"] == new
            elif name == "stock_qty":
                assert detail["stock_item"]["qty"] == new
            else:
                assert detail[name] == new, (pid, name)
    counts0, counts1 = day0["reviews"]["count_by_product"], day1["reviews"]["count_by_product"]
    for pid, ids in changes["new_reviews"].items():
        assert counts1[pid] == counts0.get(pid, 0) + len(ids)
        first = sim.get("/api/v2/reviews", product_id=pid, page=1, limit=20).json()["data"]
        assert [r["id"] for r in first[: len(ids)]] == sorted(ids, reverse=True)
    # the same seed and day: the same catalogue; reset(state) is day 0 again
    other = sim_factory(size="tiny", seed=1)
    other.advance(1)
    assert other.changes(0) == changes
    sim.reset(state=True)
    assert sim.truth(reviews="counts") == day0
    # two days: since day 1 is the second day's alone
    sim.advance(2)
    assert sim.changes(0)["day"] == 2
    assert set(sim.changes(1)["withdrawn"]) <= set(sim.changes(0)["withdrawn"])


def test_advance_refuses_bad_days_and_knobs_take_shares(sim_factory) -> None:
    sim = sim_factory(size="tiny", seed=2)
    assert sim.request("POST", "/_sim/advance", {"days": 0}).status == 400
    assert sim.request("POST", "/_sim/advance", {"days": "x"}).status == 400
    assert sim.get("/_sim/truth/changes").status == 400
    sim.config(
        day_price_share=0,
        day_stock_share=0,
        day_review_share=0,
        day_new_share=0,
        day_withdrawn_share=0,
    )
    sim.advance(1)
    assert sim.changes(0)["changed"] == {} and sim.changes(0)["new"] == []


def test_fail_listing_categories_fails_listing_pages_but_not_the_brand_filter(sim_factory) -> None:
    sim = sim_factory(size="tiny", seed=1)
    category = sim.truth(reviews=0)["categories"][0]
    sim.config(fail_listing_categories=[category])
    path = "/api/personalish/v1/blocks/listings"
    assert sim.get(path, category=category, page=1, aggregations=2).status == 200
    assert sim.get(path, category=category, page=1).status == 500
    assert sim.stats()["faults"]["failed_listing"] == 1
