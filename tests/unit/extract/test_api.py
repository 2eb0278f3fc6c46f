"""Extraction against saved simulator bodies (expected output next to them),
and the tolerant reader's edge cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from itemadapter import ItemAdapter

from crawler.exceptions import ExtractionError
from crawler.extract.api import (
    extract_brands,
    extract_comment,
    extract_comments,
    extract_listing_ids,
    extract_paging,
    extract_product,
    parse_json,
)
from tests.support.paths import DATA

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PRODUCTS = {
    "37779493": "hostile specification codes",
    "37813983": "no brand",
    "37802257": "price is a word (price_wrong_type)",
}


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def as_json(item: Any) -> dict[str, Any]:
    """The item as its feed line would hold it."""
    return orjson.loads(orjson.dumps(ItemAdapter(item).asdict()))


def product_fields() -> list[tuple[str, str]]:
    return [(pid, field) for pid in PRODUCTS for field in load(f"product_{pid}.expected.json")]


@pytest.mark.parametrize(("pid", "field"), product_fields())
def test_product_field(pid: str, field: str) -> None:
    url = f"https://tiki.vn/api/v2/products/{pid}"
    product = as_json(extract_product(load(f"product_{pid}.json"), url, NOW))
    assert product[field] == load(f"product_{pid}.expected.json")[field]


def test_product_keeps_what_validation_must_see() -> None:
    product = extract_product(load("product_37802257.json"), "u", NOW)
    assert product.price == "Liên hệ"  # not None: validation names the defect
    assert product.seller_product_id == "37802260"  # a string in the API
    assert product.category_id == 31550  # categories is one object


def test_hostile_specification_codes_stay_values() -> None:
    product = extract_product(load("product_37779493.json"), "u", NOW)
    codes = [row["code"] for row in product.specifications]
    assert {"$where", "a.b", ""} <= set(codes)
    assert all(set(row) == {"group", "code", "name", "value"} for row in product.specifications)


def test_reviews_page() -> None:
    payload = load("reviews_37863078_p2.json")
    expected = load("reviews_37863078_p2.expected.json")
    url = "https://tiki.vn/api/v2/reviews?product_id=37863078&page=2&limit=20"
    paging = extract_paging(payload)
    assert (paging.total, paging.last_page, paging.current_page) == (128, 7, 2)
    comments = [as_json(c) for c in extract_comments(payload, 37863078, url, NOW)]
    assert comments == expected["comments"]


def test_listing_page() -> None:
    payload = load("listing_73464_p1.json")
    expected = load("listing_73464_p1.expected.json")
    assert extract_listing_ids(payload) == expected["ids"]
    assert any(isinstance(item["id"], str) for item in payload["data"])  # some ids are strings
    paging = extract_paging(payload)
    assert [paging.total, paging.last_page, paging.current_page] == [
        expected["paging"][k] for k in ("total", "last_page", "current_page")
    ]
    brands = [as_json(b) for b in extract_brands(payload, 73464, "u", NOW)]
    assert brands == expected["brands"]


# -- the tolerant reader ------------------------------------------------------


def test_minimal_product_with_string_ids_and_nulls() -> None:
    payload = {
        "id": "42",
        "name": "Sách",
        "price": "150000",
        "brand": None,
        "categories": None,
        "current_seller": None,
        "specifications": None,
        "quantity_sold": None,
        "rating_average": 4,
        "unknown_key": {"nested": True},
    }
    product = extract_product(payload, "u", NOW)
    assert (product.id, product.price, product.brand_id, product.category_id) == (
        42,
        150000,
        None,
        None,
    )
    assert product.rating_average == 4.0
    assert product.specifications == [] and product.breadcrumbs == []
    assert product.quantity_sold is None


def test_product_without_id_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError) as info:
        extract_product({"name": "x"}, "https://h/api/v2/products/7", NOW)
    assert info.value.reason == "missing_id"
    assert str(info.value) == "product at https://h/api/v2/products/7: no usable id (None)"


@pytest.mark.parametrize(
    ("body", "reason", "message"),
    [
        (b'{"id": 1', "malformed_json", "product u: the body is not valid JSON"),
        (b"[1, 2]", "unexpected_shape", "product u: expected a JSON object, got list"),
    ],
)
def test_bad_bodies(body: bytes, reason: str, message: str) -> None:
    with pytest.raises(ExtractionError) as info:
        parse_json(body, "product u")
    assert info.value.reason == reason
    assert str(info.value).startswith(message)


def test_listing_data_not_a_list() -> None:
    with pytest.raises(ExtractionError, match="'data' is not a list"):
        extract_listing_ids({"data": {"id": 1}})


def test_review_time_from_the_timeline_when_created_at_is_missing() -> None:
    review = {"id": 9, "timeline": {"review_created_date": "2024-05-19 10:55:07"}}
    comment = extract_comment(review, 5, "u", NOW)
    assert comment.created_at == datetime(2024, 5, 19, 3, 55, 7, tzinfo=UTC)
    assert comment.product_id == 5 and comment.author_name is None
