"""Validation: the reasons of invalid items, the rejects file and the stats."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.extract.api import extract_comments, extract_product
from crawler.items import Brand, Comment, DashboardRow, Product
from crawler.pipelines.validate import CHECKERS, ValidatePipeline, json_record
from crawler.spiders.base import MarketplaceSpider
from tests.support.paths import DATA

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
URL = "https://tiki.vn/api/v2/products/37779493"


class SampleSpider(MarketplaceSpider):
    name = "sample"


def load(name: str) -> Any:
    return orjson.loads((DATA / name).read_bytes())


def product(**changes: Any) -> Product:
    """The saved product 37779493 with ``changes`` to its body (``None``: key removed)."""
    body = load("product_37779493.json")
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    return extract_product(body, URL, NOW)


def comment(rating: Any) -> Comment:
    review = {**load("reviews_37863078_p2.json")["data"][0], "rating": rating}
    return extract_comments({"data": [review]}, 37863078, "u", NOW)[0]


def reasons(item: Any) -> list[str]:
    problems = CHECKERS[type(item)].problems(json_record(item))
    return [f"{name}_{problem}" for name, problem in problems]


@pytest.fixture
def crawler(tmp_path: Path) -> Any:
    crawler = get_crawler(SampleSpider, {"OUTPUT_DIR": str(tmp_path)})
    crawler.spider = crawler._create_spider(run_id="run-1")
    crawler.stats.open_spider()
    return crawler


@pytest.fixture
def pipeline(crawler: Any) -> ValidatePipeline:
    return build_from_crawler(ValidatePipeline, crawler)


# -- reasons ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # the simulator's four defects, as its ground truth names them
        ({"price": None}, ["price_missing"]),
        ({"price": -1_990_000}, ["price_negative"]),
        ({"price": "Liên hệ"}, ["price_wrong_type"]),
        ({"name": ""}, ["name_empty"]),
        ({"name": "   "}, ["name_empty"]),  # caught even without the cleaning pipeline
        # null counts as missing; a float is not a price in VND
        ({"price": 12.5}, ["price_wrong_type"]),
        # every reason is named, in schema order
        (
            {"name": "", "price": None, "discount_rate": 140},
            ["name_empty", "price_missing", "discount_rate_out_of_range"],
        ),
        ({"rating_average": 7.5}, ["rating_average_out_of_range"]),
    ],
)
def test_product_reasons(changes: dict[str, Any], expected: list[str]) -> None:
    assert reasons(product(**changes)) == expected


def test_a_valid_product_has_no_reason() -> None:
    assert reasons(product()) == []


def test_nested_defects_name_the_field() -> None:
    item = product()
    item.specifications[0]["value"] = 12  # type: ignore[assignment]
    item.image_urls.append(None)  # type: ignore[arg-type]
    assert reasons(item) == ["specifications_wrong_type", "image_urls_wrong_type"]


@pytest.mark.parametrize(
    ("rating", "expected"),
    [
        (0, ["rating_out_of_range"]),
        (6, ["rating_out_of_range"]),
        (None, ["rating_missing"]),
        ("năm", ["rating_wrong_type"]),
        (1, []),
        (5, []),
    ],
)
def test_comment_reasons(rating: Any, expected: list[str]) -> None:
    assert reasons(comment(rating)) == expected


def test_brand_and_dashboard_row_reasons() -> None:
    assert reasons(Brand(id=7, name="Nokia", source_url="u", scraped_at=NOW)) == []
    assert reasons(Brand(id=0, name="", source_url="u", scraped_at=NOW)) == [
        "id_out_of_range",
        "name_empty",
    ]
    row = DashboardRow(
        key="sales:1",
        report="sales",
        day=date(2026, 11, 23),
        values={"$x": 1},
        source_url="u",
        scraped_at=NOW,
    )
    assert reasons(row) == []
    row.report = ""
    assert reasons(row) == ["report_empty"]


def test_a_naive_datetime_is_malformed() -> None:
    item = product()
    item.scraped_at = datetime(2026, 11, 23, 8, 0)
    assert reasons(item) == ["scraped_at_malformed"]


# -- the pipeline -----------------------------------------------------------


def test_valid_items_pass_and_are_counted(
    pipeline: ValidatePipeline, crawler: Any, tmp_path: Path
) -> None:
    item = product()
    assert pipeline.process_item(item) is item
    assert pipeline.process_item(comment(5)) is not None
    pipeline.close_spider()
    assert {k: v for k, v in crawler.stats.get_stats().items() if k.startswith("items/")} == {
        "items/valid/product": 1,
        "items/valid/comment": 1,
    }
    assert list(tmp_path.rglob("rejects.jsonl")) == []  # created at the first reject only


def test_invalid_items_go_to_the_rejects_file(
    pipeline: ValidatePipeline, crawler: Any, tmp_path: Path
) -> None:
    with pytest.raises(DropItem) as dropped:
        pipeline.process_item(product(price=None, name=""))
    path = tmp_path / "sample" / "run-1" / "rejects.jsonl"
    assert str(dropped.value) == (
        f"Rejected product 37779493: name_empty, price_missing (listed in {path})"
    )
    assert dropped.value.log_level == "DEBUG"
    with pytest.raises(DropItem):
        pipeline.process_item(comment(6))
    with pytest.raises(DropItem):
        pipeline.process_item(product(price=-5))
    pipeline.close_spider()

    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    times = [line.pop("time") for line in lines]
    assert all(datetime.fromisoformat(t).tzinfo is not None for t in times)
    review_id = comment(6).id
    assert lines == [
        {
            "kind": "product",
            "id": 37779493,
            "reasons": ["name_empty", "price_missing"],
            "values": {"name": ""},
            "url": URL,
            "spider": "sample",
        },
        {
            "kind": "comment",
            "id": review_id,
            "reasons": ["rating_out_of_range"],
            "values": {"rating": 6},
            "url": "u",
            "spider": "sample",
        },
        {
            "kind": "product",
            "id": 37779493,
            "reasons": ["price_negative"],
            "values": {"price": -5},
            "url": URL,
            "spider": "sample",
        },
    ]
    assert {k: v for k, v in crawler.stats.get_stats().items() if k.startswith("items/")} == {
        "items/rejected/product": 2,
        "items/rejected/product/name_empty": 1,
        "items/rejected/product/price_missing": 1,
        "items/rejected/product/price_negative": 1,
        "items/rejected/comment": 1,
        "items/rejected/comment/rating_out_of_range": 1,
    }


def test_rejects_file_setting(tmp_path: Path) -> None:
    path = tmp_path / "all-rejects.jsonl"
    crawler = get_crawler(SampleSpider, {"OUTPUT_DIR": str(tmp_path), "REJECTS_FILE": str(path)})
    crawler.spider = crawler._create_spider(run_id="run-1")
    crawler.stats.open_spider()
    pipeline = build_from_crawler(ValidatePipeline, crawler)
    with pytest.raises(DropItem):
        pipeline.process_item(comment(0))
    pipeline.close_spider()
    assert [orjson.loads(line)["reasons"] for line in path.read_bytes().splitlines()] == [
        ["rating_out_of_range"]
    ]


def test_items_of_other_types_pass_untouched(pipeline: ValidatePipeline) -> None:
    item = {"anything": "goes"}
    assert pipeline.process_item(item) is item


def test_field_coverage_counts_non_empty_fields_of_every_checked_item(
    pipeline: ValidatePipeline, crawler: Any
) -> None:
    pipeline.process_item(product())
    with pytest.raises(DropItem):
        pipeline.process_item(product(price=None, name=""))
    pipeline.close_spider()
    coverage = {
        k: v for k, v in crawler.stats.get_stats().items() if k.startswith("coverage/product/")
    }
    # every field of Product named, each counted over the two items checked
    names = {f.name for f in dataclasses.fields(Product)}
    assert set(coverage) == {f"coverage/product/{name}" for name in names}
    assert coverage["coverage/product/id"] == 2
    assert coverage["coverage/product/price"] == 1  # absent in the rejected one
    assert coverage["coverage/product/name"] == 1  # "" is empty
    assert coverage["coverage/product/redirected_from"] == 0  # never set
