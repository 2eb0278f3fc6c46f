"""The dashboard spider driving Debian's Chromium against the simulated dashboard.

Every test runs a real crawl in a child process (tests/support/crawl_runner.py, or the
``scrapy crawl`` command where the exit status and the log are the point) and
compares the rows with the simulator's ground truth, ``/_sim/truth/dashboard``.
The ``chromium`` fixture installs the browser when it is missing.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import MongoClient

from crawler.commands.crawl import exit_status
from sim.testing import SimProcess
from tests.support.crawl import run_crawl
from tests.support.paths import ROOT

CHROMIUM = Path("/usr/bin/chromium")
USER, PASSWORD = "seller-analyst", "pw-never-in-any-log-7f3"
MONTH = {"report": "orders", "start": "2026-08-01", "end": "2026-08-31", "chunk_days": "3"}
FAILING = "orders:2026-08-07..2026-08-09"

pytestmark = pytest.mark.usefixtures("chromium", "credentials")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed by scripts/install-chromium.sh when missing."""
    if not os.access(CHROMIUM, os.X_OK):
        proc = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-chromium.sh")],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if proc.returncode != 0:
            pytest.fail(f"scripts/install-chromium.sh failed:\n{proc.stdout}\n{proc.stderr}")
    return CHROMIUM


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dashboard's credentials in the environment (the crawls inherit it)."""
    monkeypatch.setenv("DASHBOARD_USERNAME", USER)
    monkeypatch.setenv("DASHBOARD_PASSWORD", PASSWORD)


def dashboard(sim_factory: Any, **knobs: object) -> SimProcess:
    """A simulator whose dashboard answers fast and knows USER/PASSWORD."""
    flags = {
        "size": "tiny",
        "seed": 1,
        "dashboard_user": USER,
        "dashboard_password": PASSWORD,
        "dashboard_render_delay_ms": 20,
        **knobs,
    }
    return sim_factory(**flags)  # type: ignore[no-any-return]


def truth(sim: SimProcess, report: str, start: str, end: str) -> dict[str, Any]:
    """``{item key: {"day", "values"}}`` of the simulator's rows for the range."""
    body = sim.get("/_sim/truth/dashboard", report=report, start=start, end=end).json()
    return {
        f"{report}:{row['key']}": {"day": row["day"], "values": row["values"]}
        for row in body["rows"]
    }


def rows(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The same shape from items or feed records (dates as ISO strings)."""
    return {r["key"]: {"day": str(r["day"]), "values": r["values"]} for r in records}


def same(got: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Equal as JSON, so that an int is not a float and a date not a string."""
    option = orjson.OPT_SORT_KEYS
    return orjson.dumps(got, option=option) == orjson.dumps(expected, option=option)


def sim_stats(sim: SimProcess) -> dict[str, int]:
    return sim.get("/_sim/dashboard/stats").json()  # type: ignore[no-any-return]


def cli(
    sim: SimProcess, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scrapy crawl dashboard`` as a user runs it."""
    command = [sys.executable, "-m", "scrapy", "crawl", "dashboard"]
    for arg in args:
        command += ["-a", arg]
    command += ["-s", f"MARKETPLACE_URL={sim.url}", "-s", f"OUTPUT_DIR={tmp_path / 'output'}"]
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**(env or os.environ), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_a_month_in_three_day_chunks_equals_the_truth(
    sim_factory: Any, tmp_path: Path, mongo_db: tuple[str, str]
) -> None:
    sim = dashboard(sim_factory)
    expected = truth(sim, "orders", "2026-08-01", "2026-08-31")
    uri, database = mongo_db
    result = run_crawl(
        "dashboard",
        sim.url,
        tmp_path,
        MONTH,
        settings={
            "LOG_LEVEL": "DEBUG",
            "MONGO_URI": uri,
            "MONGO_DATABASE": database,
        },
    )

    assert same(rows(result.items), expected)
    assert same(rows(result.feed_records("dashboard", "dashboard")), expected)
    with MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True) as client:
        docs = list(client[database]["dashboard_rows"].find())
    stored = {d["_id"]: {"day": d["day"].date().isoformat(), "values": d["values"]} for d in docs}
    assert same(stored, expected)

    stats = result.stats
    served = sim_stats(sim)
    assert stats["finish_reason"] == "finished"
    assert exit_status(stats) == 0
    assert stats["dashboard/logins"] == served["logins"] == 1
    assert stats["dashboard/chunks/done"] == 11
    assert stats["dashboard/rows"] == stats["items/stored/dashboardrow"] == len(expected) == 202
    assert stats["dashboard/table_pages"] == served["table_loads"] == 24
    assert "failures/count" not in stats and "dashboard/sessions_expired" not in stats
    # one page at a time, each closed: the login page and one per chunk
    assert stats["playwright/page_count"] == 12
    assert stats["playwright/page_count/max_concurrent"] == 1
    # the logo and the web font of the sign-in page and of the page after it,
    # and the logo, font and video of each report page: never downloaded
    assert stats["playwright/request_count/aborted"] == 2 + 2 + 3 * 11
    assert served["static_requests"] == 0
    # the credentials are in no log line (DEBUG) and no file of the run
    assert PASSWORD not in result.stderr and USER not in result.stderr
    for path in files_under(result.output_dir):
        assert PASSWORD.encode() not in path.read_bytes(), path


def test_parallel_pages_read_the_same_rows(sim_factory: Any, tmp_path: Path) -> None:
    sim = dashboard(sim_factory, dashboard_render_delay_ms=100)
    expected = truth(sim, "traffic", "2026-08-01", "2026-08-31")
    args = {**MONTH, "report": "traffic", "parallel": "3"}
    result = run_crawl("dashboard", sim.url, tmp_path, args)
    assert same(rows(result.items), expected)
    assert result.stats["dashboard/chunks/done"] == 11
    assert result.stats["dashboard/logins"] == 1
    assert result.stats["playwright/page_count/max_concurrent"] == 3


def test_a_wrong_password_is_one_clear_error_and_nothing_stored(
    sim_factory: Any, tmp_path: Path, mongo_db: tuple[str, str]
) -> None:
    sim = dashboard(sim_factory)
    uri, database = mongo_db
    env = {**os.environ, "DASHBOARD_PASSWORD": "wrong-" + PASSWORD, "MONGO_URI": uri}
    proc = cli(
        sim,
        tmp_path,
        *(f"{k}={v}" for k, v in MONTH.items()),
        "run_id=wrong",
        env={**env, "MONGO_DATABASE": database},
    )

    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if " ERROR: " in line]
    assert errors[0].endswith(
        f"[crawler.spiders.dashboard] ERROR: Dashboard sign-in refused at {sim.url}/dashboard/"
        "login: 'Invalid username or password.'. Check DASHBOARD_USERNAME and DASHBOARD_PASSWORD."
    )
    # the only other ERROR is the run report's verdict
    assert len(errors) == 2 and "Run dashboard/wrong is broken" in errors[1]
    assert "'finish_reason': 'login_failed'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert PASSWORD not in proc.stderr and USER not in proc.stderr
    assert not list((tmp_path / "output").rglob("dashboard-*.jsonl"))
    assert not list((tmp_path / "output").rglob("failures.jsonl"))
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        assert client[database]["dashboard_rows"].count_documents({}) == 0
    served = sim_stats(sim)
    assert (served["logins"], served["logins_failed"], served["table_loads"]) == (0, 1, 0)


def test_missing_credentials_stop_before_any_request(sim_factory: Any, tmp_path: Path) -> None:
    sim = dashboard(sim_factory)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHBOARD_")}
    proc = cli(sim, tmp_path, *(f"{k}={v}" for k, v in MONTH.items()), env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: DASHBOARD_USERNAME and DASHBOARD_PASSWORD must be set in the environment: "
        "the dashboard's credentials come from environment variables only."
    )
    assert "Traceback" not in proc.stderr and "Spider opened" not in proc.stderr
    assert sim_stats(sim)["logins_failed"] == 0


def test_a_session_that_expires_mid_run_is_renewed(sim_factory: Any, tmp_path: Path) -> None:
    # the session dies after 5 table loads: several times in the month
    sim = dashboard(sim_factory, dashboard_session_loads=5)
    expected = truth(sim, "orders", "2026-08-01", "2026-08-31")
    result = run_crawl("dashboard", sim.url, tmp_path, MONTH)
    assert same(rows(result.items), expected)
    stats, served = result.stats, sim_stats(sim)
    expired = stats["dashboard/sessions_expired"]
    assert expired >= 4
    assert expired == served["sessions_expired"]
    assert stats["dashboard/logins"] == served["logins"] == 1 + expired
    assert stats["dashboard/chunks/done"] == 11
    assert "failures/count" not in stats


def test_a_session_that_times_out_is_renewed(sim_factory: Any, tmp_path: Path) -> None:
    sim = dashboard(sim_factory, dashboard_session_seconds=1, dashboard_render_delay_ms=150)
    expected = truth(sim, "orders", "2026-08-01", "2026-08-07")
    args = {"report": "orders", "start": "2026-08-01", "end": "2026-08-07", "chunk_days": "1"}
    result = run_crawl("dashboard", sim.url, tmp_path, args)
    assert same(rows(result.items), expected)
    stats, served = result.stats, sim_stats(sim)
    assert stats["dashboard/sessions_expired"] >= 1
    assert stats["dashboard/logins"] == served["logins"] == 1 + served["sessions_expired"]
    assert "failures/count" not in stats


def test_a_table_that_fails_to_load_is_retried(sim_factory: Any, tmp_path: Path) -> None:
    sim = dashboard(sim_factory, dashboard_fail_every=4)
    expected = truth(sim, "orders", "2026-08-01", "2026-08-31")
    result = run_crawl("dashboard", sim.url, tmp_path, MONTH)
    assert same(rows(result.items), expected)
    stats, served = result.stats, sim_stats(sim)
    assert served["table_failed"] >= 5
    assert stats["dashboard/table_errors/error"] == served["table_failed"]
    assert stats["dashboard/table_retries"] == served["table_failed"]
    assert stats["dashboard/table_pages"] + served["table_failed"] == served["table_loads"]
    assert "failures/count" not in stats
    assert exit_status(stats) == 0


def test_a_table_that_keeps_failing_is_reported_then_retried(
    sim_factory: Any, tmp_path: Path
) -> None:
    sim = dashboard(sim_factory, dashboard_fail_days=["2026-08-08"])
    month = truth(sim, "orders", "2026-08-01", "2026-08-31")
    lost = truth(sim, "orders", "2026-08-07", "2026-08-09")
    result = run_crawl("dashboard", sim.url, tmp_path / "first", {**MONTH, "run_id": "first"})

    assert same(rows(result.items), {k: v for k, v in month.items() if k not in lost})
    stats = result.stats
    assert stats["dashboard/chunks/done"] == 10
    assert stats["dashboard/chunks/failed"] == stats["failures/count"] == 1
    assert stats["failures/dashboard_chunk/table_error"] == 1
    assert stats["dashboard/table_errors/error"] == 3  # the first try and 2 retries
    assert stats["dashboard/table_retries"] == 2
    assert exit_status(stats) == 1

    run = result.output_dir / "dashboard" / "first"
    [record] = [orjson.loads(line) for line in (run / "failures.jsonl").read_bytes().splitlines()]
    assert {k: record[k] for k in ("kind", "id", "url", "reason", "message", "attempts")} == {
        "kind": "dashboard_chunk",
        "id": FAILING,
        "url": f"{sim.url}/dashboard/reports/orders",
        "reason": "table_error",
        "message": f"{FAILING}: table page 1: The report could not be loaded (HTTP 500). "
        "Try again.",
        "attempts": 3,
    }
    # what the page looked like when the chunk was given up
    stem = "orders_2026-08-07..2026-08-09"
    assert sorted(p.name for p in (run / "debug").iterdir()) == [f"{stem}.html", f"{stem}.png"]
    assert (run / "debug" / f"{stem}.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert 'data-state="error"' in (run / "debug" / f"{stem}.html").read_text(encoding="utf-8")

    # the dashboard is fixed (POST /_sim/config takes the dashboard's knobs):
    # a retry run reads the failed chunk from the failures file
    sim.config(dashboard_fail_days=[])
    retry = run_crawl(
        "dashboard", sim.url, tmp_path / "retry", {"chunks_file": str(run / "failures.jsonl")}
    )
    assert same(rows(retry.items), lost)
    assert retry.stats["dashboard/chunks/done"] == 1
    assert exit_status(retry.stats) == 0
    assert same(rows(result.items) | rows(retry.items), month)


def test_a_report_page_that_does_not_open_is_reported(sim_factory: Any, tmp_path: Path) -> None:
    # two chunks whose page answers 503, then one that works: with one page
    # at a time, the last chunk is read only if the errback closed the pages
    sim = dashboard(sim_factory, dashboard_down_reports=["traffic"])
    chunks = tmp_path / "chunks.jsonl"
    ids = [
        "traffic:2026-08-01..2026-08-02",
        "traffic:2026-08-03..2026-08-03",
        "orders:2026-08-01..2026-08-02",
    ]
    chunks.write_bytes(
        b"".join(orjson.dumps({"kind": "dashboard_chunk", "id": i}) + b"\n" for i in ids)
    )
    result = run_crawl(
        "dashboard",
        sim.url,
        tmp_path,
        {"chunks_file": str(chunks), "run_id": "down"},
        settings={"RETRY_TIMES": 2, "RETRY_BACKOFF_BASE": 0.05},
    )
    assert same(rows(result.items), truth(sim, "orders", "2026-08-01", "2026-08-02"))
    stats = result.stats
    assert stats["dashboard/chunks/done"] == 1
    assert stats["failures/dashboard_chunk/http_503"] == stats["failures/count"] == 2
    assert stats["retry/count"] == stats["retry/reason_count/http_503"] == 4  # 2 per chunk
    assert sim_stats(sim)["report_pages_down"] == 6
    run = result.output_dir / "dashboard" / "down"
    failed = [orjson.loads(line) for line in (run / "failures.jsonl").read_bytes().splitlines()]
    assert [(r["id"], r["reason"], r["attempts"]) for r in failed] == [
        (ids[0], "http_503", 3),
        (ids[1], "http_503", 3),
    ]
    assert sorted(p.name for p in (run / "debug").iterdir()) == [
        "traffic_2026-08-01..2026-08-02.html",
        "traffic_2026-08-01..2026-08-02.png",
        "traffic_2026-08-03..2026-08-03.html",
        "traffic_2026-08-03..2026-08-03.png",
    ]


def test_an_unreachable_dashboard_is_one_clear_error(tmp_path: Path) -> None:
    # a port bound and never listened on: connections are refused, and no
    # other process can take the port while the test holds it
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        result = run_crawl("dashboard", url, tmp_path, MONTH)
    assert result.stats["finish_reason"] == "dashboard_unreachable"
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 2 and "Run dashboard/" in errors[1]  # and the run report's verdict
    assert errors[0].endswith(
        f"[crawler.spiders.dashboard] ERROR: Dashboard sign-in page {url}/dashboard/login "
        f"cannot be opened: Page.goto: net::ERR_CONNECTION_REFUSED at {url}/dashboard/login"
    )
    assert "Traceback" not in result.stderr
    assert result.items == []


def test_a_table_that_never_renders_is_reported(sim_factory: Any, tmp_path: Path) -> None:
    # the table answers after 10 s, long after the spider's waits of 0.4 s
    # (three of them) even on a loaded machine, where the page may load slowly
    sim = dashboard(sim_factory, dashboard_render_delay_ms=10_000)
    args = {"report": "orders", "start": "2026-08-01", "end": "2026-08-01", "run_id": "slow"}
    result = run_crawl(
        "dashboard", sim.url, tmp_path, args, settings={"DASHBOARD_TABLE_TIMEOUT": 0.4}
    )
    assert result.items == []
    stats = result.stats
    assert stats["dashboard/table_errors/timeout"] == 3
    assert stats["dashboard/table_retries"] == 2
    assert stats["failures/dashboard_chunk/table_timeout"] == stats["failures/count"] == 1
    run = result.output_dir / "dashboard" / "slow"
    [record] = [orjson.loads(line) for line in (run / "failures.jsonl").read_bytes().splitlines()]
    assert (record["id"], record["attempts"], record["message"]) == (
        "orders:2026-08-01..2026-08-01",
        3,
        "orders:2026-08-01..2026-08-01: the table did not render within 0.4 s, 3 times",
    )
