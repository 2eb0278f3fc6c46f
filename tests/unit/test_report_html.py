"""report.html from report dicts: what the page holds, and that it needs
nothing but itself (the page in a browser: tests/e2e/test_report_html.py)."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from crawler.extensions.report import build_report
from crawler.report_history import comparison
from crawler.report_html import rates, render

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def report(run_id: str, valid: int, **stats: Any) -> dict[str, Any]:
    built = build_report(
        {
            "start_time": START,
            "finish_time": START + timedelta(seconds=10),
            "finish_reason": "finished",
            "items/valid/product": valid,
            "items/rejected/product": 6,
            "items/rejected/product/price_missing": 4,
            "items/rejected/product/name_empty": 2,
            "failures/count": 3,
            "failures/product/not_found": 2,
            "failures/reviews/timeout": 1,
            "coverage/product/name": valid + 4,
            "coverage/product/price": valid + 2,
            "coverage/product/<b>": 0,
            **stats,
        },
        "products",
        run_id,
    )
    built["scope"] = {"categories": [1]}
    built["problems"] = []
    built["rate_samples"] = [[0.0, 0], [1.0, 40], [2.0, 100], [3.0, 150]]
    built["comparison"] = None
    return built


def test_the_page_shows_counts_coverage_reasons_and_a_plot() -> None:
    page = render(report("r1", 94))
    text = re.sub(r"<[^>]+>", " ", page)
    assert "Good run" in text
    assert re.search(r"product\s+94\s+6\s+2\s+0", text)  # valid, rejected, failed, stored
    assert re.search(r"reviews\s+0\s+0\s+1\s+0", text)
    assert re.search(r"name\s+98\.0%", text) and re.search(r"price\s+96\.0%", text)
    assert "&lt;b&gt;" in page and "<b>" not in page  # names are escaped
    assert page.index("price_missing") < page.index("name_empty")  # the most first
    assert "timeout" in text and "not_found" in text
    assert page.count("<svg") == 1 and "records per second" in page
    assert "Nothing to compare with: no earlier complete run" in text


def test_the_page_loads_nothing() -> None:
    page = render(report("r1", 94))
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert " src=" not in page and "url(" not in page
    # the only addresses are the SVG namespaces, which are names, not requests
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }


def test_the_comparison_is_flagged() -> None:
    before, now = report("r1", 100), report("r2", 75)
    now["comparison"] = comparison(now, before, 0.05)
    now["problems"] = ["75 valid items, 25.0% fewer than the 100 of ..."]
    text = re.sub(r"<[^>]+>", " ", render(now))
    assert "Broken run" in text and "25.0% fewer" in text
    assert "Against run  r1" in text
    assert re.search(r"product\s+75\s+100\s+-25\.0%\s+flagged", text)


def test_a_run_too_short_for_a_plot() -> None:
    short = report("r1", 94)
    short["rate_samples"] = [[0.0, 0], [0.5, 100]]
    page = render(short)
    assert "<svg" not in page and "too short for a plot" in page
    assert rates([[0.0, 0], [2.0, 10], [2.0, 12], [4.0, 30]]) == [(2.0, 5.0), (4.0, 9.0)]


def test_pygal_leaves_the_import_system_as_it_was() -> None:
    # its map-plugin finder warns on every failed import (an error in this suite)
    assert not any(type(f).__name__ == "PluginImportFixer" for f in sys.meta_path)
