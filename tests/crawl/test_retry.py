"""BackoffRetryMiddleware and failure records in small real crawls against the simulator
(and, for bodies of an unexpected shape, a stub API server on 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from sim.testing import SimProcess
from tests.support.crawl import CrawlResult, run_crawl
from tests.support.paths import ROOT

JSON = {"Content-Type": "application/json; charset=utf-8"}


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
