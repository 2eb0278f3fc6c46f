"""Shared fixtures: the marketplace simulator (and, below, MongoDB)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.testing import SimProcess  # noqa: E402


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


from mongo_server import mongo_db, mongo_factory, mongo_uri  # noqa: E402, F401
from redis_server import redis_db, redis_url  # noqa: E402, F401
