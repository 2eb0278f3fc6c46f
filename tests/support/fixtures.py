"""The suite's shared fixtures (registered by ``tests/conftest.py``).

The simulator:
- ``sim`` (session): a tiny simulator (seed 1) shared by the crawl tests, knobs off;
- ``truth`` (session): its ground truth;
- ``sim_factory`` (per test): start simulators of a test's own, for tests that
  turn a knob on (stopped at the test's end).

MongoDB (:class:`tests.support.servers.MongoServer`). When the ``MONGO_URI``
environment variable is set (a real ``mongod``, say), the tests use that server
instead, each test in a database of its own, dropped at its end.
- ``mongo_uri`` (session): the URI of the shared server;
- ``mongo_db`` (per test): ``(uri, database name)`` of a fresh database;
- ``mongo_factory`` (per test): start secantusd servers of the test's own, for
  tests that stop and restart one.

Redis (:class:`tests.support.servers.RedisServer`):
- ``redis_url`` (session): the URL of the shared server;
- ``redis_db`` (per test): the URL of a fresh logical database (flushed at the
  test's start and end), so tests sharing the server never see each other's keys.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from pymongo import MongoClient

from sim.testing import SimProcess
from tests.support.servers import REDIS_DATABASES, MongoServer, RedisServer

# -- the simulator ------------------------------------------------------------------


@pytest.fixture(scope="session")
def sim() -> Iterator[SimProcess]:
    """A tiny simulator (seed 1) shared by the crawl tests; knobs off.

    Tests that turn a knob on use ``sim_factory`` for a server of their own."""
    server = SimProcess()
    server.start(size="tiny", seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def truth(sim: SimProcess) -> dict:
    return sim.truth()


@pytest.fixture
def sim_factory() -> Iterator:
    """Start simulators of a test's own (stopped at the test's end)."""
    started: list[SimProcess] = []

    def start(**flags: object) -> SimProcess:
        server = SimProcess()
        server.start(**flags)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# -- MongoDB ------------------------------------------------------------------------


def _external_uri() -> str | None:
    return os.environ.get("MONGO_URI") or None


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = _external_uri()
    if external:
        yield external
        return
    server = MongoServer(tmp_path_factory.mktemp("mongo") / "data").start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
def mongo_db(mongo_uri: str) -> Iterator[tuple[str, str]]:
    """``(uri, name)`` of a database for this test alone, dropped at its end."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield mongo_uri, name
    with MongoClient(mongo_uri, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture
def mongo_factory(tmp_path: Path) -> Iterator[Callable[[], MongoServer]]:
    """Start secantusd servers that the test controls (stopped at its end)."""
    started: list[MongoServer] = []

    def start() -> MongoServer:
        server = MongoServer(tmp_path / f"mongo-{len(started)}")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()  # its data is thrown away with tmp_path


# -- Redis --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


_next_db = iter(range(1, 10**9))


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[str]:
    """The URL of a logical database for this test alone (flushed before and after)."""
    url = f"{redis_url}/{next(_next_db) % REDIS_DATABASES}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url
    with redis.Redis.from_url(url) as client:
        client.flushdb()
