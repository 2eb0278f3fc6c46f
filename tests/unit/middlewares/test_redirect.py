"""ApiRedirectMiddleware on hand-made requests and responses (the crawls that
meet the simulator's redirects are in tests/crawl/test_redirects.py)."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawler.failures import failure_reason
from crawler.middlewares.redirect import (
    REDIRECTED_FROM,
    ApiRedirectMiddleware,
    OffsiteRedirect,
    TooManyRedirects,
    origin,
)

API = "http://127.0.0.1:8000"
PRODUCT = f"{API}/api/v2/products/11"


def middleware(**settings: Any) -> ApiRedirectMiddleware:
    crawler = get_crawler(settings_dict={"MARKETPLACE_URL": API, **settings})
    crawler.stats.open_spider()  # type: ignore[union-attr, call-arg]
    return ApiRedirectMiddleware.from_crawler(crawler)


def api_request(url: str = PRODUCT, **meta: Any) -> Request:
    return Request(
        url,
        headers={"Referer": f"{API}/", "x-guest-token": "t"},
        meta={"kind": "product", "record_id": 11, **meta},
    )


def moved(request: Request, location: str, status: int = 301) -> Response:
    return Response(request.url, status=status, headers={"Location": location}, request=request)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_within_the_api_is_followed_past_the_duplicate_filter(status: int) -> None:
    mw = middleware()
    request = api_request()
    followed = mw.process_response(request, moved(request, "/api/v2/products/12", status))
    assert isinstance(followed, Request)
    assert followed.url == f"{API}/api/v2/products/12"
    assert followed.dont_filter  # a URL the crawl fetched already is fetched again
    assert followed.meta[REDIRECTED_FROM] == PRODUCT
    assert followed.meta["record_id"] == 11 and followed.meta["kind"] == "product"
    # the Referer the API expects stays (RefererMiddleware is off)
    assert followed.headers["Referer"] == f"{API}/".encode()
    assert followed.headers["x-guest-token"] == b"t"


def test_a_second_hop_still_names_the_url_first_asked_for() -> None:
    mw = middleware()
    request = api_request()
    first = mw.process_response(request, moved(request, "/api/v2/products/11?spid=2"))
    assert isinstance(first, Request)
    second = mw.process_response(first, moved(first, f"{API}/api/v2/products/11?spid=3"))
    assert isinstance(second, Request)
    assert second.meta[REDIRECTED_FROM] == PRODUCT


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:8000/api/v2/products/11",  # another host
        "http://127.0.0.1:8001/api/v2/products/11",  # another port
        "https://127.0.0.1:8000/api/v2/products/11",  # another scheme
        "//127.0.0.3/api/v2/products/11",  # scheme-relative, another host
    ],
)
def test_a_redirect_off_the_api_is_refused(location: str) -> None:
    mw = middleware()
    request = api_request()
    with pytest.raises(OffsiteRedirect) as raised:
        mw.process_response(request, moved(request, location, 302))
    assert failure_reason(raised.value) == "offsite_redirect"
    assert "not followed" in str(raised.value) and API in str(raised.value)
    assert mw.crawler.stats.get_value("redirect/offsite_refused") == 1  # type: ignore[union-attr]


def test_the_dashboards_host_is_not_off_the_api() -> None:
    mw = middleware(DASHBOARD_URL="http://127.0.0.4:9000")
    request = Request("http://127.0.0.4:9000/dashboard/reports/orders")
    followed = mw.process_response(request, moved(request, "/dashboard/login", 302))
    assert isinstance(followed, Request)
    assert followed.url == "http://127.0.0.4:9000/dashboard/login"


def test_too_many_redirects_is_a_failure_of_its_own() -> None:
    mw = middleware(REDIRECT_MAX_TIMES=2)
    request = api_request(redirect_times=2, redirect_ttl=1)
    with pytest.raises(TooManyRedirects) as raised:
        mw.process_response(request, moved(request, "/api/v2/products/11"))
    assert failure_reason(raised.value) == "too_many_redirects"


def test_answers_that_are_not_redirects_pass() -> None:
    mw = middleware()
    request = api_request(handle_httpstatus_list=[404])
    ok = Response(PRODUCT, status=200, request=request)
    assert mw.process_response(request, ok) is ok
    gone = Response(PRODUCT, status=404, request=request)
    assert mw.process_response(request, gone) is gone


def test_origin_fills_in_default_ports() -> None:
    assert origin("https://tiki.vn/api") == ("https", "tiki.vn", 443)
    assert origin("http://TIKI.vn:80/x") == ("http", "tiki.vn", 80)
