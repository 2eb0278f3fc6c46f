"""BackoffRetryMiddleware and failure records: the pure pieces on hand-made
requests and responses (the crawls are in tests/crawl/test_retry.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.http import Response, TextResponse
from scrapy.settings import Settings, default_settings
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.test import get_crawler

from crawler.backoff import exponential_delay
from crawler.failures import failure_reason
from crawler.middlewares.retry import (
    BackoffRetryMiddleware,
    RetryConfig,
    malformed_json,
    retry_after_seconds,
)

NOW = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
JSON = {"Content-Type": "application/json; charset=utf-8"}


# -- pure pieces ---------------------------------------------------------------


def config(**settings: Any) -> RetryConfig:
    return RetryConfig.from_settings(get_crawler(settings_dict=settings).settings)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    cfg = config(RETRY_BACKOFF_BASE=0.5, RETRY_BACKOFF_MAX=3.0, RETRY_BACKOFF_JITTER=0.0)
    assert [cfg.backoff(n, 0.7) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    # no overflow for absurd attempt numbers
    assert cfg.backoff(10_000, 0.0) == 3.0


def test_jitter_takes_up_to_its_share_off_the_backoff() -> None:
    cfg = config(RETRY_BACKOFF_BASE=2.0, RETRY_BACKOFF_MAX=60.0, RETRY_BACKOFF_JITTER=0.5)
    assert cfg.backoff(3, 0.0) == 8.0  # the whole backoff
    assert cfg.backoff(3, 0.5) == 6.0
    assert cfg.backoff(3, 1.0) == 4.0  # the part that is not jitter


def test_backoff_base_and_cap_per_call() -> None:
    cfg = config(RETRY_BACKOFF_BASE=1.0, RETRY_BACKOFF_MAX=60.0, RETRY_BACKOFF_JITTER=0.0)
    assert cfg.backoff(1, 0.0, base=3.0) == 3.0
    assert cfg.backoff(2, 0.0, base=3.0, cap=4.0) == 4.0
    assert cfg.backoff(4, 0.0, cap=5.0) == 5.0


def test_the_defaults_of_the_project_settings() -> None:
    from scrapy.utils.project import get_project_settings

    cfg = RetryConfig.from_settings(get_project_settings())
    assert (cfg.times, cfg.backoff_base, cfg.backoff_max, cfg.backoff_jitter) == (5, 1.0, 60.0, 0.5)
    assert {429, 500, 502, 503, 504, 408} <= cfg.http_codes
    assert cfg.malformed_json and cfg.retry_after_max == 120.0


def test_settings_that_lack_ours_get_the_project_defaults() -> None:
    from crawler import settings as defaults

    cfg = RetryConfig.from_settings(Settings())  # Scrapy's defaults only
    assert (cfg.backoff_base, cfg.backoff_max, cfg.backoff_jitter) == (
        defaults.RETRY_BACKOFF_BASE,
        defaults.RETRY_BACKOFF_MAX,
        defaults.RETRY_BACKOFF_JITTER,
    )
    assert (cfg.retry_after_max, cfg.malformed_json) == (
        defaults.RETRY_AFTER_MAX,
        defaults.RETRY_MALFORMED_JSON,
    )
    # Scrapy's own settings keep Scrapy's defaults
    assert (cfg.times, cfg.give_up_log_level) == (
        default_settings.RETRY_TIMES,
        default_settings.RETRY_GIVE_UP_LOG_LEVEL,
    )


def test_backoff_is_the_shared_exponential_delay_less_its_jitter() -> None:
    cfg = config(RETRY_BACKOFF_BASE=0.5, RETRY_BACKOFF_MAX=3.0, RETRY_BACKOFF_JITTER=0.5)
    for n in range(1, 6):
        assert cfg.backoff(n, 1.0) == exponential_delay(n, 0.5, 3.0) * 0.5


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"RETRY_BACKOFF_JITTER": 1.5}, "RETRY_BACKOFF_JITTER must be within 0 and 1, got 1.5."),
        (
            {"RETRY_BACKOFF_BASE": -1},
            "RETRY_BACKOFF_BASE, RETRY_BACKOFF_MAX and RETRY_AFTER_MAX must not be negative.",
        ),
    ],
)
def test_bad_settings_are_one_sentence(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:
        config(**settings)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (b" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Mon, 23 Nov 2026 10:01:00 GMT", 60.0),
        ("Mon, 23 Nov 2026 10:01:00", 60.0),  # no zone: GMT, as RFC 9110 says
        ("Mon, 23 Nov 2026 09:00:00 GMT", 0.0),  # in the past: at once
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(value: Any, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds


def test_failure_reasons_are_short_names() -> None:
    response = Response("http://x/api/v2/products/1", status=503)
    assert failure_reason(HttpError(response, "Ignoring non-200 response")) == "http_503"
    assert failure_reason(DownloadTimeoutError("took longer than 20 s")) == "timeout"
    assert failure_reason(DownloadConnectionRefusedError()) == "connection_refused"
    assert failure_reason(DownloadFailedError()) == "connection_lost"
    assert failure_reason(ResponseDataLossError()) == "data_loss"
    too_large = DownloadCancelledError(
        "Received 5000 bytes which is larger than download max size (1000) in request <GET x>."
    )
    assert failure_reason(too_large) == "body_too_large"
    assert failure_reason(DownloadCancelledError("cancelled")) == "download_cancelled"
    assert failure_reason(KeyError("x")) == "key_error"


def test_malformed_json_is_a_json_response_that_does_not_parse() -> None:
    url = "http://x/api/v2/products/1"
    assert malformed_json(TextResponse(url, body=b'{"id": 1', headers=JSON))
    assert malformed_json(TextResponse(url, body=b'{"id"<html>502</html>', headers=JSON))
    assert not malformed_json(TextResponse(url, body=b'{"id": 1}', headers=JSON))
    # not said to be JSON: the spider judges it
    html = {"Content-Type": "text/html"}
    assert not malformed_json(TextResponse(url, body=b"<html>", headers=html))


# -- the middleware on hand-made requests -------------------------------------


def middleware(**settings: Any) -> tuple[BackoffRetryMiddleware, Any]:
    crawler = get_crawler(Spider, {"RETRY_BACKOFF_JITTER": 0.0, **settings})
    crawler.spider = crawler._create_spider("test")
    return build_from_crawler(BackoffRetryMiddleware, crawler), crawler.stats


def response(request: Request, status: int = 200, body: bytes = b"{}", **headers: str) -> Response:
    return TextResponse(
        request.url, status=status, body=body, headers={**JSON, **headers}, request=request
    )


def test_retries_wait_by_backoff_and_are_counted_per_reason_and_attempt() -> None:
    mw, stats = middleware(RETRY_BACKOFF_BASE=0.5, RETRY_TIMES=2)
    first = Request("http://x/api/v2/products/1")
    retry1 = mw.process_response(first, response(first, 503))
    assert isinstance(retry1, Request) and retry1.meta["retry_times"] == 1
    assert retry1.meta["dont_cache"] is True  # a retry must reach the site
    assert retry1.dont_filter
    assert mw.waits[retry1] == 0.5
    retry2 = mw.process_exception(retry1, DownloadTimeoutError("took too long"))
    assert isinstance(retry2, Request) and retry2.meta["retry_times"] == 2
    assert mw.waits[retry2] == 1.0
    final = response(retry2, 500)
    assert mw.process_response(retry2, final) is final  # out of retries: the answer goes on
    assert {k: v for k, v in stats.get_stats().items() if k.startswith("retry/")} == {
        "retry/count": 2,
        "retry/reason_count/http_503": 1,
        "retry/reason_count/timeout": 1,
        "retry/attempt_count/1": 1,
        "retry/attempt_count/2": 1,
        "retry/max_reached": 1,
        "retry/max_reached/http_500": 1,
    }


def test_retry_after_wins_over_the_backoff_up_to_its_maximum() -> None:
    mw, stats = middleware(RETRY_BACKOFF_BASE=0.5, RETRY_AFTER_MAX=10)
    request = Request("http://x/api/v2/products/1")
    retry = mw.process_response(request, response(request, 429, **{"Retry-After": "7"}))
    assert mw.waits[retry] == 7.0
    retry = mw.process_response(request, response(request, 503, **{"Retry-After": "3600"}))
    assert mw.waits[retry] == 10.0
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    retry = mw.process_response(request, response(request, 503, **{"Retry-After": date}))
    assert 9.0 <= mw.waits[retry] <= 10.0  # cut to RETRY_AFTER_MAX (the date is ~60 s away)
    retry = mw.process_response(request, response(request, 503, **{"Retry-After": "soon"}))
    assert mw.waits[retry] == 0.5  # unreadable: the backoff
    assert stats.get_value("retry/retry_after_count") == 3


def test_meta_overrides_the_settings_per_request() -> None:
    mw, stats = middleware(RETRY_BACKOFF_BASE=0.5, RETRY_TIMES=5)
    slow = Request("http://x/1", meta={"retry_backoff_base": 3.0, "retry_backoff_max": 4.0})
    retry = mw.process_response(slow, response(slow, 503))
    assert mw.waits[retry] == 3.0
    retry = mw.process_response(retry, response(retry, 503))
    assert mw.waits[retry] == 4.0  # 6 s capped by the request's own maximum

    once = Request("http://x/2", meta={"max_retry_times": 0})
    answer = response(once, 503)
    assert mw.process_response(once, answer) is answer
    assert stats.get_value("retry/max_reached/http_503") == 1

    never = Request("http://x/3", meta={"dont_retry": True})
    answer = response(never, 503)
    assert mw.process_response(never, answer) is answer
    assert mw.process_exception(never, DownloadTimeoutError()) is None
    assert stats.get_value("retry/count") == 2


def test_what_is_not_retried() -> None:
    mw, stats = middleware()
    request = Request("http://x/api/v2/products/1")
    for answer in (
        response(request, 404),
        response(request, 200, b'{"id": 1}'),
        response(request, 200, b"<html>", **{"Content-Type": "text/html"}),
    ):
        assert mw.process_response(request, answer) is answer
    assert mw.process_exception(request, ValueError("a bug, not the network")) is None
    assert stats.get_value("retry/count") is None
    assert mw.waits == {}


def test_malformed_json_is_retried_unless_switched_off() -> None:
    request = Request("http://x/api/v2/products/1")
    mw, stats = middleware()
    assert isinstance(mw.process_response(request, response(request, 200, b'{"id"')), Request)
    assert stats.get_value("retry/reason_count/malformed_json") == 1
    mw, _ = middleware(RETRY_MALFORMED_JSON=False)
    answer = response(request, 200, b'{"id"')
    assert mw.process_response(request, answer) is answer


def test_retry_enabled_off_disables_the_middleware() -> None:
    with pytest.raises(NotConfigured):
        middleware(RETRY_ENABLED=False)
