"""The Parquet schemas and writers (crawler/parquet.py), on items made here."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crawler.exporters import OrjsonLinesItemExporter
from crawler.extensions.parquet import parquet_mode, twin_of
from crawler.items import ITEM_CLASSES, Brand, Comment, DashboardRow, Product
from crawler.parquet import (
    ARROW_SCHEMAS,
    ParquetFieldError,
    ParquetItemExporter,
    convert_jsonl,
)
from crawler.schemas import SCHEMAS

NOW = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)

#: the Arrow type of each annotation of crawler/items.py (None stripped)
ANNOTATION_TYPES = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "list[int]": pa.list_(pa.int64()),
    "list[str]": pa.list_(pa.string()),
    # dashboard values differ per report: JSON text
    "dict[str, Any]": pa.string(),
}


def product(n: int, **changes: Any) -> Product:
    made = Product(
        id=n,
        name=f"Điện thoại {n}",
        price=1_000_000 + n,
        rating_average=4.5,
        discount_rate=10,
        breadcrumbs=[{"category_id": 1789, "name": "Điện Thoại", "url": "/dien-thoai"}],
        specifications=[{"group": "Chung", "code": "brand", "name": "Hãng", "value": "X"}],
        image_urls=[f"https://img.example/{n}.jpg"],
        variant_ids=[n + 1],
        source_url=f"https://tiki.vn/api/v2/products/{n}",
        scraped_at=NOW,
    )
    return dataclasses.replace(made, **changes)


def normalised(rows: list[dict[str, Any]]) -> list[Any]:
    """Rows as their JSON form (times as ISO 8601), as the JSON Lines feed has them."""
    return [orjson.loads(orjson.dumps(r)) for r in rows]


@pytest.mark.parametrize("cls", ITEM_CLASSES, ids=lambda c: c.__name__)
def test_schema_follows_the_item_class(cls: type) -> None:
    schema = ARROW_SCHEMAS[cls]
    fields = dataclasses.fields(cls)
    assert schema.names == [f.name for f in fields]
    required = set(SCHEMAS[cls]["required"])
    for f in fields:
        annotation = str(f.type).removesuffix(" | None")
        expected = ANNOTATION_TYPES.get(annotation)
        column = schema.field(f.name)
        if expected is None:  # the lists of structs: checked against the JSON Schema
            item = SCHEMAS[cls]["properties"][f.name]["items"]
            assert pa.types.is_list(column.type) and pa.types.is_struct(column.type.value_type)
            struct = column.type.value_type
            assert [struct.field(i).name for i in range(struct.num_fields)] == list(
                item["properties"]
            )
        else:
            assert column.type == expected, f.name
        # a column is required only where the item's JSON Schema requires it
        if not column.nullable:
            assert f.name in required, f.name


def test_money_ids_rates_times_types() -> None:
    schema = ARROW_SCHEMAS[Product]
    assert schema.field("id").type == pa.int64()
    assert schema.field("price").type == pa.int64()
    assert schema.field("rating_average").type == pa.float64()
    assert str(schema.field("scraped_at").type) == "timestamp[us, tz=UTC]"
    assert ARROW_SCHEMAS[DashboardRow].field("day").type == pa.date32()
    assert str(schema.field("specifications").type.value_type.field("value").type) == "string"


def export(items: list[Any], file: Any, **kwargs: Any) -> None:
    """Export ``items``; raise the exporter's error (it logs it, not raises it)."""
    exporter = ParquetItemExporter(file, **kwargs)
    exporter.start_exporting()
    for item in items:
        exporter.export_item(item)
    exporter.finish_exporting()
    if exporter.error is not None:
        raise exporter.error


def test_exporter_writes_row_groups_zstd_atomically(tmp_path: Path) -> None:
    target = tmp_path / "products.parquet"
    items = [product(n) for n in range(1, 26)]
    with target.open("wb") as handle:  # as Scrapy's FileFeedStorage opens it
        exporter = ParquetItemExporter(handle, row_group_rows=10)
        exporter.start_exporting()
        for item in items:
            exporter.export_item(item)
        # two row groups written so far, to a temporary file: the target is empty
        assert target.stat().st_size == 0
        exporter.finish_exporting()
    meta = pq.ParquetFile(target).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10, 10, 5]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(target)
    assert table.schema == ARROW_SCHEMAS[Product]
    expected = [dataclasses.asdict(i) for i in items]
    assert normalised(table.to_pylist()) == normalised(expected)
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left


def test_exporter_into_a_stream() -> None:
    buffer = io.BytesIO()  # a remote storage's file, or stdout
    export([product(1), product(2)], buffer)
    assert pq.read_table(pa.BufferReader(buffer.getvalue())).column("id").to_pylist() == [1, 2]


def test_exporter_fields_option() -> None:
    buffer = io.BytesIO()
    export([product(1)], buffer, fields_to_export=["id", "price"])
    table = pq.read_table(pa.BufferReader(buffer.getvalue()))
    assert table.to_pylist() == [{"id": 1, "price": 1_000_001}]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"price": 1.5}, "Product.price"),  # pyarrow alone would write 1
        ({"price": "1000"}, "Product.price"),
        ({"price": True}, "Product.price"),
        ({"price": 2**63}, "Product.price"),
        ({"rating_average": "4.5"}, "Product.rating_average"),
        ({"name": 12}, "Product.name"),
        ({"scraped_at": datetime(2026, 11, 23)}, "Product.scraped_at"),  # no time zone
        ({"image_urls": "https://img.example/1.jpg"}, "Product.image_urls"),
        ({"variant_ids": [1, "2"]}, "Product.variant_ids[1]"),
        ({"specifications": [{"group": "g", "extra": "x"}]}, "Product.specifications[0]"),
        ({"breadcrumbs": [{"category_id": "1", "name": "n", "url": "u"}]}, "category_id"),
    ],
)
def test_a_value_that_does_not_fit_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ParquetFieldError, match=r"^The Parquet column .*\.$") as caught:
        export([product(1, **changes)], io.BytesIO())
    assert field in str(caught.value)


def test_a_failed_file_is_not_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "products.parquet"
    items = [product(n) for n in range(1, 6)] + [product(6, price=1.5)] + [product(7)]
    with target.open("wb") as handle:
        exporter = ParquetItemExporter(handle, row_group_rows=3)
        exporter.start_exporting()
        for item in items:
            exporter.export_item(item)  # never raises: Scrapy's other feeds get the item
        exporter.finish_exporting()
    assert exporter.error is not None
    assert not target.exists() and list(tmp_path.iterdir()) == []  # no file, no half file
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage() == (
        f"Parquet feed {target} is not written: "
        "The Parquet column Product.price takes an integer, not 1.5."
    )


def test_a_required_column_cannot_be_empty() -> None:
    with pytest.raises(ParquetFieldError, match=r"Product\.name cannot be empty"):
        export([product(1, name=None)], io.BytesIO())


def test_one_item_type_per_feed() -> None:
    brand = Brand(id=1, name="B", source_url="u", scraped_at=NOW)
    with pytest.raises(ParquetFieldError, match="one item type"):
        export([product(1), brand], io.BytesIO())


def test_jsonl_twin_equals_the_exporters_file(tmp_path: Path) -> None:
    comments = [
        Comment(
            id=n,
            product_id=7,
            rating=5,
            purchased=True,
            created_at=NOW,
            image_urls=["a", "b"],
            source_url="u",
            scraped_at=NOW,
        )
        for n in (1, 2, 3)
    ]
    rows = [
        DashboardRow(
            key="orders:2026-08-01:101",
            report="orders",
            day=date(2026, 8, 1),
            values={"seller_id": 101, "revenue": 2_480_000, "rate": 2.5},
            source_url="u",
            scraped_at=NOW,
        )
    ]
    for cls, items in ((Comment, comments), (DashboardRow, rows)):
        lines = tmp_path / f"{cls.__name__}-00001.jsonl"
        with lines.open("wb") as handle:
            jsonl = OrjsonLinesItemExporter(handle)
            for item in items:
                jsonl.export_item(item)
            handle.write(b'{"id": 4, "torn')  # a line cut by a kill is not read
        assert convert_jsonl(lines, cls, 1000) == len(items)
        direct = io.BytesIO()
        export(items, direct)
        twin = pq.read_table(twin_of(lines))
        assert twin.equals(pq.read_table(pa.BufferReader(direct.getvalue())))
    values = pq.read_table(twin_of(tmp_path / "DashboardRow-00001.jsonl")).column("values")
    assert orjson.loads(values[0].as_py()) == {"seller_id": 101, "revenue": 2_480_000, "rate": 2.5}


def test_parquet_mode() -> None:
    from scrapy.settings import Settings

    assert parquet_mode(Settings({"PARQUET_FEEDS": "off"})) == "off"
    assert parquet_mode(Settings({"PARQUET_FEEDS": "1"})) == "beside"
    assert parquet_mode(Settings({"PARQUET_FEEDS": "instead"})) == "instead"
    with pytest.raises(ValueError, match=r"^PARQUET_FEEDS must be off, beside or instead"):
        parquet_mode(Settings({"PARQUET_FEEDS": "sometimes"}))
