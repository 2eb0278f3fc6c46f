"""Production on Scrapyd, end to end: a real Scrapyd (scripts/scrapyd-start.sh
with deploy/scrapyd.conf) on a loopback port with basic auth, the project
deployed with scrapyd-deploy from a copy of the working tree, jobs against the
simulator writing into a real MongoDB wire server, the daily scheduler
(crawler/scrapyd/daily.py) firing within seconds, and a cancelled job resumed
through its JOBDIR. Outcomes are compared with the simulator's ground truth.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from pymongo import MongoClient

from tests.support.crawl import duplicates
from tests.support.paths import ROOT
from tests.support.scrapyd import PROJECT, ScrapydServer, wait_for
from tests.support.truth import valid_comments, valid_products

VERSION = "e2e"
#: how long a request hangs while the simulator holds a job (< DOWNLOAD_TIMEOUT)
HOLD_SECONDS = 3
#: the crawler's own environment variables: the tests pass what they mean to
CRAWLER_ENV = (
    "MARKETPLACE_URL",
    "CATEGORIES",
    "CRAWLER_OUTPUT_DIR",
    "LOG_LEVEL",
    "MONGO_DATABASE",
    "MONGO_URI",
    "SCRAPY_SETTINGS_MODULE",
)


# -- what the jobs wrote ------------------------------------------------------


def feed_ids(run_dir: Path, kind: str) -> list[int]:
    return [
        orjson.loads(line)["id"]
        for path in sorted(run_dir.glob(f"{kind}-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def mongo_ids(uri: str, database: str, collection: str) -> list[int]:
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        return sorted(doc["_id"] for doc in client[database][collection].find({}, {"_id": 1}))


# -- fixtures -----------------------------------------------------------------


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The working tree as a clean checkout would have it: tracked and new
    files, not the ignored ones (.venv, output, build, caches)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    target = tmp_path_factory.mktemp("checkout")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def deploy_env(server: ScrapydServer | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CRAWLER_ENV}
    if server is not None:
        env.update(
            SCRAPYD_URL=server.url.rstrip("/"),
            SCRAPYD_USERNAME=server.username,
            SCRAPYD_PASSWORD=server.password,
        )
    return env


@pytest.fixture(scope="module")
def egg(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("egg") / "crawler.egg"
    proc = subprocess.run(
        [sys.executable, "-m", "scrapyd_client.deploy", "--build-egg", str(path)],
        cwd=checkout,
        env=deploy_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture(scope="module")
def scrapyd(
    checkout: Path, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScrapydServer]:
    """Scrapyd with auth and MONGO_URI in its environment, the project deployed."""
    home = tmp_path_factory.mktemp("scrapyd-home")
    username, password = "crawler-ops", secrets.token_urlsafe(16)
    env = {
        **deploy_env(),
        "SCRAPYD_HOME": str(home),
        "SCRAPYD_USERNAME": username,
        "SCRAPYD_PASSWORD": password,
        "MONGO_URI": mongo_uri,
        "PYTHON": sys.executable,
        "PYTHONUNBUFFERED": "1",
    }
    server = ScrapydServer(home, env, username, password).start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "scrapyd_client.deploy", "env", "--version", VERSION],
            cwd=checkout,
            env=deploy_env(server),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        deployed = orjson.loads(proc.stdout.strip().splitlines()[-1])
        assert (deployed["status"], deployed["project"], deployed["version"]) == (
            "ok",
            PROJECT,
            VERSION,
        )
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def database(mongo_uri: str) -> Iterator[str]:
    """A MongoDB database for this module's products job."""
    name = f"test_scrapyd_{uuid.uuid4().hex[:8]}"
    yield name
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


def crawl_settings(url: str, truth: dict, database: str) -> dict[str, str]:
    """What schedule.json passes as setting=NAME=VALUE: no credentials."""
    return {
        "MARKETPLACE_URL": url,
        "CATEGORIES": ",".join(map(str, truth["categories"])),
        "MONGO_DATABASE": database,
    }


@pytest.fixture(scope="module")
def products_job(scrapyd: ScrapydServer, sim, truth, database) -> dict[str, Any]:
    jobid = "products-once"
    scrapyd.schedule("products", jobid, crawl_settings(sim.url, truth, database))
    return scrapyd.wait_finished(jobid)


# -- configuration, without a server ----------------------------------------


def test_the_start_script_refuses_to_run_without_credentials(tmp_path) -> None:
    env = {**deploy_env(), "SCRAPYD_HOME": str(tmp_path / "home"), "PYTHON": sys.executable}
    env.pop("SCRAPYD_USERNAME", None)
    env.pop("SCRAPYD_PASSWORD", None)
    proc = subprocess.run(
        [str(ROOT / "scripts" / "scrapyd-start.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "scrapyd-start: set SCRAPYD_USERNAME and SCRAPYD_PASSWORD; "
        "without them Scrapyd would accept anyone's requests."
    )
    assert not (tmp_path / "home").exists()


def test_the_start_script_refuses_a_home_inside_a_scrapy_project(checkout) -> None:
    env = {
        **deploy_env(),
        "SCRAPYD_HOME": str(checkout / "var" / "scrapyd"),
        "SCRAPYD_USERNAME": "u",
        "SCRAPYD_PASSWORD": "p",
        "PYTHON": sys.executable,
    }
    proc = subprocess.run(
        [str(ROOT / "scripts" / "scrapyd-start.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert f"is below {checkout}/scrapy.cfg" in proc.stderr


def test_egg_holds_the_crawler_package_and_production_settings(egg) -> None:
    with zipfile.ZipFile(egg) as archive:
        names = archive.namelist()
        entry_points = archive.read("EGG-INFO/entry_points.txt").decode()
    assert {name.split("/")[0] for name in names} == {"crawler", "EGG-INFO"}
    assert "crawler/spiders/products.py" in names
    assert "crawler/scrapyd/settings.py" in names
    assert entry_points.split() == ["[scrapy]", "settings", "=", "crawler.scrapyd.settings"]


# -- Scrapyd ------------------------------------------------------------------


def test_anonymous_and_wrong_credentials_are_refused(scrapyd) -> None:
    for auth in (("", ""), (scrapyd.username, "wrong")):
        assert scrapyd.call("daemonstatus.json", auth=auth)[0] == 401
        assert scrapyd.call("listjobs.json", {"project": PROJECT}, auth=auth)[0] == 401
        status, _ = scrapyd.call(
            "schedule.json", {"project": PROJECT, "spider": "products"}, post=True, auth=auth
        )
        assert status == 401
    assert scrapyd.jobs()["pending"] == []  # nothing was scheduled
    assert scrapyd.ok("daemonstatus.json")["status"] == "ok"


def test_deployed_project_lists_the_spiders(scrapyd) -> None:
    assert scrapyd.ok("listprojects.json")["projects"] == [PROJECT]
    assert scrapyd.ok("listversions.json", {"project": PROJECT})["versions"] == [VERSION]
    spiders = scrapyd.ok("listspiders.json", {"project": PROJECT})["spiders"]
    assert {"brands", "products", "comments"} <= set(spiders)


def test_products_job_equals_ground_truth(
    scrapyd, products_job, truth, mongo_uri, database
) -> None:
    run_dir = scrapyd.run_dir("products", "products-once")
    ids = feed_ids(run_dir, "products")
    assert duplicates(ids) == []
    assert sorted(ids) == valid_products(truth)
    assert mongo_ids(mongo_uri, database, "products") == valid_products(truth)
    lines = (run_dir / "failures.jsonl").read_bytes().splitlines()
    failures = [orjson.loads(line) for line in lines]
    assert sorted(f["id"] for f in failures) == sorted(truth["products"]["not_found"])
    # Scrapyd's folders, one per job: the JOBDIR and the log
    jobdir = scrapyd.home / "jobs" / PROJECT / "products" / "products-once"
    assert (jobdir / "requests.seen").is_file()
    assert products_job["log_url"] == "/logs/crawler/products/products-once.log"


def test_job_log_is_info_without_consoles(scrapyd, products_job) -> None:
    log = scrapyd.log("products", "products-once")
    assert "[scrapy.core.engine] INFO: Spider closed (finished)" in log
    assert re.search(r"\] DEBUG: ", log) is None
    assert "Telnet console listening" not in log
    assert "Remote control HTTP server listening" not in log
    extensions = log.split("Enabled extensions:", 1)[1].split("]", 1)[0]
    assert "TelnetConsole" not in extensions and "RemoteControl" not in extensions
    # served by Scrapyd's web interface too, behind the same auth
    status, body = scrapyd.call(products_job["log_url"].lstrip("/"))
    assert status == 200 and body.decode() == log
    assert scrapyd.call(products_job["log_url"].lstrip("/"), auth=("", ""))[0] == 401


def test_credentials_stay_out_of_scrapyd_logs_and_listings(
    scrapyd, products_job, mongo_uri
) -> None:
    listing = orjson.dumps(scrapyd.jobs()).decode()
    scrapyd_log = "".join(scrapyd.output)
    job_log = scrapyd.log("products", "products-once")
    assert scrapyd.password not in scrapyd_log + job_log + listing
    # MONGO_URI reached the crawl through Scrapyd's environment, not its arguments
    assert "MONGO_URI" not in scrapyd_log + listing
    assert mongo_uri not in scrapyd_log + listing


def start_daily_scheduler(
    scrapyd: ScrapydServer, settings: dict[str, str], log_path: Path
) -> tuple[subprocess.Popen[str], datetime]:
    """The daily scheduler (its output in ``log_path``), firing 5 s after it
    was started, and when it fires. The time is fixed before the process
    starts; one that comes up too late fires tomorrow, as its "next run at"
    line says: it is stopped, and started again with a later time."""
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    for _ in range(5):
        fire_at = (datetime.now(zone) + timedelta(seconds=5)).replace(microsecond=0)
        argv = ["--at", fire_at.strftime("%H:%M:%S"), "--timezone", zone.key, "--poll", "0.5"]
        for name, value in settings.items():
            argv += ["--setting", f"{name}={value}"]
        with log_path.open("w") as log:
            scheduler = subprocess.Popen(
                [sys.executable, "-m", "crawler.scrapyd.daily", *argv],
                cwd=ROOT,
                env={**deploy_env(scrapyd), "PYTHONPATH": str(ROOT)},
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        started = wait_for(
            lambda: re.search(r"; next run at (.+)\.$", log_path.read_text(), re.MULTILINE),
            timeout=60,
            what="the daily scheduler to start",
        )
        if started[1] == str(fire_at):
            return scheduler, fire_at
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=30)
    output = log_path.read_text()
    raise AssertionError(f"the daily scheduler never came up before its time:\n{output}")


def test_daily_scheduler_runs_products_then_comments(
    scrapyd, sim, truth, mongo_db, tmp_path
) -> None:
    uri, database = mongo_db
    settings = crawl_settings(sim.url, truth, database)
    log_path = tmp_path / "scheduler.log"
    scheduler, fire_at = start_daily_scheduler(scrapyd, settings, log_path)
    try:
        comments = wait_for(
            lambda: [j for j in scrapyd.jobs()["finished"] if j["spider"] == "comments"],
            timeout=120,
            what="the scheduled comments job to finish",
            interval=0.5,
        )
    finally:
        scheduler.send_signal(signal.SIGTERM)
        returncode = scheduler.wait(timeout=30)
    output = log_path.read_text()
    assert returncode == 0, output
    (comments_job,) = comments
    stamp = comments_job["id"].removeprefix("comments-")
    fired = datetime.strptime(stamp, "%Y-%m-%dT%H-%M-%SZ").replace(tzinfo=ZoneInfo("UTC"))
    assert timedelta(0) <= fired - fire_at < timedelta(seconds=3)
    (products_job,) = [j for j in scrapyd.jobs()["finished"] if j["id"] == f"products-{stamp}"]
    assert products_job["end_time"] <= comments_job["start_time"]  # one after the other
    assert f"Scheduled products job products-{stamp}" in output
    assert f"Scheduled comments job comments-{stamp}" in output
    # MONGO_URI from Scrapyd's environment, MONGO_DATABASE and the rest from --setting
    assert mongo_ids(uri, database, "products") == valid_products(truth)
    assert mongo_ids(uri, database, "comments") == valid_comments(truth)
    comment_ids = feed_ids(scrapyd.run_dir("comments", comments_job["id"]), "comments")
    assert duplicates(comment_ids) == []
    assert sorted(comment_ids) == valid_comments(truth)


def test_cancelled_job_resumes_with_its_jobid(scrapyd, sim_factory, mongo_db) -> None:
    uri, database = mongo_db
    slow = sim_factory(size="tiny", seed=1, latency_ms=500)
    truth = slow.truth()
    listed = len(truth["products"]["listed"])
    jobid = "products-resumed"
    settings = crawl_settings(slow.url, truth, database)
    scrapyd.schedule("products", jobid, settings)
    wait_for(lambda: slow.stats()["by_kind"]["product"] >= 40, 60, "40 product requests")
    # the simulator holds the job: every request hangs (answered once, well
    # within DOWNLOAD_TIMEOUT), so the job is still running when it is
    # looked at and cancelled, however slow the machine
    slow.config(hang_rate=1, hang_seconds=HOLD_SECONDS)

    # the daily chain does not start while this products job runs
    once = subprocess.run(
        [sys.executable, "-m", "crawler.scrapyd.daily", "--once"],
        cwd=ROOT,
        env={**deploy_env(scrapyd), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode == 3, once.stderr
    assert f"Skipping this run of products, comments: products job {jobid} is running." in (
        once.stderr
    )
    jobs = scrapyd.jobs()
    assert jobs["pending"] == [] and [j["id"] for j in jobs["running"]] == [jobid]

    assert (
        scrapyd.ok("cancel.json", {"project": PROJECT, "job": jobid}, post=True)["prevstate"]
        == "running"
    )
    slow.config(hang_rate=0)  # the requests hanging are answered; the job stops
    scrapyd.wait_finished(jobid)
    first = slow.stats()["by_kind"]["product"]
    assert first < listed  # cut short
    assert "INFO: Closing spider (shutdown)" in scrapyd.log("products", jobid)

    slow.config(latency_ms=0)
    scrapyd.schedule("products", jobid, settings)  # the same jobid: the same JOBDIR
    scrapyd.wait_finished(jobid, times=2)
    stats = slow.stats()
    second = stats["by_kind"]["product"] - first
    # every listed product fetched once in all: the second part went on from
    # where the first stopped
    assert stats["product_refetched"] == {}
    assert first + second == listed and 0 < second < listed
    log = scrapyd.log("products", jobid)
    # Scrapy's JOBDIR says "Resuming crawl", crawler.resume "Resuming job"
    assert re.search(r"\] INFO: Resuming (crawl|job) ", log)
    assert log.count("INFO: Spider opened") == 2  # one log file, both parts
    ids = feed_ids(scrapyd.run_dir("products", jobid), "products")
    assert duplicates(ids) == []
    assert sorted(ids) == valid_products(truth)
    assert mongo_ids(uri, database, "products") == valid_products(truth)


def test_job_history_survives_a_restart(scrapyd, products_job) -> None:
    before = [(j["id"], j["spider"], j["end_time"]) for j in scrapyd.jobs()["finished"]]
    assert ("products-once", "products", products_job["end_time"]) in before
    scrapyd.stop()
    scrapyd.start()
    after = [(j["id"], j["spider"], j["end_time"]) for j in scrapyd.jobs()["finished"]]
    assert after == before
    assert scrapyd.ok("listversions.json", {"project": PROJECT})["versions"] == [VERSION]
