"""``scrapy doctor`` (crawler/commands/doctor.py) against each dependency up
and down: the simulator, a MongoDB wire server (with and without
authentication), Redis, Scrapyd, Chromium and the output folder. Real servers
on 127.0.0.1; the command as users run it, in a child process."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient, MongoClient

from crawler.mongo.collections import ensure_collections
from crawler.redact import redact_url
from sim.testing import SimProcess
from tests.support.paths import ROOT
from tests.support.scrapyd import ScrapydServer
from tests.support.servers import MongoServer, RedisServer
from tests.support.truth import categories

#: variables of the developer's shell that would change what is checked
OWN_ENV = ("MONGO_URI", "MONGO_DATABASE", "REDIS_URL", "DISTRIBUTED", "SCRAPYD_URL")


class Doctor:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        self.lines = stdout.splitlines()

    def line(self, start: str) -> str:
        """The one line whose check starts with ``start`` (after ok / problem)."""
        (found,) = [line for line in self.lines if line[9:].startswith(start)]
        return found


def doctor(env: dict[str, str], *args: str) -> Doctor:
    environ = {k: v for k, v in os.environ.items() if k not in OWN_ENV}
    environ.update(PYTHONPATH=str(ROOT), **env)
    done = subprocess.run(
        [sys.executable, "-m", "scrapy", "doctor", "--timeout", "3", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Doctor(done.returncode, done.stdout, done.stderr)


async def set_up(uri: str, database: str) -> list[str]:
    async with AsyncMongoClient(uri) as client:
        return await ensure_collections(client[database])


@pytest.fixture
def base_env(sim: SimProcess, truth: dict, tmp_path: Path) -> dict[str, str]:
    return {
        "MARKETPLACE_URL": sim.url,
        "CATEGORIES": categories(truth),
        "CRAWLER_OUTPUT_DIR": str(tmp_path / "output"),
    }


def test_all_fine(base_env: dict[str, str], mongo_db: tuple[str, str], redis_db: str) -> None:
    uri, database = mongo_db
    assert asyncio.run(set_up(uri, database)) == []  # what a crawl's start does
    env = {**base_env, "MONGO_URI": uri, "MONGO_DATABASE": database}
    result = doctor({**env, "REDIS_URL": redis_db, "DISTRIBUTED": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(line.startswith("ok ") for line in result.lines), result.stdout
    assert result.line("settings").endswith("valid.")
    assert "answers a listing request with JSON" in result.line("MARKETPLACE_URL")
    mongo = [line for line in result.lines if "MongoDB" in line]
    assert [line.split(": ", 1)[1] for line in mongo] == [
        "reachable and authenticated.",
        "the user may write.",
        "validators and indexes in place.",
    ]
    assert result.line("Redis").endswith("reachable.")
    assert "launches headless" in result.line("Chromium")
    assert result.stderr == ""


def test_validators_missing(base_env: dict[str, str], mongo_db: tuple[str, str]) -> None:
    uri, database = mongo_db  # a fresh database: no crawl has set it up
    result = doctor({**base_env, "MONGO_URI": uri, "MONGO_DATABASE": database}, "--no-browser")
    assert result.returncode == 1
    line = result.line(f"MongoDB {redact_url(uri, path=False)}/{database}: missing")
    assert line.startswith("problem ")
    assert "the validator of brands" in line and "a crawl with MONGO_URI set creates them" in line


def test_simulator_stopped(
    sim_factory: Callable[..., SimProcess], base_env: dict[str, str]
) -> None:
    stopped = sim_factory(size="tiny", seed=1)
    url = stopped.url
    stopped.stop()
    result = doctor({**base_env, "MARKETPLACE_URL": url}, "--no-browser")
    assert result.returncode == 1
    line = result.line(f"MARKETPLACE_URL {url}: cannot be reached")
    assert line.startswith("problem ") and line.endswith(
        "check MARKETPLACE_URL and that the site is up."
    )
    assert result.line("settings").startswith("ok")


def test_not_json(sim_factory: Callable[..., SimProcess], base_env: dict[str, str]) -> None:
    broken = sim_factory(size="tiny", seed=1, malformed_rate=1.0)  # every body cut short
    result = doctor({**base_env, "MARKETPLACE_URL": broken.url}, "--no-browser")
    assert result.returncode == 1
    line = result.line(f"MARKETPLACE_URL {broken.url}")
    assert line.startswith("problem ") and "answered something other than JSON" in line


def test_mongo_stopped(mongo_factory: Callable[[], MongoServer], base_env: dict[str, str]) -> None:
    server = mongo_factory()
    uri = server.uri
    server.kill()
    result = doctor({**base_env, "MONGO_URI": uri}, "--no-browser")
    assert result.returncode == 1
    line = result.line(f"MongoDB {uri}/marketplace")
    assert line.startswith("problem ") and "not reachable within 3 s" in line
    assert line.endswith("start the server or fix MONGO_URI.")


class AuthMongoServer(MongoServer):
    """secantusd-py with SCRAM authentication on."""

    def argv(self, port: int) -> list[str]:
        return [*super().argv(port), "--auth"]


@pytest.fixture
def auth_mongo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(uri without credentials, password)`` of a server with a user ``crawler``."""
    storage = tmp_path / "mongo-auth"
    password = secrets.token_urlsafe(12)
    plain = MongoServer(storage).start()
    with MongoClient(plain.uri) as client:
        client.admin.command(
            "createUser", "crawler", pwd=password, roles=[{"role": "root", "db": "admin"}]
        )
    plain.stop()
    server = AuthMongoServer(storage).start()
    try:
        yield server.uri, password
    finally:
        server.kill()


def test_mongo_credentials(auth_mongo: tuple[str, str], base_env: dict[str, str]) -> None:
    uri, password = auth_mongo
    host = uri.removeprefix("mongodb://")
    good = doctor({**base_env, "MONGO_URI": f"mongodb://crawler:{password}@{host}"}, "--no-browser")
    where = f"MongoDB mongodb://crawler:***@{host}/marketplace: "
    assert [line for line in good.lines if "MongoDB" in line][:2] == [
        f"ok       {where}reachable and authenticated.",
        f"ok       {where}the user may write.",
    ]
    wrong = "not-" + password
    bad = doctor({**base_env, "MONGO_URI": f"mongodb://crawler:{wrong}@{host}"}, "--no-browser")
    assert bad.returncode == 1
    line = bad.line(f"MongoDB mongodb://crawler:***@{host}/marketplace")
    assert line.startswith("problem ") and "the credentials are refused" in line
    for result in (good, bad):
        assert password not in result.stdout + result.stderr


def test_output_folder_unwritable(base_env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = blocker / "output"  # not even root can make a folder in a file
    result = doctor({**base_env, "CRAWLER_OUTPUT_DIR": str(folder)}, "--no-browser")
    assert result.returncode == 1
    line = result.line(f"output folder {folder}: not writable")
    assert line.startswith("problem ") and "set CRAWLER_OUTPUT_DIR" in line


def test_settings_invalid(base_env: dict[str, str]) -> None:
    result = doctor(base_env, "--no-browser", "-s", "PARQUET_FEEDS=sometimes")
    assert result.returncode == 1
    assert result.line("settings") == (
        "problem  settings: PARQUET_FEEDS must be off, beside or instead, got 'sometimes' "
        "(fix it in the environment or with -s)."
    )
    two = doctor(
        base_env, "--no-browser", "-s", "RETRY_BACKOFF_JITTER=2", "-s", "THROTTLE_429_BACKOFF=1.5"
    )
    assert len([line for line in two.lines if line.startswith("problem  settings: ")]) == 2
    bad_url = doctor({**base_env, "MARKETPLACE_URL": "tiki.vn"}, "--no-browser")
    assert bad_url.line("MARKETPLACE_URL").startswith("problem ")
    assert "not an http(s) URL" in bad_url.line("MARKETPLACE_URL")


def test_redis_stopped(base_env: dict[str, str], tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    url = server.url
    server.stop()
    result = doctor({**base_env, "DISTRIBUTED": "1", "REDIS_URL": url}, "--no-browser")
    assert result.returncode == 1
    line = result.line(f"Redis {url}")
    assert line.startswith("problem ") and "not reachable" in line


def test_chromium_missing(base_env: dict[str, str], tmp_path: Path) -> None:
    options = '{"executable_path": "%s", "headless": true}' % (tmp_path / "no-chromium")
    result = doctor(base_env, "-s", f"PLAYWRIGHT_LAUNCH_OPTIONS={options}")
    assert result.returncode == 1
    assert result.line(f"Chromium {tmp_path / 'no-chromium'}: does not launch headless")


def test_scrapyd(base_env: dict[str, str], tmp_path: Path) -> None:
    username, password = "crawler-ops", secrets.token_urlsafe(16)
    env = {
        **{k: v for k, v in os.environ.items() if k not in OWN_ENV},
        "SCRAPYD_HOME": str(tmp_path / "scrapyd"),
        "SCRAPYD_USERNAME": username,
        "SCRAPYD_PASSWORD": password,
        "PYTHON": sys.executable,
        "PYTHONUNBUFFERED": "1",
    }
    server = ScrapydServer(tmp_path / "scrapyd", env, username, password).start()
    try:
        url = server.url.rstrip("/")
        creds = {"SCRAPYD_URL": url, "SCRAPYD_USERNAME": username}
        good = doctor({**base_env, **creds, "SCRAPYD_PASSWORD": password}, "--no-browser")
        assert good.returncode == 0, good.stdout
        assert good.line(f"Scrapyd {url}").endswith("reachable with the credentials.")
        bad = doctor({**base_env, **creds, "SCRAPYD_PASSWORD": "wrong"}, "--no-browser")
        assert bad.returncode == 1
        assert bad.line(f"Scrapyd {url}").endswith(
            "refused the credentials; check SCRAPYD_USERNAME and SCRAPYD_PASSWORD."
        )
        # credentials in the URL are not printed either
        in_url = url.replace("http://", f"http://{username}:{password}@")
        shown = doctor({**base_env, "SCRAPYD_URL": in_url}, "--no-browser")
        assert password not in shown.stdout + shown.stderr
        assert f"Scrapyd http://{username}:***@" in shown.stdout
    finally:
        server.stop()
    down = doctor({**base_env, "SCRAPYD_URL": url}, "--no-browser")
    assert down.returncode == 1
    assert down.line(f"Scrapyd {url}").endswith(
        "cannot be reached; start Scrapyd or fix SCRAPYD_URL."
    )
