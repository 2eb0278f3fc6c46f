"""How a failed record is logged: a withdrawn product (a listed id that answers
404) is the site's answer, one INFO line; any other failure is a WARNING."""

from __future__ import annotations

import logging

import pytest
from scrapy.utils.test import get_crawler

from crawler import ledger
from crawler.failures import record_failure


def test_a_withdrawn_product_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    crawler = get_crawler()
    with caplog.at_level(logging.INFO, logger="crawler.failures"):
        record_failure(
            crawler,
            kind="product",
            record_id=42,
            url="u/42",
            reason="not_found",
            message="the product answers 404",
        )
        record_failure(
            crawler, kind="product", record_id=43, url="u/43", reason="timeout", message="slow"
        )
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "Withdrawn product 42: the product answers 404."),
        ("WARNING", "Failed product 43: timeout (slow)"),
    ]


def test_withdrawn_failures_do_not_count_as_trouble() -> None:
    stats = {
        "failures/count": 5,
        "failures/product/not_found": 3,
        "failures/product/http_500": 1,
        "failures/listing/timeout": 1,
    }
    assert ledger.failures(stats) == 5
    assert ledger.withdrawn(stats) == 3
    assert ledger.troubles(stats) == 2
    assert ledger.troubles({}) == 0
