"""The dashboard spider's pure parts: arguments, date chunks, settings, credentials,
the report tables' layout and the parsing of their cells. No browser needed.

Settings (read once by :meth:`DashboardConfig.from_settings`):
- ``DASHBOARD_URL``: the dashboard's base URL (default: ``MARKETPLACE_URL``)
- ``DASHBOARD_TABLE_TIMEOUT`` (30 s): the wait for one table page to render
- ``DASHBOARD_TABLE_RETRIES`` (2): retries of a table page that failed to load
- ``DASHBOARD_SESSION_RENEWALS`` (2): sign-ins again within one chunk before
  the chunk is given up
- ``DASHBOARD_MAX_CHUNK_DAYS`` (31): the longest range the dashboard's filter takes
- ``DASHBOARD_DEBUG_DIR``: where a failed chunk's screenshot and HTML go
  (default: ``<run dir>/debug``)
- a report page that does not open is retried as the retry middleware would:
  ``RETRY_TIMES``, ``RETRY_HTTP_CODES``, ``RETRY_BACKOFF_BASE``/``_MAX``

Environment: ``DASHBOARD_USERNAME`` and ``DASHBOARD_PASSWORD`` (never settings,
never arguments, never logged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from parsel import Selector

from crawler.args import parse_positive_int
from crawler.exceptions import CrawlerError, ExtractionError, SpiderArgumentError
from crawler.items import DashboardRow

USERNAME_ENV = "DASHBOARD_USERNAME"
PASSWORD_ENV = "DASHBOARD_PASSWORD"
LOGIN_PATH = "/dashboard/login"
REPORT_PATH = "/dashboard/reports/{report}"
#: the browser context that holds the session cookie, shared by every page
CONTEXT_NAME = "dashboard"
#: resource types the dashboard pages do not need (PLAYWRIGHT_ABORT_REQUEST)
BLOCKED_RESOURCE_TYPES = frozenset({"image", "font", "media"})


# -- errors -------------------------------------------------------------------------


class LoginError(CrawlerError):
    """Raised by the dashboard spider's sign-in when the dashboard refuses the
    credentials or the form cannot be sent; the message names neither
    credential. The spider logs it once and closes with ``login_failed``."""


class ChunkError(CrawlerError):
    """Raised while the dashboard spider reads a chunk that cannot be read
    (a table that keeps failing, a session that keeps expiring, a table that is
    not the report's layout); the spider records the chunk as failed."""

    def __init__(self, reason: str, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        #: short machine-readable reason, used in stats keys and failure records
        self.reason = reason
        self.attempts = attempts


# -- the reports --------------------------------------------------------------------


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


# -- arguments ----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Chunk:
    """One date range of one report: what the spider filters, reads and records."""

    report: str
    start: date
    end: date

    @property
    def label(self) -> str:
        """``orders:2026-08-01..2026-08-03``: the failures file's ``id``."""
        return f"{self.report}:{self.start.isoformat()}..{self.end.isoformat()}"

    @classmethod
    def from_label(cls, text: str) -> Chunk:
        match = re.fullmatch(r"([a-z_]+):(\d{4}-\d\d-\d\d)\.\.(\d{4}-\d\d-\d\d)", text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a chunk (report:YYYY-MM-DD..YYYY-MM-DD)")
        start, end = date.fromisoformat(match[2]), date.fromisoformat(match[3])
        if end < start:
            raise ValueError(f"{text!r} ends before it starts")
        return cls(match[1], start, end)


def date_chunks(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """``start..end`` (both included) cut into ranges of ``days`` days; the last
    one may be shorter."""
    chunks = []
    first = start
    while first <= end:
        last = min(first + timedelta(days=days - 1), end)
        chunks.append((first, last))
        first = last + timedelta(days=1)
    return chunks


def _date_arg(value: Any, name: str) -> date:
    if value is None or str(value).strip() == "":
        raise SpiderArgumentError(f"{name}: missing; pass -a {name}=YYYY-MM-DD.")
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise SpiderArgumentError(f"{name}: {value!r} is not a YYYY-MM-DD date.") from None


def _report_arg(value: Any) -> str:
    report = str(value or "").strip()
    if report not in REPORTS:
        raise SpiderArgumentError(
            f"report: {report!r} is not a dashboard report (known: {', '.join(REPORTS)})."
            if report
            else f"report: missing; pass -a report=NAME (known: {', '.join(REPORTS)})."
        )
    return report


def read_chunks_file(value: Any) -> list[Chunk]:
    """The chunks of a failures file's ``dashboard_chunk`` records (other kinds
    are skipped), in file order, without duplicates."""
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise SpiderArgumentError(f"chunks_file {path}: no such file.")
    chunks: list[Chunk] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise SpiderArgumentError(f"chunks_file {path}: cannot be read ({exc.strerror}).") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise SpiderArgumentError(f"chunks_file {path}: line {n} is not valid JSON.") from None
        if not isinstance(record, dict) or record.get("kind") != "dashboard_chunk":
            continue
        try:
            chunk = Chunk.from_label(str(record.get("id")))
        except ValueError as exc:
            raise SpiderArgumentError(f"chunks_file {path}: line {n}: {exc}.") from None
        if chunk.report not in REPORTS:
            raise SpiderArgumentError(
                f"chunks_file {path}: line {n}: unknown report {chunk.report!r}."
            )
        chunks.append(chunk)
    if not chunks:
        raise SpiderArgumentError(f"chunks_file {path}: holds no dashboard_chunk records.")
    return list(dict.fromkeys(chunks))


@dataclass(frozen=True)
class DashboardArgs:
    """The dashboard spider's ``-a`` arguments, checked."""

    chunks: tuple[Chunk, ...]
    #: browser pages at a time
    parallel: int = 1

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], max_chunk_days: int = 31) -> DashboardArgs:
        for secret in ("username", "user", "password"):
            if secret in kwargs:
                raise SpiderArgumentError(
                    f"{secret}: credentials are read from the {USERNAME_ENV} and "
                    f"{PASSWORD_ENV} environment variables only, never from arguments."
                )
        parallel = parse_positive_int(kwargs.get("parallel"), "parallel", 1)
        if kwargs.get("chunks_file"):
            extra = [k for k in ("report", "start", "end", "chunk_days") if kwargs.get(k)]
            if extra:
                raise SpiderArgumentError(
                    f"chunks_file replaces report, start, end and chunk_days: "
                    f"pass it without {', '.join(extra)}."
                )
            return cls(tuple(read_chunks_file(kwargs["chunks_file"])), parallel)
        report = _report_arg(kwargs.get("report"))
        start, end = _date_arg(kwargs.get("start"), "start"), _date_arg(kwargs.get("end"), "end")
        if end < start:
            raise SpiderArgumentError(f"end: {end} is before start {start}.")
        days = parse_positive_int(kwargs.get("chunk_days"), "chunk_days", 7)
        if days > max_chunk_days:
            raise SpiderArgumentError(
                f"chunk_days: {days} is more than the dashboard's longest range "
                f"({max_chunk_days} days)."
            )
        chunks = tuple(Chunk(report, a, b) for a, b in date_chunks(start, end, days))
        return cls(chunks, parallel)


@dataclass(frozen=True)
class Credentials:
    username: str = field(repr=False)
    password: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        missing = [name for name in (USERNAME_ENV, PASSWORD_ENV) if not environ.get(name)]
        if missing:
            raise SpiderArgumentError(
                f"{' and '.join(missing)} must be set in the environment: the dashboard's "
                f"credentials come from environment variables only."
            )
        return cls(environ[USERNAME_ENV], environ[PASSWORD_ENV])


@dataclass(frozen=True)
class DashboardConfig:
    base_url: str
    table_timeout: float
    table_retries: int
    session_renewals: int
    max_chunk_days: int
    debug_dir: str | None
    #: a report page that answers one of these is retried (RETRY_HTTP_CODES)
    retry_http_codes: frozenset[int] = frozenset()
    #: the n-th retry of a report page waits base * 2 ** (n - 1), at most max
    retry_backoff_base: float = 1.0
    retry_backoff_max: float = 60.0

    @classmethod
    def from_settings(cls, settings: Any) -> DashboardConfig:
        base = settings.get("DASHBOARD_URL") or settings.get("MARKETPLACE_URL") or ""
        return cls(
            base_url=str(base).rstrip("/"),
            table_timeout=settings.getfloat("DASHBOARD_TABLE_TIMEOUT", 30.0),
            table_retries=settings.getint("DASHBOARD_TABLE_RETRIES", 2),
            session_renewals=settings.getint("DASHBOARD_SESSION_RENEWALS", 2),
            max_chunk_days=settings.getint("DASHBOARD_MAX_CHUNK_DAYS", 31),
            debug_dir=settings.get("DASHBOARD_DEBUG_DIR") or None,
            retry_http_codes=frozenset(int(c) for c in settings.getlist("RETRY_HTTP_CODES")),
            retry_backoff_base=settings.getfloat("RETRY_BACKOFF_BASE", 1.0),
            retry_backoff_max=settings.getfloat("RETRY_BACKOFF_MAX", 60.0),
        )

    def retry_delay(self, attempt: int) -> float:
        """Seconds before the ``attempt``-th retry of a report page."""
        return float(min(self.retry_backoff_max, self.retry_backoff_base * 2 ** (attempt - 1)))

    def login_url(self) -> str:
        return self.base_url + LOGIN_PATH

    def report_url(self, report: str) -> str:
        return self.base_url + REPORT_PATH.format(report=report)


# -- the browser ----------------------------------------------------------------------


def should_abort_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: images, fonts and media are not data."""
    return request.resource_type in BLOCKED_RESOURCE_TYPES


# -- tables -----------------------------------------------------------------------------


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
