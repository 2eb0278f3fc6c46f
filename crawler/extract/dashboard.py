"""The dashboard's report tables: their layouts (:data:`REPORTS`), the parsing
of a rendered table and of its cells, and the rows they become. Plain
functions: HTML in, :class:`crawler.items.DashboardRow` out, no browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from parsel import Selector

from crawler.exceptions import ExtractionError
from crawler.items import DashboardRow


@dataclass(frozen=True)
class Column:
    label: str  # the header text
    name: str  # the key in DashboardRow.values (or "day")
    type: str  # date | int | money | percent | text


@dataclass(frozen=True)
class Report:
    name: str
    columns: tuple[Column, ...]
    #: the column that, with the day, identifies a row
    key_column: str

    def column(self, label: str) -> Column | None:
        return next((c for c in self.columns if c.label == label), None)


REPORTS: dict[str, Report] = {
    "orders": Report(
        "orders",
        (
            Column("Date", "day", "date"),
            Column("Seller ID", "seller_id", "int"),
            Column("Seller", "seller", "text"),
            Column("Orders", "orders", "int"),
            Column("Units", "units", "int"),
            Column("Revenue", "revenue", "money"),
            Column("Refund rate", "refund_rate", "percent"),
        ),
        key_column="seller_id",
    ),
    "traffic": Report(
        "traffic",
        (
            Column("Date", "day", "date"),
            Column("Channel", "channel", "text"),
            Column("Sessions", "sessions", "int"),
            Column("Orders", "orders", "int"),
            Column("Conversion rate", "conversion_rate", "percent"),
        ),
        key_column="channel",
    ),
}


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


def _text(node: Selector) -> str:
    return " ".join(" ".join(node.xpath(".//text()").getall()).split())


def parse_table(html: str) -> Table:
    """Header texts and cell texts of the first ``<table>`` in ``html``; the
    "no data" row (``tr.empty``) is not a row."""
    table = Selector(text=html).css("table")
    if not table:
        raise ExtractionError("no_table", "the page holds no table")
    headers = [_text(th) for th in table[0].css("thead th")]
    rows = [
        [_text(td) for td in tr.css("td")]
        for tr in table[0].css("tbody tr")
        if "empty" not in (tr.attrib.get("class") or "").split()
    ]
    return Table(headers, rows)


_SPACES = re.compile(r"[\s\u00a0\u202f]+")
#: a whole number, plain or grouped by dots in thousands (vi-VN)
_WHOLE = re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+)")
_DECIMAL = re.compile(r"-?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?")


def parse_cell(text: str, kind: str) -> Any:
    """A cell's text as the column's type: ``"01/08/2026"`` a date,
    ``"1.234"`` 1234, ``"1.234.500 ₫"`` 1234500, ``"2,5 %"`` 2.5 (Vietnamese
    grouping and decimal comma). Text that is not of the type is returned as it
    came (a validator can reject it with the reason)."""
    raw = text.strip()
    compact = _SPACES.sub("", raw)
    try:
        if kind == "date":
            if re.fullmatch(r"\d\d?/\d\d?/\d{4}", compact):
                day, month, year = (int(part) for part in compact.split("/"))
                return date(year, month, day)
            return date.fromisoformat(compact)
        if kind in ("int", "money"):
            number = compact.removesuffix("₫").removeprefix("₫")
            if _WHOLE.fullmatch(number):
                return int(number.replace(".", ""))
            return raw
        if kind == "percent":
            number = compact.removesuffix("%")
            if _DECIMAL.fullmatch(number):
                return float(number.replace(".", "").replace(",", "."))
            return raw
    except ValueError:
        return raw
    return " ".join(raw.split())


def extract_rows(
    report: Report, table: Table, source_url: str, scraped_at: datetime
) -> list[DashboardRow]:
    """Typed rows of one table page. A header the report does not know is
    ignored; a missing one means the page is not the report we know."""
    index = {label: i for i, label in enumerate(table.headers)}
    missing = [c.label for c in report.columns if c.label not in index]
    if missing:
        raise ExtractionError(
            "unexpected_columns",
            f"{report.name}: the table has no {', '.join(missing)} column "
            f"(headers: {', '.join(table.headers) or 'none'})",
        )
    items = []
    for n, cells in enumerate(table.rows, start=1):
        if len(cells) != len(table.headers):
            raise ExtractionError(
                "unexpected_cells",
                f"{report.name}: row {n} has {len(cells)} cells for {len(table.headers)} columns",
            )
        values = {c.name: parse_cell(cells[index[c.label]], c.type) for c in report.columns}
        day = values.pop("day")
        key_value = values[report.key_column]
        day_text = day.isoformat() if isinstance(day, date) else str(day)
        items.append(
            DashboardRow(
                key=f"{report.name}:{day_text}:{key_value}",
                report=report.name,
                day=day,
                values=values,
                source_url=source_url,
                scraped_at=scraped_at,
            )
        )
    return items


def uncoerced(report: Report, row: DashboardRow) -> list[str]:
    """The columns of ``row`` whose text did not parse as the column's type."""
    bad = [] if isinstance(row.day, date) else ["day"]
    for column in report.columns:
        if (
            column.name != "day"
            and column.type != "text"
            and isinstance(row.values.get(column.name), str)
        ):
            bad.append(column.name)
    return bad
