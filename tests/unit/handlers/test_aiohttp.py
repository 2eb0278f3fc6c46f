"""The API spiders' HTTP client (crawler/handlers/aiohttp.py); its crawls are
the crawl tests, which run on it by default."""

from __future__ import annotations

import asyncio
import logging

import pytest
from scrapy.utils.test import get_crawler

from crawler.handlers.aiohttp import AiohttpHandler


def test_the_pool_caps_connections_in_total_only_and_no_warning_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def make() -> tuple[int, int, bool]:
        crawler = get_crawler(
            settings_dict={"CONCURRENT_REQUESTS": 48, "CONCURRENT_REQUESTS_PER_DOMAIN": 16}
        )
        handler = AiohttpHandler(crawler)
        connector = handler._session.connector
        assert connector is not None
        try:
            return connector.limit, connector.limit_per_host, handler.lazy
        finally:
            await handler.close()

    with caplog.at_level(logging.INFO):
        limit, per_host, lazy = asyncio.run(make())
    # the download slots cap each host (the API's 16, the images' own slot);
    # a per-host cap in the pool too would make images wait for the API's
    assert (limit, per_host) == (48, 0)
    assert lazy  # made at the first request, inside the running loop
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
