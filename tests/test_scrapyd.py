"""Production on Scrapyd, end to end: a real Scrapyd (scripts/scrapyd-start.sh
with deploy/scrapyd.conf) on a loopback port with basic auth, the project
deployed with scrapyd-deploy from a copy of the working tree, jobs against the
simulator writing into a real MongoDB wire server, the daily scheduler
(crawler/scrapyd/daily.py) firing within seconds, and a cancelled job resumed
through its JOBDIR. Outcomes are compared with the simulator's ground truth.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from helpers import ROOT, duplicates
from pymongo import MongoClient

from crawler.exceptions import DailyConfigError
from crawler.scrapyd.daily import DailyConfig, DailyRun, ScrapydApi

PROJECT = "crawler"
VERSION = "e2e"
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


# -- ground truth -----------------------------------------------------------


def valid_products(truth: dict) -> list[int]:
    return sorted(truth["products"]["valid"])


def valid_comments(truth: dict) -> list[int]:
    """The valid reviews of the valid products (comments reads the products
    collection, where only valid products are)."""
    products = set(truth["products"]["valid"])
    invalid = {int(i) for i in truth["reviews"]["invalid"]}
    return sorted(
        r
        for pid, ids in truth["reviews"]["by_product"].items()
        if int(pid) in products
        for r in ids
        if r not in invalid
    )


def feed_ids(run_dir: Path, kind: str) -> list[int]:
    return [
        orjson.loads(line)["id"]
        for path in sorted(run_dir.glob(f"{kind}-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def mongo_ids(uri: str, database: str, collection: str) -> list[int]:
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        return sorted(doc["_id"] for doc in client[database][collection].find({}, {"_id": 1}))


# -- a real Scrapyd ---------------------------------------------------------


class ScrapydServer:
    """Scrapyd started by scripts/scrapyd-start.sh in its state folder.

    Scrapyd cannot bind port 0 (``http_port = 0`` turns its HTTP server off),
    so a free port is picked and, when another process takes it before
    Scrapyd binds it, Scrapyd is started again on another one. Readiness is
    Twisted's "Site starting on <port>" line, not a sleep."""

    def __init__(self, home: Path, env: dict[str, str], username: str, password: str) -> None:
        self.home = home
        self.env = env
        self.username = username
        self.password = password
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._reader = threading.Thread()
        self.output: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, attempts: int = 5) -> ScrapydServer:
        for _ in range(attempts):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            if self._start_on(port):
                return self
            if not any("Address already in use" in line for line in self.output[-30:]):
                break
        tail = "".join(self.output[-40:])
        raise AssertionError(f"Scrapyd did not start:\n{tail}")

    def _start_on(self, port: int) -> bool:
        proc = subprocess.Popen(
            [str(ROOT / "scripts" / "scrapyd-start.sh")],
            env={**self.env, "SCRAPYD_HTTP_PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()

        def drain() -> None:  # read to the end: a full pipe would block Scrapyd
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)
                if f"Site starting on {port}" in line:
                    ready.set()
            ready.set()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        ready.wait(30)
        if proc.poll() is not None or not any(
            f"Site starting on {port}" in line for line in self.output
        ):
            self._end(proc, reader)
            return False
        self.proc, self.port, self._reader = proc, port, reader
        return True

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            self._end(proc, self._reader)

    @staticmethod
    def _end(proc: subprocess.Popen[str], reader: threading.Thread) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(10)  # the rest of the output
        assert proc.stdout is not None
        proc.stdout.close()

    # -- the API, with a client of the test's own ----------------------------

    def call(
        self,
        endpoint: str,
        params: dict[str, Any] | list[tuple[str, str]] | None = None,
        post: bool = False,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, Any]:
        """``(HTTP status, decoded JSON or the raw body)``; ``auth`` defaults
        to the server's credentials, ``("", "")`` sends none."""
        username, password = auth if auth is not None else (self.username, self.password)
        query = urllib.parse.urlencode(params or {})
        url = self.url + endpoint
        request = urllib.request.Request(
            url if post else f"{url}?{query}", data=query.encode() if post else None
        )
        if username or password:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                status, body = exc.code, exc.read()
        try:
            return status, orjson.loads(body)
        except orjson.JSONDecodeError:
            return status, body

    def ok(self, endpoint: str, params: Any = None, post: bool = False) -> Any:
        status, data = self.call(endpoint, params, post)
        assert status == 200 and isinstance(data, dict) and data["status"] == "ok", data
        return data

    def jobs(self) -> dict[str, list[dict[str, Any]]]:
        return self.ok("listjobs.json", {"project": PROJECT})  # type: ignore[no-any-return]

    def schedule(self, spider: str, jobid: str, settings: dict[str, str]) -> None:
        params = [("project", PROJECT), ("spider", spider), ("jobid", jobid)]
        params += [("setting", f"{name}={value}") for name, value in settings.items()]
        assert self.ok("schedule.json", params, post=True)["jobid"] == jobid

    def wait_finished(self, jobid: str, times: int = 1, timeout: float = 120) -> dict[str, Any]:
        """Poll listjobs.json until job ``jobid`` has finished ``times`` times
        (a job scheduled again with its id is listed once more when done)."""
        return wait_for(lambda: self._finished(jobid, times), timeout, f"job {jobid} to finish")

    def _finished(self, jobid: str, times: int) -> dict[str, Any] | None:
        jobs = self.jobs()
        if any(job["id"] == jobid for state in ("pending", "running") for job in jobs[state]):
            return None
        done = [job for job in jobs["finished"] if job["id"] == jobid]
        return done[0] if len(done) >= times else None

    def log(self, spider: str, jobid: str) -> str:
        return (self.home / "logs" / PROJECT / spider / f"{jobid}.log").read_text()

    def run_dir(self, spider: str, jobid: str) -> Path:
        return self.home / "output" / spider / jobid


def wait_for(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


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


def scheduler_config(*argv: str, **environ: str) -> DailyConfig:
    return DailyConfig.from_args(list(argv), environ)


def test_scheduler_options() -> None:
    config = scheduler_config(
        "--at",
        "02:30:15",
        "--timezone",
        "Asia/Ho_Chi_Minh",
        "--setting",
        "MONGO_DATABASE=m",
        "--setting",
        "CATEGORIES=1,2",
        SCRAPYD_URL="http://10.0.0.5:6800",
        SCRAPYD_USERNAME="ops",
        SCRAPYD_PASSWORD="s3cret",
    )
    assert (config.at.hour, config.at.minute, config.at.second) == (2, 30, 15)
    assert config.timezone == ZoneInfo("Asia/Ho_Chi_Minh")
    assert config.url == "http://10.0.0.5:6800/"
    assert config.settings == (("MONGO_DATABASE", "m"), ("CATEGORIES", "1,2"))
    assert config.spiders == ("products", "comments")
    assert "s3cret" not in repr(config)
    defaults = scheduler_config()
    assert (defaults.url, defaults.at.isoformat(), defaults.timezone.key) == (
        "http://127.0.0.1:6800/",
        "02:00:00",
        "UTC",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--setting", "MONGO_URI=mongodb://db:27017"],
            "--setting MONGO_URI: settings sent to schedule.json are shown by listjobs.json and "
            "written to Scrapyd's log; give MONGO_URI to Scrapyd's environment instead.",
        ),
        (
            ["--setting", "PROXY=http://me:pw@proxy:8080"],
            "--setting PROXY: settings sent to schedule.json are shown by listjobs.json and "
            "written to Scrapyd's log; give PROXY to Scrapyd's environment instead.",
        ),
        (["--setting", "LOG_LEVEL"], "--setting: 'LOG_LEVEL' is not NAME=VALUE."),
        (["--at", "26:00"], "--at: '26:00' is not a time of day (HH:MM or HH:MM:SS)."),
        (
            ["--timezone", "Mars/Olympus"],
            "--timezone: 'Mars/Olympus' is not an IANA time zone (e.g. UTC, Asia/Ho_Chi_Minh).",
        ),
        (["--spiders", " , "], "--spiders: name at least one spider."),
    ],
)
def test_scheduler_refuses_bad_options(argv: list[str], message: str) -> None:
    with pytest.raises(DailyConfigError) as info:
        scheduler_config(*argv)
    assert str(info.value) == message


def test_a_run_is_going_while_a_job_of_the_chain_is_pending_or_running() -> None:
    daily = DailyRun(
        scheduler_config(), ScrapydApi("http://127.0.0.1:1/", "", ""), threading.Event()
    )
    jobs = {
        "pending": [{"id": "c1", "spider": "comments"}],
        "running": [{"id": "b1", "spider": "brands"}, {"id": "p1", "spider": "products"}],
        "finished": [{"id": "p0", "spider": "products"}],
    }
    assert daily.going(jobs) == ["comments job c1 is pending", "products job p1 is running"]
    assert daily.going({"pending": [], "running": jobs["running"][:1], "finished": []}) == []


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


def test_daily_scheduler_runs_products_then_comments(
    scrapyd, sim, truth, mongo_db, tmp_path
) -> None:
    uri, database = mongo_db
    zone = ZoneInfo("Asia/Ho_Chi_Minh")
    fire_at = (datetime.now(zone) + timedelta(seconds=5)).replace(microsecond=0)
    settings = crawl_settings(sim.url, truth, database)
    argv = ["--at", fire_at.strftime("%H:%M:%S"), "--timezone", zone.key, "--poll", "0.5"]
    for name, value in settings.items():
        argv += ["--setting", f"{name}={value}"]
    log_path = tmp_path / "scheduler.log"
    with log_path.open("w") as log:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "crawler.scrapyd.daily", *argv],
            cwd=ROOT,
            env={**deploy_env(scrapyd), "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
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
