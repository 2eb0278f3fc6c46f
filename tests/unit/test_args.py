"""Spider arguments: parsed before any request, one sentence per problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.settings import Settings

from crawler.args import parse_id_list, read_ids_file
from crawler.exceptions import SpiderArgumentError
from crawler.spiders.comments import CommentsSpider
from crawler.spiders.products import ProductsSpider


def test_id_list_accepts_spaces_and_drops_duplicates() -> None:
    assert parse_id_list(" 3, 1,3 ,", "brands") == [3, 1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1,x", "brands: 'x' is not an id (expected whole numbers separated by commas)."),
        ("0", "brands: 0 is not a positive id."),
    ],
)
def test_id_list_errors(value: str, message: str) -> None:
    with pytest.raises(SpiderArgumentError) as info:
        parse_id_list(value, "brands")
    assert str(info.value) == message


def test_csv_ids_file(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("sku,id\nA,10\nB, 11\nC,10\n", encoding="utf-8")
    assert read_ids_file(path) == [10, 11]


def test_jsonl_ids_file_keeps_own_kind(tmp_path: Path) -> None:
    path = tmp_path / "failures.jsonl"
    path.write_text(
        '{"kind": "product", "id": 5}\n{"kind": "listing", "id": 1789}\n\n{"id": "6"}\n',
        encoding="utf-8",
    )
    assert read_ids_file(path, kind="product") == [5, 6]
    assert read_ids_file(path) == [5, 1789, 6]


def test_glob_reads_every_batch(tmp_path: Path) -> None:
    (tmp_path / "products-00001.jsonl").write_text('{"id": 1}\n{"id": 2}\n', encoding="utf-8")
    (tmp_path / "products-00002.jsonl").write_text('{"id": 3}\n{"id": 2}\n', encoding="utf-8")
    assert read_ids_file(tmp_path / "products-*.jsonl") == [1, 2, 3]


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("sku,name\nA,B\n", "ids.csv", "the CSV header has no 'id' column (columns: sku, name)."),
        ("id\n12\nabc\n", "ids.csv", "line 3: 'abc' is not a product id."),
        ('{"id": 1}\n{oops\n', "ids.jsonl", "line 2 is not valid JSON."),
        ('{"sku": "x"}\n', "ids.jsonl", "line 1 has no 'id' key."),
        ("id\n", "ids.csv", "holds no ids."),
    ],
)
def test_ids_file_errors(tmp_path: Path, content: str, name: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpiderArgumentError) as info:
        read_ids_file(path)
    assert str(info.value) == f"ids_file {path}: {message}"


def test_missing_ids_file(tmp_path: Path) -> None:
    with pytest.raises(SpiderArgumentError, match="no such file"):
        read_ids_file(tmp_path / "nope.csv")


def test_products_arguments() -> None:
    settings = Settings({"CATEGORIES": [1789]})
    assert ProductsSpider.check_arguments({"brands": "1,2"}, settings) is None
    assert ProductsSpider.check_arguments({}, Settings({"CATEGORIES": []})) == (
        "No categories to crawl: set CATEGORIES or pass -a categories=ID,ID."
    )
    assert ProductsSpider.check_arguments({"ids_file": "x.csv", "brands": "1"}, settings) == (
        "ids_file replaces the listings: pass it without brands or categories."
    )


def test_comments_arguments() -> None:
    settings = Settings()
    assert CommentsSpider.check_arguments({"product_ids": "1,2"}, settings) is None
    assert CommentsSpider.check_arguments({}, settings) == (
        "No products given: pass -a product_ids=ID,ID or -a ids_file=PATH, "
        "or set MONGO_URI to read them from the products collection."
    )


def test_unknown_and_empty_arguments_are_one_sentence() -> None:
    settings = Settings({"CATEGORIES": "1789"})
    assert ProductsSpider.check_arguments({"categroies": "1"}, settings) == (
        "categroies: not an argument of the products spider "
        "(its arguments: categories, brands, ids_file, mode, refresh_days)."
    )
    assert ProductsSpider.check_arguments({"categories": ""}, settings) == (
        "categories: empty value; pass -a categories=... or leave it out."
    )
    # Scrapyd's job id and the run id are every spider's
    assert ProductsSpider.check_arguments({"_job": "abc", "run_id": "r1"}, settings) is None
    assert CommentsSpider.check_arguments({"ids": "1"}, settings) == (
        "ids: not an argument of the comments spider (its arguments: product_ids, ids_file, mode)."
    )


def test_categories_setting_is_parsed_like_the_argument() -> None:
    assert ProductsSpider.check_arguments({}, Settings({"CATEGORIES": "1789, 1846"})) is None
    assert ProductsSpider.check_arguments({}, Settings({"CATEGORIES": "abc"})) == (
        "categories: 'abc' is not an id (expected whole numbers separated by commas)."
    )


def test_categories_from_the_environment_exit_2_with_one_sentence() -> None:
    """CATEGORIES=abc in the environment: the same sentence as -a categories=abc,
    exit 2, before any request (no traceback at import of the settings)."""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "CATEGORIES": "abc", "PYTHONPATH": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "products"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: categories: 'abc' is not an id (expected whole numbers separated by commas)."
    )
