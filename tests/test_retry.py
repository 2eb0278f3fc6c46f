"""BackoffRetryMiddleware and failure records: the pure pieces on hand-made
requests and responses, then small real crawls against the simulator (and, for
bodies of an unexpected shape, a stub API server on 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from helpers import ROOT, CrawlResult, run_crawl
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
from sim.testing import SimProcess

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


# -- crawls against the simulator ---------------------------------------------


def ids_file(tmp_path: Path, ids: list[int]) -> Path:
    path = tmp_path / "ids.csv"
    path.write_text("id\n" + "".join(f"{i}\n" for i in ids), encoding="utf-8")
    return path


def failure_records(run: CrawlResult, spider: str = "products") -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in run.output_dir.glob(f"{spider}/*/failures.jsonl")
        for line in path.read_bytes().splitlines()
    ]


def retry_stats(run: CrawlResult) -> dict[str, Any]:
    return {k: v for k, v in run.stats.items() if k.startswith("retry/")}


@pytest.fixture
def fresh_sim(sim_factory: Any) -> SimProcess:
    return sim_factory(size="tiny", seed=1)  # type: ignore[no-any-return]


def test_failed_for_good_is_recorded_while_other_requests_go_on(
    fresh_sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    """Two products always answer 500: each is retried twice after 1 s and
    2 s (no jitter), and meanwhile, one request at a time, the others are
    crawled; their failure records say so. Retries go to the front of the
    queue once due (RETRY_PRIORITY_ADJUST=1): a wait that held up the
    downloader or the reactor would crawl every good product after them."""
    valid = sorted(truth["products"]["valid"])
    broken, good = valid[:2], valid[2:22]
    fresh_sim.config(fail_product_ids=broken)
    run = run_crawl(
        "products",
        fresh_sim.url,
        tmp_path,
        args={"ids_file": str(ids_file(tmp_path, broken + good))},
        settings={
            "RETRY_TIMES": 2,
            "RETRY_BACKOFF_BASE": 1.0,
            "RETRY_BACKOFF_JITTER": 0.0,
            "RETRY_PRIORITY_ADJUST": 1,
            # one request at a time: a retry that waited in the downloader
            # (or slept) would hold up every other request
            "CONCURRENT_REQUESTS": 1,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "AUTOTHROTTLE_ENABLED": False,
        },
    )
    assert sorted(run.ids("Product")) == good
    assert retry_stats(run) == {
        "retry/count": 4,
        "retry/reason_count/http_500": 4,
        "retry/attempt_count/1": 2,
        "retry/attempt_count/2": 2,
        "retry/max_reached": 2,
        "retry/max_reached/http_500": 2,
    }
    assert run.stats["failures/count"] == run.stats["failures/product/http_500"] == 2
    assert fresh_sim.stats()["faults"]["failed_product"] == 6  # 3 attempts each

    records = failure_records(run)
    assert sorted(r["id"] for r in records) == broken
    for record in records:
        assert set(record) == {
            "kind",
            "id",
            "url",
            "reason",
            "message",
            "attempts",
            "spider",
            "time",
        }
        assert record["kind"] == "product" and record["spider"] == "products"
        assert record["url"] == f"{fresh_sim.url}/api/v2/products/{record['id']}"
        assert (record["reason"], record["attempts"]) == ("http_500", 3)
        assert record["message"] == "the API answered 500 (attempt 3)"
        assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0)
    # the broken products went first and failed last: the good ones were
    # crawled while their retries waited
    scraped = sorted(datetime.fromisoformat(p["scraped_at"]) for p in run.items)
    first_failure = min(datetime.fromisoformat(r["time"]) for r in records)
    assert scraped[-1] < first_failure


def test_retry_after_is_honoured(fresh_sim: SimProcess, truth: dict, tmp_path: Path) -> None:
    """2 requests/s, burst 2: the 429s say "Retry-After: 1". With no backoff
    of its own (base 0), a client that ignored Retry-After would spend its 10
    retries at once and fail; waiting as told, every product arrives."""
    wanted = sorted(truth["products"]["valid"])[:8]
    fresh_sim.config(rate_limit=2)
    run = run_crawl(
        "products",
        fresh_sim.url,
        tmp_path,
        args={"ids_file": str(ids_file(tmp_path, wanted))},
        settings={
            "RETRY_TIMES": 10,
            "RETRY_BACKOFF_BASE": 0.0,
            "THROTTLE_429_ENABLED": False,
            "AUTOTHROTTLE_START_DELAY": 0.0,
        },
    )
    sim_stats = fresh_sim.stats()
    assert sorted(run.ids("Product")) == wanted
    assert "failures/count" not in run.stats
    rate_limited = sim_stats["faults"]["rate_limited"]
    assert rate_limited > 0
    assert run.stats["retry/reason_count/http_429"] == rate_limited
    assert run.stats["retry/retry_after_count"] == rate_limited
    assert sim_stats["by_status"] == {"200": len(wanted), "429": rate_limited}


# -- bad responses: a failure with a reason, never a traceback ---------------


def assert_clean_finish(run: CrawlResult) -> None:
    assert run.stats["finish_reason"] == "finished"
    assert "Traceback" not in run.stderr
    assert "log_count/CRITICAL" not in run.stats
    assert "spider_exceptions" not in " ".join(run.stats)


def test_body_over_download_maxsize_fails_without_retries(
    sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    wanted = sorted(truth["products"]["valid"])[:3]
    run = run_crawl(
        "products",
        sim.url,
        tmp_path,
        args={"ids_file": str(ids_file(tmp_path, wanted))},
        settings={"DOWNLOAD_MAXSIZE": 2000, "DOWNLOAD_WARNSIZE": 1000},
    )
    assert_clean_finish(run)
    assert run.items == []
    records = failure_records(run)
    assert sorted(r["id"] for r in records) == wanted
    assert {(r["reason"], r["attempts"]) for r in records} == {("body_too_large", 1)}
    assert run.stats["failures/product/body_too_large"] == 3
    assert "retry/count" not in run.stats


def test_timeouts_and_malformed_bodies_fail_with_their_reason(
    fresh_sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    hung, bad = sorted(truth["products"]["valid"])[:3], sorted(truth["products"]["valid"])[3:6]
    fresh_sim.config(hang_rate=1, hang_seconds=2)
    timeouts = run_crawl(
        "products",
        fresh_sim.url,
        tmp_path / "hung",
        args={"ids_file": str(ids_file(tmp_path, hung))},
        settings={"DOWNLOAD_TIMEOUT": 0.5, "RETRY_TIMES": 1, "RETRY_BACKOFF_BASE": 0.05},
    )
    fresh_sim.config(hang_rate=0, malformed_rate=1)
    malformed = run_crawl(
        "products",
        fresh_sim.url,
        tmp_path / "bad",
        args={"ids_file": str(ids_file(tmp_path, bad))},
        settings={"RETRY_TIMES": 1, "RETRY_BACKOFF_BASE": 0.05},
    )
    for run, ids, reason in ((timeouts, hung, "timeout"), (malformed, bad, "malformed_json")):
        assert_clean_finish(run)
        assert run.items == []
        records = failure_records(run)
        assert sorted(r["id"] for r in records) == ids
        assert {(r["reason"], r["attempts"]) for r in records} == {(reason, 2)}
        assert run.stats[f"retry/reason_count/{reason}"] == 3
        assert run.stats[f"failures/product/{reason}"] == 3


class StubApi(BaseHTTPRequestHandler):
    """Product details of every wrong shape, and one good one."""

    good = (ROOT / "tests" / "data" / "product_37779493.json").read_bytes()
    bodies: ClassVar[dict[str, tuple[str, bytes]]] = {
        "/api/v2/products/1": ("application/json", b"[]"),
        "/api/v2/products/2": ("application/json", b'"a string"'),
        "/api/v2/products/3": ("application/json", b'{"name": "no id", "price": 1}'),
        "/api/v2/products/4": ("application/json", b'{"id": {"nested": true}}'),
        "/api/v2/products/5": ("text/html", b"<html><body>Bad Gateway</body></html>"),
        "/api/v2/products/37779493": ("application/json", good),
    }

    def do_GET(self) -> None:
        content_type, body = self.bodies.get(self.path, ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_unexpected_shapes_fail_with_their_reason(stub_api: str, tmp_path: Path) -> None:
    run = run_crawl(
        "products",
        stub_api,
        tmp_path,
        args={"ids_file": str(ids_file(tmp_path, [1, 2, 3, 4, 5, 37779493]))},
        settings={"RETRY_TIMES": 0},
    )
    assert_clean_finish(run)
    assert run.ids("Product") == [37779493]
    reasons = {r["id"]: r["reason"] for r in failure_records(run)}
    assert reasons == {
        1: "unexpected_shape",
        2: "unexpected_shape",
        3: "missing_id",
        4: "missing_id",
        5: "malformed_json",
    }
    messages = {r["id"]: r["message"] for r in failure_records(run)}
    assert messages[1] == (
        f"product {stub_api}/api/v2/products/1: expected a JSON object, got list"
    )


def test_category_pages_fail_with_their_reason_and_attempts(
    fresh_sim: SimProcess, truth: dict, tmp_path: Path
) -> None:
    """The products spider reads its category pages outside the scheduler
    (``engine.download_async``): their retries wait in the downloader
    middleware, and a page that fails for good is a ``listing`` failure."""
    fresh_sim.config(error_rate=1)
    errors = run_crawl(
        "products",
        fresh_sim.url,
        tmp_path / "errors",
        settings={"CATEGORIES": truth["categories"], "RETRY_TIMES": 1, "RETRY_BACKOFF_BASE": 0.05},
    )
    fresh_sim.config(error_rate=0, hang_rate=1, hang_seconds=2)
    timeouts = run_crawl(
        "products",
        fresh_sim.url,
        tmp_path / "timeouts",
        settings={
            "CATEGORIES": truth["categories"],
            "RETRY_TIMES": 1,
            "RETRY_BACKOFF_BASE": 0.05,
            "DOWNLOAD_TIMEOUT": 0.5,
        },
    )
    for run in (errors, timeouts):
        assert_clean_finish(run)
        assert run.items == []
        records = failure_records(run)
        assert sorted(r["id"] for r in records) == sorted(truth["categories"])
        assert {r["kind"] for r in records} == {"listing"}
        assert run.stats["retry/count"] == len(truth["categories"])
    assert {(r["reason"], r["attempts"]) for r in failure_records(errors)} <= {
        ("http_500", 2),
        ("http_503", 2),
    }
    assert {r["reason"] for r in failure_records(timeouts)} == {"timeout"}
