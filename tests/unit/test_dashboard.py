"""The dashboard spider's pure parts, without a browser: arguments, date
chunks, credentials, settings, table parsing; and the simulated dashboard's
rows and knobs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from itemadapter import ItemAdapter
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from crawler.args import Chunk, DashboardArgs, date_chunks, read_chunks_file
from crawler.browser import Credentials, DashboardConfig, should_abort_request
from crawler.exceptions import ExtractionError, SpiderArgumentError
from crawler.extract.dashboard import REPORTS, Table, extract_rows, parse_cell, parse_table
from crawler.spiders.dashboard import PLAYWRIGHT_HANDLER, DashboardSpider
from crawler.spiders.products import ProductsSpider
from sim import dashboard as simdash

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
URL = "http://127.0.0.1:8000/dashboard/reports/orders"
ENV = {"DASHBOARD_USERNAME": "analyst", "DASHBOARD_PASSWORD": "pw"}

# Saved from Chromium (the simulator's orders report, 2026-08-02, rows cut to
# three): numbers as vi-VN formats them, a no-break space before "₫".
ORDERS_TABLE = (
    '<table id="report" data-report="orders" data-state="ready" data-page="1" '
    'data-pages="2" data-total="11">\n<thead><tr><th>Date</th><th>Seller ID</th>'
    "<th>Seller</th><th>Orders</th><th>Units</th><th>Revenue</th><th>Refund rate</th>"
    "</tr></thead><tbody>"
    '<tr><td>02/08/2026</td><td class="num">102</td><td>Nhà Sách Phương Nam</td>'
    '<td class="num">17</td><td class="num">24</td><td class="num">32.016.000&nbsp;₫</td>'
    '<td class="num">9,4 %</td></tr>'
    '<tr><td>02/08/2026</td><td class="num">110</td><td>Thời Trang Yody</td>'
    '<td class="num">1</td><td class="num">2</td><td class="num">2.238.000&nbsp;₫</td>'
    '<td class="num">8,4 %</td></tr>'
    '<tr><td>02/08/2026</td><td class="num">112</td><td>Shop Mẹ Bé Kiwi</td>'
    '<td class="num">153</td><td class="num">1.374</td><td class="num">627.946.000&nbsp;₫</td>'
    '<td class="num">14,5 %</td></tr></tbody></table>'
)
ORDERS_EXPECTED = [
    {
        "key": "orders:2026-08-02:102",
        "report": "orders",
        "day": date(2026, 8, 2),
        "values": {
            "seller_id": 102,
            "seller": "Nhà Sách Phương Nam",
            "orders": 17,
            "units": 24,
            "revenue": 32_016_000,
            "refund_rate": 9.4,
        },
        "source_url": URL,
        "scraped_at": NOW,
    },
    {
        "key": "orders:2026-08-02:110",
        "report": "orders",
        "day": date(2026, 8, 2),
        "values": {
            "seller_id": 110,
            "seller": "Thời Trang Yody",
            "orders": 1,
            "units": 2,
            "revenue": 2_238_000,
            "refund_rate": 8.4,
        },
        "source_url": URL,
        "scraped_at": NOW,
    },
    {
        "key": "orders:2026-08-02:112",
        "report": "orders",
        "day": date(2026, 8, 2),
        "values": {
            "seller_id": 112,
            "seller": "Shop Mẹ Bé Kiwi",
            "orders": 153,
            "units": 1_374,
            "revenue": 627_946_000,
            "refund_rate": 14.5,
        },
        "source_url": URL,
        "scraped_at": NOW,
    },
]
TRAFFIC_TABLE = (
    '<table id="report"><thead><tr><th>Date</th><th>Channel</th><th>Sessions</th>'
    "<th>Orders</th><th>Conversion rate</th></tr></thead><tbody>"
    '<tr><td>01/08/2026</td><td>Organic search</td><td class="num">19.371</td>'
    '<td class="num">753</td><td class="num">3,9 %</td></tr></tbody></table>'
)


# -- date chunks and arguments ------------------------------------------------------


def test_a_month_in_three_day_chunks() -> None:
    chunks = date_chunks(date(2026, 8, 1), date(2026, 8, 31), 3)
    assert len(chunks) == 11
    assert chunks[0] == (date(2026, 8, 1), date(2026, 8, 3))
    assert chunks[9] == (date(2026, 8, 28), date(2026, 8, 30))
    assert chunks[10] == (date(2026, 8, 31), date(2026, 8, 31))
    days = [(b - a).days + 1 for a, b in chunks]
    assert sum(days) == 31


def test_chunks_longer_than_the_range_and_a_single_day() -> None:
    assert date_chunks(date(2026, 2, 27), date(2026, 3, 1), 7) == [
        (date(2026, 2, 27), date(2026, 3, 1))
    ]
    assert date_chunks(date(2026, 8, 1), date(2026, 8, 1), 1) == [
        (date(2026, 8, 1), date(2026, 8, 1))
    ]


def test_arguments_parse_into_chunks() -> None:
    args = DashboardArgs.from_kwargs(
        {
            "report": "orders",
            "start": "2026-08-01",
            "end": "2026-08-10",
            "chunk_days": "4",
            "parallel": "2",
        }
    )
    assert args.parallel == 2
    assert [c.label for c in args.chunks] == [
        "orders:2026-08-01..2026-08-04",
        "orders:2026-08-05..2026-08-08",
        "orders:2026-08-09..2026-08-10",
    ]


def test_defaults_are_weekly_chunks_one_page_at_a_time() -> None:
    args = DashboardArgs.from_kwargs(
        {"report": "traffic", "start": "2026-08-01", "end": "2026-08-14"}
    )
    assert args.parallel == 1
    assert [c.label for c in args.chunks] == [
        "traffic:2026-08-01..2026-08-07",
        "traffic:2026-08-08..2026-08-14",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "report: missing; pass -a report=NAME (known: orders, traffic)."),
        (
            {"report": "sales"},
            "report: 'sales' is not a dashboard report (known: orders, traffic).",
        ),
        ({"report": "orders", "end": "2026-08-01"}, "start: missing; pass -a start=YYYY-MM-DD."),
        (
            {"report": "orders", "start": "01/08/2026", "end": "2026-08-01"},
            "start: '01/08/2026' is not a YYYY-MM-DD date.",
        ),
        (
            {"report": "orders", "start": "2026-08-02", "end": "2026-08-01"},
            "end: 2026-08-01 is before start 2026-08-02.",
        ),
        (
            {"report": "orders", "start": "2026-08-01", "end": "2026-08-31", "chunk_days": "0"},
            "chunk_days: must be at least 1, got 0.",
        ),
        (
            {"report": "orders", "start": "2026-08-01", "end": "2026-08-31", "chunk_days": "40"},
            "chunk_days: 40 is more than the dashboard's longest range (31 days).",
        ),
        (
            {"report": "orders", "start": "2026-08-01", "end": "2026-08-31", "parallel": "two"},
            "parallel: 'two' is not a whole number.",
        ),
        (
            {"report": "orders", "password": "x"},
            "password: credentials are read from the DASHBOARD_USERNAME and DASHBOARD_PASSWORD "
            "environment variables only, never from arguments.",
        ),
        (
            {"chunks_file": "f.jsonl", "report": "orders"},
            "chunks_file replaces report, start, end and chunk_days: pass it without report.",
        ),
    ],
)
def test_argument_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SpiderArgumentError) as info:
        DashboardArgs.from_kwargs(kwargs)
    assert str(info.value) == message


def test_chunk_labels_round_trip() -> None:
    chunk = Chunk("orders", date(2026, 8, 7), date(2026, 8, 9))
    assert chunk.label == "orders:2026-08-07..2026-08-09"
    assert Chunk.from_label(chunk.label) == chunk
    with pytest.raises(ValueError, match="is not a chunk"):
        Chunk.from_label("orders:2026-08-07")
    with pytest.raises(ValueError, match="ends before it starts"):
        Chunk.from_label("orders:2026-08-09..2026-08-07")


def test_a_failures_file_gives_its_dashboard_chunks(tmp_path: Path) -> None:
    path = tmp_path / "failures.jsonl"
    records = [
        {"kind": "dashboard_chunk", "id": "orders:2026-08-07..2026-08-09", "reason": "table_error"},
        {"kind": "product", "id": 12},
        {"kind": "dashboard_chunk", "id": "traffic:2026-08-01..2026-08-01"},
        {"kind": "dashboard_chunk", "id": "orders:2026-08-07..2026-08-09"},
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + b"\n")
    assert read_chunks_file(path) == [
        Chunk("orders", date(2026, 8, 7), date(2026, 8, 9)),
        Chunk("traffic", date(2026, 8, 1), date(2026, 8, 1)),
    ]
    args = DashboardArgs.from_kwargs({"chunks_file": str(path), "parallel": "3"})
    assert [c.label for c in args.chunks] == [
        "orders:2026-08-07..2026-08-09",
        "traffic:2026-08-01..2026-08-01",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"kind": "product", "id": 1}\n', "holds no dashboard_chunk records."),
        (
            '{"kind": "dashboard_chunk", "id": "x"}\n',
            "line 1: 'x' is not a chunk (report:YYYY-MM-DD..YYYY-MM-DD).",
        ),
        (
            '{"kind": "dashboard_chunk", "id": "sales:2026-08-01..2026-08-02"}\n',
            "line 1: unknown report 'sales'.",
        ),
        ("{oops\n", "line 1 is not valid JSON."),
    ],
)
def test_chunks_file_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "failures.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SpiderArgumentError) as info:
        read_chunks_file(path)
    assert str(info.value) == f"chunks_file {path}: {message}"


def test_a_missing_chunks_file(tmp_path: Path) -> None:
    with pytest.raises(SpiderArgumentError) as info:
        read_chunks_file(tmp_path / "nope.jsonl")
    assert str(info.value) == f"chunks_file {tmp_path / 'nope.jsonl'}: no such file."


# -- credentials and settings ---------------------------------------------------------


def test_credentials_come_from_the_environment_and_never_show() -> None:
    credentials = Credentials.from_env({"DASHBOARD_USERNAME": "ana", "DASHBOARD_PASSWORD": "s3"})
    assert (credentials.username, credentials.password) == ("ana", "s3")
    assert "ana" not in repr(credentials) and "s3" not in repr(credentials)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "DASHBOARD_USERNAME and DASHBOARD_PASSWORD"),
        ({"DASHBOARD_USERNAME": "ana", "DASHBOARD_PASSWORD": ""}, "DASHBOARD_PASSWORD"),
    ],
)
def test_missing_credentials(env: dict[str, str], missing: str) -> None:
    with pytest.raises(SpiderArgumentError) as info:
        Credentials.from_env(env)
    assert str(info.value) == (
        f"{missing} must be set in the environment: the dashboard's credentials come from "
        "environment variables only."
    )


def test_config_falls_back_to_the_marketplace_url() -> None:
    config = DashboardConfig.from_settings(Settings({"MARKETPLACE_URL": "http://m.test/"}))
    assert config.base_url == "http://m.test"
    assert config.login_url() == "http://m.test/dashboard/login"
    assert config.report_url("orders") == "http://m.test/dashboard/reports/orders"
    assert (config.table_timeout, config.table_retries, config.session_renewals) == (30.0, 2, 2)
    assert (config.max_chunk_days, config.debug_dir) == (31, None)


def test_config_from_settings() -> None:
    config = DashboardConfig.from_settings(
        Settings(
            {
                "MARKETPLACE_URL": "http://m.test",
                "DASHBOARD_URL": "https://bi.test",
                "DASHBOARD_TABLE_TIMEOUT": "2.5",
                "DASHBOARD_TABLE_RETRIES": "0",
                "DASHBOARD_SESSION_RENEWALS": 1,
                "DASHBOARD_DEBUG_DIR": "/tmp/d",
                "RETRY_HTTP_CODES": ["503", 429],
                "RETRY_BACKOFF_BASE": 0.5,
                "RETRY_BACKOFF_MAX": 3,
            }
        )
    )
    assert config == DashboardConfig(
        "https://bi.test", 2.5, 0, 1, 31, "/tmp/d", frozenset({429, 503}), 0.5, 3.0
    )
    assert [config.retry_delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]


def project_settings(**overrides: Any) -> Settings:
    """The project's settings (no reactor needed: the crawlers are not started)."""
    settings = get_project_settings()
    settings.setdict(overrides, priority="cmdline")
    return settings


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_only_the_dashboard_spider_uses_the_browser(scheme: str) -> None:
    settings = project_settings(MARKETPLACE_URL=f"{scheme}://m.test")
    # the project's client is the API spiders' (aiohttp), never the browser
    assert set(settings.getdict("DOWNLOAD_HANDLERS").values()) == {
        "crawler.handlers.aiohttp.AiohttpHandler"
    }
    api = Crawler(ProductsSpider, settings)
    assert PLAYWRIGHT_HANDLER not in api.settings.getwithbase("DOWNLOAD_HANDLERS").values()
    crawler = Crawler(DashboardSpider, settings)
    # one handler, one Playwright driver: the dashboard's scheme only
    assert crawler.settings.getdict("DOWNLOAD_HANDLERS") == {scheme: PLAYWRIGHT_HANDLER}
    assert crawler.settings.getbool("COOKIES_ENABLED") is False
    assert crawler.settings.get("PLAYWRIGHT_PROCESS_REQUEST_HEADERS") is None
    launch = crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert launch["executable_path"] == "/usr/bin/chromium"
    assert {"--no-sandbox", "--disable-background-networking"} <= set(launch["args"])


def test_parallel_sets_the_page_and_request_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    crawler = Crawler(DashboardSpider, project_settings(MARKETPLACE_URL="http://m.test"))
    spider = DashboardSpider.from_crawler(
        crawler, report="orders", start="2026-08-01", end="2026-08-03", parallel="3"
    )
    assert [c.label for c in spider.args.chunks] == ["orders:2026-08-01..2026-08-03"]
    assert callable(spider.start)  # "-a start=" does not shadow start()
    for name in (
        "CONCURRENT_REQUESTS",
        "CONCURRENT_REQUESTS_PER_DOMAIN",
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT",
    ):
        assert crawler.settings.getint(name) == 3


class _BrowserRequest:
    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type


@pytest.mark.parametrize(
    ("resource_type", "aborted"),
    [
        ("image", True),
        ("font", True),
        ("media", True),
        ("document", False),
        ("script", False),
        ("fetch", False),
        ("stylesheet", False),
    ],
)
def test_images_fonts_and_media_are_blocked(resource_type: str, aborted: bool) -> None:
    assert should_abort_request(_BrowserRequest(resource_type)) is aborted


# -- tables ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("02/08/2026", "date", date(2026, 8, 2)),
        ("2/8/2026", "date", date(2026, 8, 2)),
        ("2026-08-02", "date", date(2026, 8, 2)),
        ("31/02/2026", "date", "31/02/2026"),
        ("1.234", "int", 1234),
        ("-12", "int", -12),
        ("0", "int", 0),
        ("1.5", "int", "1.5"),
        ("12.34", "int", "12.34"),
        ("Liên hệ", "int", "Liên hệ"),
        ("32.016.000\u00a0₫", "money", 32_016_000),
        ("₫ 1.000", "money", 1000),
        ("9,4 %", "percent", 9.4),
        ("100,0\u00a0%", "percent", 100.0),
        ("0,3 %", "percent", 0.3),
        ("n/a", "percent", "n/a"),
        ("  Shop   Mẹ Bé ", "text", "Shop Mẹ Bé"),
    ],
)
def test_cells_are_typed(text: str, kind: str, value: Any) -> None:
    parsed = parse_cell(text, kind)
    assert parsed == value
    assert type(parsed) is type(value)


def test_a_saved_orders_page_gives_typed_rows() -> None:
    table = parse_table(ORDERS_TABLE)
    assert table.headers == [
        "Date",
        "Seller ID",
        "Seller",
        "Orders",
        "Units",
        "Revenue",
        "Refund rate",
    ]
    rows = extract_rows(REPORTS["orders"], table, URL, NOW)
    assert [ItemAdapter(row).asdict() for row in rows] == ORDERS_EXPECTED


def test_a_saved_traffic_page_is_keyed_by_channel() -> None:
    [row] = extract_rows(REPORTS["traffic"], parse_table(TRAFFIC_TABLE), URL, NOW)
    assert row.key == "traffic:2026-08-01:Organic search"
    assert row.day == date(2026, 8, 1)
    assert row.values == {
        "channel": "Organic search",
        "sessions": 19_371,
        "orders": 753,
        "conversion_rate": 3.9,
    }


def test_the_no_data_row_is_not_a_row() -> None:
    html = (
        '<table><thead><tr><th>Date</th></tr></thead><tbody><tr class="empty">'
        "<td colspan=7>No data for this date range.</td></tr></tbody></table>"
    )
    assert parse_table(html) == Table(["Date"], [])


def test_extra_columns_are_ignored_missing_ones_are_an_error() -> None:
    headers = ["Date", "Channel", "Sessions", "Orders", "Conversion rate", "Bounce"]
    row = ["01/08/2026", "Email", "10", "1", "10,0 %", "3"]
    [item] = extract_rows(REPORTS["traffic"], Table(headers, [row]), URL, NOW)
    assert item.values == {"channel": "Email", "sessions": 10, "orders": 1, "conversion_rate": 10.0}
    with pytest.raises(ExtractionError) as info:
        extract_rows(REPORTS["orders"], Table(headers, [row]), URL, NOW)
    assert info.value.reason == "unexpected_columns"
    assert str(info.value) == (
        "orders: the table has no Seller ID, Seller, Units, Revenue, Refund rate column "
        "(headers: Date, Channel, Sessions, Orders, Conversion rate, Bounce)"
    )


def test_a_row_with_missing_cells_is_an_error() -> None:
    headers = ["Date", "Channel", "Sessions", "Orders", "Conversion rate"]
    with pytest.raises(ExtractionError) as info:
        extract_rows(REPORTS["traffic"], Table(headers, [["01/08/2026", "Email"]]), URL, NOW)
    assert (info.value.reason, str(info.value)) == (
        "unexpected_cells",
        "traffic: row 1 has 2 cells for 5 columns",
    )


def test_no_table_at_all() -> None:
    with pytest.raises(ExtractionError) as info:
        parse_table("<html><body><p>Sign in</p></body></html>")
    assert info.value.reason == "no_table"


def test_the_crawler_knows_the_simulated_reports() -> None:
    """The spider's layouts and the simulator's must not drift apart."""
    for name, columns in simdash.REPORTS.items():
        report = REPORTS[name]
        assert [(c.name, c.label, c.type) for c in report.columns] == columns
        assert report.key_column == columns[1][0]


# -- the simulated dashboard ------------------------------------------------------------


def test_simulated_rows_are_a_function_of_seed_and_day() -> None:
    day = date(2026, 8, 2)
    rows = simdash.report_rows(1, "orders", day)
    assert rows == simdash.report_rows(1, "orders", day)
    assert rows != simdash.report_rows(2, "orders", day)
    assert [r["seller_id"] for r in rows] == [102, 104, 106, 108, 110, 111, 112, 113, 114, 115, 116]
    truth = simdash.truth_rows(1, "orders", day, day)
    assert truth[0] == {
        "key": "2026-08-02:102",
        "day": "2026-08-02",
        "values": {
            "seller_id": 102,
            "seller": "Nhà Sách Phương Nam",
            "orders": 17,
            "units": 24,
            "revenue": 32_016_000,
            "refund_rate": 9.4,
        },
    }


def test_no_email_traffic_at_weekends() -> None:
    saturday, monday = date(2026, 8, 1), date(2026, 8, 3)
    assert "Email" not in [r["channel"] for r in simdash.report_rows(1, "traffic", saturday)]
    assert "Email" in [r["channel"] for r in simdash.report_rows(1, "traffic", monday)]


def test_simulated_knobs_are_validated() -> None:
    assert simdash.validate_knobs(
        {
            "dashboard_fail_days": "2026-08-08, 2026-08-01",
            "dashboard_page_size": 5.0,
            "dashboard_render_delay_ms": "20",
        }
    ) == {
        "dashboard_fail_days": ["2026-08-01", "2026-08-08"],
        "dashboard_page_size": 5,
        "dashboard_render_delay_ms": 20.0,
    }
    for bad, message in [
        ({"dashboard_nope": 1}, "unknown knob 'dashboard_nope'"),
        ({"dashboard_fail_rate": 2}, "is a share within [0, 1]"),
        ({"dashboard_page_size": 0}, "must be a whole number"),
        ({"dashboard_session_seconds": -1}, "must be a number >= 0"),
        ({"dashboard_fail_days": ["08/08/2026"]}, "'08/08/2026' is not a YYYY-MM-DD date"),
    ]:
        with pytest.raises(simdash.DashboardKnobError, match=message.replace("[", r"\[")):
            simdash.validate_knobs(bad)


def test_split_knobs_separates_the_dashboard_part() -> None:
    assert simdash.split_knobs({"latency_ms": 5, "dashboard_fail_every": 3}) == (
        {"dashboard_fail_every": 3},
        {"latency_ms": 5},
    )
    assert simdash.split_knobs([1]) == ({}, [1])
