"""Real crawls against the tiny simulator, compared with its ground truth."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.support.crawl import duplicates, run_crawl
from tests.support.paths import ROOT
from tests.support.truth import all_products, categories, valid_reviews


def listed_ids(url: str, category: int, brand: int) -> set[int]:
    """What a brand's listing shows, read with a plain client."""
    ids: set[int] = set()
    page, last = 1, 1
    while page <= last:
        query = f"limit=40&category={category}&brand={brand}&page={page}"
        with urllib.request.urlopen(f"{url}/api/personalish/v1/blocks/listings?{query}") as r:
            payload = orjson.loads(r.read())
        ids.update(int(item["id"]) for item in payload["data"])
        last = payload["paging"]["last_page"]
        page += 1
    return ids


@pytest.fixture(scope="module")
def products_run(sim, truth, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("products")
    sim.reset()
    run = run_crawl("products", sim.url, tmp, settings={"CATEGORIES": truth["categories"]})
    run.sim_stats = sim.stats()
    return run


def test_products_equal_ground_truth(products_run, truth) -> None:
    ids = products_run.ids("Product")
    assert duplicates(ids) == []
    assert set(ids) == set(truth["products"]["valid"])  # the invalid ones are rejected
    stats = products_run.stats
    assert stats["failures/product/not_found"] == len(truth["products"]["not_found"])
    assert stats["failures/count"] == len(truth["products"]["not_found"])
    assert stats["finish_reason"] == "finished"


def test_products_feed_holds_every_item_once(products_run, truth) -> None:
    records = products_run.feed_records("products", "products")
    assert sorted(r["id"] for r in records) == sorted(products_run.ids("Product"))
    # the datetimes keep their offset
    assert records[0]["scraped_at"].endswith("+00:00")


def test_not_found_products_are_in_the_failures_file(products_run, truth) -> None:
    (path,) = products_run.output_dir.glob("products/*/failures.jsonl")
    failures = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert sorted(f["id"] for f in failures) == sorted(truth["products"]["not_found"])
    assert {(f["kind"], f["reason"]) for f in failures} == {("product", "not_found")}


def test_each_product_is_fetched_once(products_run, truth) -> None:
    assert products_run.stats["dupefilter/filtered"] > 0  # listed more than once
    assert products_run.sim_stats["by_kind"]["product"] == len(truth["products"]["listed"])
    assert products_run.sim_stats["product_refetched"] == {}


def test_products_of_chosen_brands(sim, truth, tmp_path) -> None:
    brand = truth["brands"]["ids"][0]
    expected = set()
    for category in truth["categories"]:
        expected |= listed_ids(sim.url, category, brand)
    expected &= set(truth["products"]["valid"])
    run = run_crawl(
        "products",
        sim.url,
        tmp_path,
        args={"brands": str(brand), "categories": categories(truth)},
    )
    ids = run.ids("Product")
    assert expected and duplicates(ids) == []
    assert set(ids) == expected


def test_unknown_brand_stops_before_any_listing(sim, truth, tmp_path) -> None:
    run = run_crawl(
        "products", sim.url, tmp_path, args={"brands": "999999999", "categories": categories(truth)}
    )
    assert run.stats["finish_reason"] == "unknown_brand"
    assert run.items == []
    # robots.txt and the category pages (brand filters) only
    assert run.stats["downloader/request_count"] == 1 + len(truth["categories"])


def test_products_from_an_ids_file(sim, truth, tmp_path) -> None:
    wanted = sorted(truth["products"]["valid"])[:25] + truth["products"]["not_found"][:2]
    ids_file = tmp_path / "ids.csv"
    ids_file.write_text("id\n" + "\n".join(map(str, wanted)) + "\n", encoding="utf-8")
    run = run_crawl("products", sim.url, tmp_path, args={"ids_file": str(ids_file)})
    assert sorted(run.ids("Product")) == sorted(wanted[:25])
    assert run.stats["failures/product/not_found"] == 2
    assert "downloader/response_status_count/200" in run.stats
    assert run.stats["downloader/request_count"] == len(wanted) + 1  # + robots.txt


def test_brands_equal_ground_truth(sim, truth, tmp_path) -> None:
    run = run_crawl("brands", sim.url, tmp_path, args={"categories": categories(truth)})
    brands = [item for item in run.items if item["item_type"] == "Brand"]
    assert sorted(b["id"] for b in brands) == sorted(truth["brands"]["ids"])
    by_category = truth["brands"]["by_category"]
    for brand in brands:
        expected = sorted(int(c) for c, ids in by_category.items() if brand["id"] in ids)
        assert brand["category_ids"] == expected
        assert brand["name"]


def test_comments_equal_ground_truth(sim, truth, tmp_path) -> None:
    by_product = truth["reviews"]["by_product"]
    # every product with reviews, and a few without
    products = (
        sorted(int(p) for p in by_product)
        + sorted(all_products(truth) - {int(p) for p in by_product})[:5]
    )
    run = run_crawl(
        "comments", sim.url, tmp_path, args={"product_ids": ",".join(map(str, products))}
    )
    ids = run.ids("Comment")
    assert duplicates(ids) == []
    assert sorted(ids) == valid_reviews(truth)
    assert max(len(r) for r in by_product.values()) > 40  # some products have many pages
    assert run.stats["finish_reason"] == "finished"
    assert "failures/count" not in run.stats
    for comment in run.items[:50]:
        assert comment["created_at"].endswith("+00:00")


def test_comments_from_the_products_feed(sim, truth, products_run, tmp_path) -> None:
    pattern = str(products_run.output_dir / "products" / "*" / "products-*.jsonl")
    run = run_crawl("comments", sim.url, tmp_path, args={"ids_file": pattern})
    assert sorted(run.ids("Comment")) == valid_reviews(truth, set(truth["products"]["valid"]))


def scrapy_crawl(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARKETPLACE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", *args],
        cwd=ROOT,
        env={**env, "CRAWLER_OUTPUT_DIR": str(cwd / "output"), "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_argument_is_one_sentence_and_exit_2(sim, tmp_path) -> None:
    ids_file = tmp_path / "ids.csv"
    ids_file.write_text("sku,name\nA,B\n", encoding="utf-8")
    proc = scrapy_crawl("products", "-a", f"ids_file={ids_file}", url=sim.url, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"Error: ids_file {ids_file}: the CSV header has no 'id' column (columns: sku, name)."
    )
    assert "Traceback" not in proc.stderr


def test_output_option_works_as_in_any_scrapy_project(sim, truth, tmp_path) -> None:
    out = tmp_path / "brands.jsonl"
    proc = scrapy_crawl(
        "brands", "-a", f"categories={categories(truth)}", "-O", str(out), url=sim.url, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(truth["brands"]["ids"])


def test_exit_status_is_0_when_a_listed_id_answers_404(sim, truth, tmp_path) -> None:
    # a withdrawn product: recorded, not a failed run (failures that mean
    # trouble keep exit 1: tests/crawl/test_exits.py)
    missing = truth["products"]["not_found"][0]
    present = truth["products"]["valid"][0]
    proc = scrapy_crawl(
        "products",
        "-a",
        f"ids_file={_ids(tmp_path, [present, missing])}",
        url=sim.url,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (failures,) = (tmp_path / "output").glob("products/*/failures.jsonl")
    record = orjson.loads(failures.read_bytes())
    assert (record["kind"], record["id"], record["reason"]) == ("product", missing, "not_found")


def _ids(tmp_path: Path, ids: list[int]) -> Path:
    path = tmp_path / "ids.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"id": i}) + b"\n" for i in ids))
    return path
