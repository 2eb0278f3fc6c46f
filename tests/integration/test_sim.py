"""The marketplace simulator: determinism, shapes, ground truth and one test per knob."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sim.faults import DEFAULT_KNOBS
from sim.testing import SimError, SimProcess
from tests.support.sim_client import LISTINGS, Client, brand_filter, walk_listing, walk_reviews

VN = timezone(timedelta(hours=7))
LISTING_ITEM_TYPES = {
    "sku": str,
    "name": str,
    "url_key": str,
    "url_path": str,
    "brand_name": str,
    "price": int,
    "list_price": int,
    "original_price": int,
    "discount": int,
    "discount_rate": int,
    "review_count": int,
    "seller_product_id": int,
    "thumbnail_url": str,
    "primary_category_path": str,
}
REVIEW_TYPES = {
    "id": int,
    "product_id": int,
    "spid": int,
    "title": str,
    "content": str,
    "status": str,
    "rating": int,
    "thank_count": int,
    "comment_count": int,
    "created_at": int,
    "customer_id": int,
    "images": list,
    "seller": dict,
    "timeline": dict,
}


@pytest.fixture(scope="module")
def tiny() -> Iterator[SimProcess]:
    """A tiny simulator of this module's own: its knobs and state are changed here."""
    with SimProcess().start(size="tiny", seed=1) as server:
        yield server


@pytest.fixture
def sim_tiny(tiny: SimProcess) -> Iterator[SimProcess]:
    """The module's simulator with default knobs and zeroed stats, restored afterwards."""
    tiny.reset(state=True)
    yield tiny
    tiny.reset(state=True)


@pytest.fixture
def client(sim_tiny: SimProcess) -> Iterator[Client]:
    with Client(sim_tiny.url) as c:
        yield c


@pytest.fixture(scope="module")
def truth(tiny: SimProcess) -> dict[str, Any]:
    """The pristine truth of `tiny` (overrides conftest's `truth` of the shared simulator)."""
    tiny.reset(state=True)
    return tiny.truth()


def detail(client: Client, pid: int) -> dict[str, Any]:
    return client.json(f"/api/v2/products/{pid}", platform="web")  # type: ignore[no-any-return]


def reviewed_products(truth: dict[str, Any]) -> list[int]:
    """Product ids by review count, most reviewed first."""
    by_product = truth["reviews"]["by_product"]
    return sorted(map(int, by_product), key=lambda pid: -len(by_product[str(pid)]))


# -- determinism -------------------------------------------------------------------------
def test_same_seed_same_truth_and_bodies_other_seed_differs() -> None:
    with (
        SimProcess().start(size="tiny", seed=1) as a,
        SimProcess().start(size="tiny", seed=1) as b,
        SimProcess().start(size="tiny", seed=2) as c,
    ):
        truth_a, truth_b, truth_c = a.truth(), b.truth(), c.truth()
        assert truth_a == truth_b
        assert truth_a["products"]["listed"] != truth_c["products"]["listed"]
        big = reviewed_products(truth_a)[0]
        paths = [
            f"{LISTINGS}?limit=40&category={truth_a['categories'][0]}&page=1&aggregations=2",
            f"/api/v2/products/{truth_a['products']['valid'][3]}",
            f"/api/v2/products/{next(iter(truth_a['products']['invalid']))}",
            f"/api/v2/reviews?product_id={big}&page=2&limit=20",
        ]
        for path in paths:
            reply_a, reply_b = a.get(path), b.get(path)
            assert reply_a.status == reply_b.status == 200
            assert reply_a.body == reply_b.body
            assert reply_a.headers["ETag"] == reply_b.headers["ETag"]
        assert a.get(paths[1]).body != c.get(paths[1]).body


def test_cli_knob_flags_and_clean_exit_on_sigterm() -> None:
    server = SimProcess().start(
        size="tiny",
        seed=3,
        latency_ms=5,
        fail_product_ids=[7, 8],
        new_review_every=4,
        products=50,
        categories=2,
        brands=3,
    )
    try:
        knobs = server.config()
        assert knobs == {
            **DEFAULT_KNOBS,
            "latency_ms": 5.0,
            "fail_product_ids": [7, 8],
            "new_review_every": 4,
        }
        assert server.truth(reviews=0)["size"] == {"products": 50, "categories": 2, "brands": 3}
    finally:
        assert server.stop() == 0


def test_huge_preset_starts_and_answers_truth_without_reviews() -> None:
    with SimProcess().start(size="huge") as server:
        truth = server.truth(reviews=0)
        assert truth["totals"]["listed"] == 200_000
        assert truth["totals"]["reviews"] > 1_000_000
        assert set(truth["reviews"]) == {"total"}


# -- shapes ------------------------------------------------------------------------------
def test_listing_paging_items_and_filters(client: Client, truth: dict[str, Any]) -> None:
    cid = truth["categories"][0]
    body = client.json(LISTINGS, limit=40, category=cid, page=1)
    assert "filters" not in body
    total = body["paging"]["total"]
    assert body["paging"] == {
        "total": total,
        "per_page": 40,
        "current_page": 1,
        "last_page": -(-total // 40),
    }
    assert len(body["data"]) == 40
    for item in body["data"]:
        assert isinstance(item["id"], (int, str))
        assert int(item["id"]) in set(truth["products"]["listed"])
        for key, kind in LISTING_ITEM_TYPES.items():
            assert isinstance(item[key], kind), (key, item[key])
        assert isinstance(item["rating_average"], (int, float))
        assert item["quantity_sold"] is None or set(item["quantity_sold"]) == {"text", "value"}
        assert len(item) > 50
    assert client.json(LISTINGS, limit=500, category=cid, page=1)["paging"]["per_page"] == 100
    past = client.json(LISTINGS, limit=40, category=cid, page=body["paging"]["last_page"] + 1)
    assert past["data"] == [] and past["paging"]["total"] == total
    unknown = client.json(LISTINGS, limit=40, category=1, page=1)
    assert unknown["data"] == [] and unknown["paging"]["total"] == 0


def test_listing_filters_and_brand_listing(client: Client, truth: dict[str, Any]) -> None:
    cid = truth["categories"][1]
    body = client.json(LISTINGS, limit=40, category=cid, page=1, aggregations=2)
    brands = next(f for f in body["filters"] if f["query_name"] == "brand")
    assert brands["display_name"] == "Thương hiệu" and brands["multi_select"] is True
    assert (
        sorted(int(v["query_value"]) for v in brands["values"])
        == truth["brands"]["by_category"][str(cid)]
    )
    price = next(f for f in body["filters"] if f["query_name"] == "price")
    assert isinstance(price["min"], int) and price["min"] <= price["max"]
    everything = walk_listing(client, cid)
    by_brand: list[int | str] = []
    for value in brands["values"]:
        ids = walk_listing(client, cid, int(value["query_value"]), limit=7)
        names = {
            item["brand_name"]
            for item in client.json(
                LISTINGS, limit=100, category=cid, page=1, brand=value["query_value"]
            )["data"]
        }
        assert names == {value["display_value"]}
        by_brand.extend(ids)
    assert sorted(map(int, by_brand)) == sorted(map(int, everything))
    assert walk_listing(client, cid) == everything  # stable order
    top = client.json(LISTINGS, limit=100, category=cid, page=1, sort="top_seller")["data"]
    sold = [(item["quantity_sold"] or {"value": 0})["value"] for item in top]
    assert sold == sorted(sold, reverse=True)


def test_some_listing_ids_are_strings(client: Client, truth: dict[str, Any]) -> None:
    ids = [i for cid in truth["categories"] for i in walk_listing(client, cid, limit=100)]
    strings = [i for i in ids if isinstance(i, str)]
    assert 0 < len(strings) < len(ids) * 0.15
    assert all(s.isdigit() for s in strings)


def test_detail_shape(client: Client, truth: dict[str, Any]) -> None:
    details = [detail(client, pid) for pid in truth["products"]["valid"]]
    for body in details[:20]:
        assert 65 <= len(body) <= 80
        assert isinstance(body["id"], int) and isinstance(body["master_id"], int)
        assert isinstance(body["price"], int) and body["price"] > 0 and body["name"].strip()
        assert set(body["categories"]) == {"id", "name", "is_leaf"}
        assert (
            isinstance(body["breadcrumbs"], list)
            and body["breadcrumbs"][1]["category_id"] == body["categories"]["id"]
        )
        assert isinstance(body["current_seller"]["product_id"], str)
        assert set(body["stock_item"]) == {"qty", "min_sale_qty", "max_sale_qty", "preorder_date"}
        assert body["images"] and "base_url" in body["images"][0]
        html = body["description"]
        for needle in ("<script", "<style", "&amp;", "&nbsp;", "&#7841;", "<table", "<img"):
            assert needle in html
    assert any(
        "onclick=" in b["description"] and "javascript:" in b["description"] for b in details
    )
    brands = [b.get("brand", "missing") for b in details]
    no_brand = [b for b in brands if b in (None, "missing")]
    assert 0 < len(no_brand) < len(brands) * 0.15 and "missing" in brands and None in brands
    assert all(set(b) == {"id", "name", "slug"} for b in brands if isinstance(b, dict))
    codes = {
        attr["code"]
        for b in details
        for group in b["specifications"]
        for attr in group["attributes"]
    }
    assert {"$where", "a.b", ""} <= codes
    assert any(b["configurable_products"] for b in details)


def test_invalid_products_carry_exactly_their_defect(client: Client, truth: dict[str, Any]) -> None:
    invalid = truth["products"]["invalid"]
    assert set(invalid.values()) == {
        "price_missing",
        "price_negative",
        "name_empty",
        "price_wrong_type",
    }
    for pid, reason in invalid.items():
        body = detail(client, int(pid))
        price, name = body.get("price", "absent"), body["name"]
        defects = {
            "price_missing": price == "absent",
            "price_negative": isinstance(price, int) and price < 0,
            "name_empty": name.strip() == "",
            "price_wrong_type": isinstance(price, str) and price != "absent",
        }
        assert [r for r, present in defects.items() if present] == [reason], (
            pid,
            body.get("price"),
        )


def test_not_found_and_unknown_ids_answer_404(client: Client, truth: dict[str, Any]) -> None:
    for pid in [*truth["products"]["not_found"], 1, 99_999_999_999]:
        status, headers, body = client.get(f"/api/v2/products/{pid}")
        assert status == 404 and "error" in json.loads(body)
        assert headers["Content-Type"] == "application/json; charset=utf-8"
    for pid in truth["products"]["not_found"]:
        reviews = client.json("/api/v2/reviews", product_id=pid, page=1)
        assert reviews["data"] == [] and reviews["paging"]["total"] == 0


def test_reviews_shape_paging_and_order(client: Client, truth: dict[str, Any]) -> None:
    pid = reviewed_products(truth)[0]
    expected = truth["reviews"]["by_product"][str(pid)]
    first = client.json("/api/v2/reviews", product_id=pid, page=1)
    assert first["paging"]["per_page"] == 5 and len(first["data"]) == 5
    capped = client.json("/api/v2/reviews", product_id=pid, page=1, limit=100, sort="score|desc")
    assert capped["paging"] == {
        "total": len(expected),
        "per_page": 20,
        "current_page": 1,
        "last_page": -(-len(expected) // 20),
        "from": 1,
        "to": 20,
    }
    assert set(first["stars"]) == {"1", "2", "3", "4", "5"}
    assert first["reviews_count"] == len(expected) and isinstance(first["rating_average"], float)
    reviews = walk_reviews(client, pid)
    times = [r["created_at"] for r in reviews]
    assert times == sorted(times, reverse=True)
    invalid = truth["reviews"]["invalid"]
    for review in reviews:
        for key, kind in REVIEW_TYPES.items():
            assert isinstance(review[key], kind), (key, review[key])
        assert "body" not in review and review["product_id"] == pid
        local = datetime.fromtimestamp(review["created_at"], VN).strftime("%Y-%m-%d %H:%M:%S")
        assert review["timeline"]["review_created_date"] == local
        assert review["created_by"] is None or isinstance(review["created_by"]["purchased"], bool)
        assert (review["rating"] in (0, 6)) == (str(review["id"]) in invalid)
    empty = next(
        p for p in truth["products"]["valid"] if str(p) not in truth["reviews"]["by_product"]
    )
    none = client.json("/api/v2/reviews", product_id=empty, page=1)
    assert none["data"] == [] and none["paging"]["last_page"] == 1 and none["reviews_count"] == 0


# -- ground truth ------------------------------------------------------------------------
def test_walking_the_api_yields_the_truth(client: Client, truth: dict[str, Any]) -> None:
    listed: set[int] = set()
    for cid in truth["categories"]:
        values = brand_filter(client, cid)["values"]
        assert (
            sorted(int(v["query_value"]) for v in values)
            == truth["brands"]["by_category"][str(cid)]
        )
        listed.update(map(int, walk_listing(client, cid)))
        for value in values:
            listed.update(map(int, walk_listing(client, cid, int(value["query_value"]))))
    assert sorted(listed) == sorted(truth["products"]["listed"])
    products = truth["products"]
    with_detail = [*products["valid"], *map(int, products["invalid"])]
    assert sorted([*with_detail, *products["not_found"]]) == sorted(products["listed"])
    by_product: dict[str, list[int]] = {}
    invalid: dict[str, str] = {}
    for pid in with_detail:
        assert client.get(f"/api/v2/products/{pid}")[0] == 200
        reviews = walk_reviews(client, pid)
        if reviews:
            by_product[str(pid)] = sorted(r["id"] for r in reviews)
        invalid.update(
            (str(r["id"]), "rating_out_of_range") for r in reviews if r["rating"] in (0, 6)
        )
    for pid in products["not_found"]:
        assert client.get(f"/api/v2/products/{pid}")[0] == 404
    assert by_product == {k: sorted(v) for k, v in truth["reviews"]["by_product"].items()}
    assert invalid == truth["reviews"]["invalid"]
    assert (
        sum(map(len, by_product.values()))
        == truth["reviews"]["total"]
        == truth["totals"]["reviews"]
    )
    assert 0 < len(invalid) < truth["reviews"]["total"] * 0.03


def test_truth_query_options(sim_tiny: SimProcess, truth: dict[str, Any]) -> None:
    some = reviewed_products(truth)[:2]
    part = sim_tiny.truth(product_ids=some)["reviews"]
    assert set(part["by_product"]) == {str(p) for p in some}
    assert part["total"] == sum(len(truth["reviews"]["by_product"][str(p)]) for p in some)
    counts = sim_tiny.truth(reviews="counts")["reviews"]["count_by_product"]
    assert counts == {k: len(v) for k, v in truth["reviews"]["by_product"].items()}


# -- knobs -------------------------------------------------------------------------------
def test_latency_and_jitter(sim_tiny: SimProcess, client: Client) -> None:
    sim_tiny.config(latency_ms=300)
    started = time.perf_counter()
    assert client.get(LISTINGS, category=1)[0] == 200
    assert time.perf_counter() - started >= 0.3
    sim_tiny.config(latency_ms=150, jitter_ms=100)
    for _ in range(3):
        started = time.perf_counter()
        client.get(LISTINGS, category=1)
        assert time.perf_counter() - started >= 0.05


def test_rate_limit_burst_gets_429_and_paced_client_does_not(
    sim_tiny: SimProcess, client: Client
) -> None:
    sim_tiny.config(rate_limit=5)
    replies = [client.get(LISTINGS, category=1) for _ in range(15)]
    statuses = [status for status, _, _ in replies]
    assert statuses[:5] == [200] * 5 and 429 in statuses
    for status, headers, body in replies:
        if status == 429:
            assert int(headers["Retry-After"]) >= 1 and "error" in json.loads(body)
    assert sim_tiny.stats()["faults"]["rate_limited"] == statuses.count(429)
    sim_tiny.config(rate_limit=20)  # a fresh, full bucket
    sim_tiny.reset()
    started = time.monotonic()
    for k in range(40):  # 2 s at exactly 20 requests per second
        time.sleep(max(0.0, started + k / 20 - time.monotonic()))
        assert client.get(LISTINGS, category=1)[0] == 200
    assert 15 <= sim_tiny.stats()["max_rps_1s"] <= 40  # 20 paced; a late client catches up


def test_error_rate(sim_tiny: SimProcess, client: Client) -> None:
    sim_tiny.config(error_rate=0.3)
    statuses = [client.get(LISTINGS, category=1)[0] for _ in range(200)]
    errors = [s for s in statuses if s >= 500]
    assert set(errors) == {500, 503} and 30 <= len(errors) <= 90
    assert statuses.count(200) == 200 - len(errors)
    assert sim_tiny.stats()["faults"]["errors"] == len(errors)


def test_drop_closes_the_connection(sim_tiny: SimProcess, client: Client) -> None:
    sim_tiny.config(drop_rate=1)
    with pytest.raises(OSError):
        client.get(LISTINGS, category=1)
    with pytest.raises(OSError):
        sim_tiny.get("/api/v2/products/1")
    assert sim_tiny.stats()["faults"]["dropped"] == 2


def test_hang_delays_the_answer(
    sim_tiny: SimProcess, client: Client, truth: dict[str, Any]
) -> None:
    sim_tiny.config(hang_rate=1, hang_seconds=1)
    started = time.perf_counter()
    assert detail(client, truth["products"]["valid"][0])["id"] == truth["products"]["valid"][0]
    assert time.perf_counter() - started >= 1.0


def test_malformed_body(sim_tiny: SimProcess, client: Client, truth: dict[str, Any]) -> None:
    sim_tiny.config(malformed_rate=1)
    for pid in truth["products"]["valid"][:10]:
        status, headers, body = client.get(f"/api/v2/products/{pid}")
        assert status == 200 and headers["Content-Type"] == "application/json; charset=utf-8"
        with pytest.raises(json.JSONDecodeError):
            json.loads(body)
    status, _, body = client.get(f"/api/v2/products/{truth['products']['not_found'][0]}")
    assert status == 404 and json.loads(body)  # only 200s are corrupted


def test_new_review_every(sim_tiny: SimProcess, client: Client, truth: dict[str, Any]) -> None:
    pid = reviewed_products(truth)[-1]
    before = truth["reviews"]["by_product"][str(pid)]
    sim_tiny.config(new_review_every=3)
    pages = [client.json("/api/v2/reviews", product_id=pid, page=1) for _ in range(3)]
    assert pages[0]["reviews_count"] == pages[1]["reviews_count"] == len(before)
    assert pages[2]["reviews_count"] == len(before) + 1
    now = sim_tiny.truth(product_ids=[pid])
    (new_id,) = set(now["reviews"]["by_product"][str(pid)]) - set(before)
    assert pages[2]["data"][0]["id"] == new_id and pages[1]["data"][0]["id"] != new_id
    assert pages[2]["data"][1]["id"] == pages[1]["data"][0]["id"]  # the others shift down
    assert now["totals"]["reviews_new"] == 1
    assert now["totals"]["reviews"] == truth["totals"]["reviews"] + 1


def test_fail_product_ids(sim_tiny: SimProcess, client: Client, truth: dict[str, Any]) -> None:
    failing, other = truth["products"]["valid"][:2]
    sim_tiny.config(fail_product_ids=[failing])
    assert [client.get(f"/api/v2/products/{failing}")[0] for _ in range(3)] == [500] * 3
    assert client.get(f"/api/v2/products/{other}")[0] == 200
    stats = sim_tiny.stats()
    assert stats["product_refetched"] == {str(failing): 3}
    assert stats["by_status"] == {"200": 1, "500": 3}
    sim_tiny.config(fail_product_ids=[])
    assert client.get(f"/api/v2/products/{failing}")[0] == 200


def test_etag_and_304(client: Client, truth: dict[str, Any]) -> None:
    path = f"/api/v2/products/{truth['products']['valid'][0]}"
    status, headers, body = client.get(path)
    etag = headers["ETag"]
    assert status == 200 and headers["Cache-Control"] == "max-age=300" and etag.startswith('"')
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    for header in (etag, f"W/{etag}", f'"nope", {etag}'):
        status, again, body = client.get(path, headers={"If-None-Match": header})
        assert status == 304 and body == b"" and again["ETag"] == etag
    assert client.get(path, headers={"If-None-Match": '"other"'})[0] == 200


def test_config_endpoint(sim_tiny: SimProcess) -> None:
    assert sim_tiny.config() == DEFAULT_KNOBS
    merged = sim_tiny.config(latency_ms=20)
    merged = sim_tiny.config(error_rate=0.5, fail_product_ids=["12", 13])
    assert merged == {
        **DEFAULT_KNOBS,
        "latency_ms": 20.0,
        "error_rate": 0.5,
        "fail_product_ids": [12, 13],
    }
    assert sim_tiny.config() == merged
    for bad, culprit in (
        ({"no_such_knob": 1}, "no_such_knob"),
        ({"error_rate": 2}, "error_rate"),
        ({"latency_ms": "slow"}, "latency_ms"),
        ({"new_review_every": 1.5}, "new_review_every"),
        ({"error_rate": 0.1, "drop_rate": -1}, "drop_rate"),
    ):
        reply = sim_tiny.request("POST", "/_sim/config", bad)
        assert reply.status == 400 and culprit in reply.json()["error"]
    assert sim_tiny.request("POST", "/_sim/config", [1]).status == 400
    assert sim_tiny.config() == merged  # a refused update changes nothing
    with pytest.raises(SimError, match="no_such_knob"):
        sim_tiny.config(no_such_knob=1)


def test_stats_count_kinds_and_reset(
    sim_tiny: SimProcess, client: Client, truth: dict[str, Any]
) -> None:
    pid = truth["products"]["valid"][0]
    client.get(LISTINGS, category=1)
    client.get(f"/api/v2/products/{pid}")
    client.get(f"/api/v2/products/{pid}")
    client.get("/api/v2/reviews", product_id=pid)
    client.get("/api/v9/nothing")
    stats = sim_tiny.stats()
    assert stats["total"] == 5
    assert stats["by_kind"] == {"listings": 1, "product": 2, "reviews": 1, "other": 1}
    assert stats["by_status"] == {"200": 4, "404": 1}
    assert stats["product_refetched"] == {str(pid): 2}
    sim_tiny.reset()
    assert sim_tiny.stats()["total"] == 0
