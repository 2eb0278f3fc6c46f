"""The history of a batch of products (crawler/mongo/history.py), without a server."""

from __future__ import annotations

from datetime import UTC, datetime

from crawler.mongo.history import Planned, plan_product

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TRACKED = ("price", "name")


def test_a_new_product_gets_no_row_and_its_price_marks() -> None:
    planned = Planned()
    plan_product(planned, 1, {"price": 100, "name": "A"}, NOW, None, TRACKED, "r1")
    assert planned.history == [] and dict(planned.counts) == {"new": 1}
    update = planned.ops[0]._doc
    assert update["$set"]["price_min"] == update["$set"]["price_max"] == 100
    assert update["$setOnInsert"] == {"first_seen_at": NOW, "detail_at": NOW}


def test_a_change_is_one_row_with_the_new_lowest_price_and_only_tracked_fields() -> None:
    planned = Planned()
    old = {"price": 100, "price_min": 90, "price_max": 120, "name": "A", "stock_qty": 3}
    new = {"price": 80, "name": "A", "stock_qty": 1}
    plan_product(planned, 1, new, NOW, old, TRACKED, "r2", detail_time=True)
    (row,) = planned.records.values()
    assert row == {
        "_id": "1:r2",
        "product_id": 1,
        "at": NOW,
        "run_id": "r2",
        "changes": {"price": {"old": 100, "new": 80}},
        "lowest_price": True,
    }
    fields = planned.ops[0]._doc["$set"]
    assert (fields["price_min"], fields["price_max"], fields["changed_at"]) == (80, 120, NOW)
    assert fields["detail_at"] == NOW
    assert dict(planned.counts) == {"changed": 1, "changed/price": 1}


def test_unchanged_and_relisted() -> None:
    planned = Planned()
    plan_product(
        planned, 1, {"price": 100, "name": "A"}, NOW, {"price": 100, "name": "A"}, TRACKED, "r3"
    )
    assert planned.history == [] and dict(planned.counts) == {"unchanged": 1}
    planned = Planned()
    old = {"price": 100, "name": "A", "delisted_at": NOW}
    plan_product(planned, 1, {"price": 130, "name": "A"}, NOW, old, TRACKED, "r4")
    (row,) = planned.records.values()
    assert row["relisted"] is True and row["highest_price"] is True
    assert planned.ops[0]._doc["$unset"] == {"delisted_at": ""}
    assert planned.counts["relisted"] == 1
