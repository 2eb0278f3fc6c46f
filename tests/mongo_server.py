"""MongoDB for the tests: a real wire-protocol server, never a mock.

``secantusd-py`` (SecantusDB, a MongoDB wire-protocol server on WiredTiger)
runs as a subprocess bound to port 0 on the loopback interface, with its data in
a temporary folder; the port is read from its "listening on" log line, so there
is no pick-a-port race and no sleeping for readiness. When the ``MONGO_URI``
environment variable is set (a real ``mongod``, say), the tests use that server
instead, each test in a database of its own, dropped at its end.

Fixtures:
- ``mongo_uri`` (session): the URI of the shared server;
- ``mongo_db`` (per test): ``(uri, database name)`` of a fresh database;
- ``mongo_factory`` (per test): start secantusd servers of the test's own, for
  tests that stop and restart one (:class:`MongoServer`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

_LISTENING = re.compile(r"listening on (?P<host>[\d.]+):(?P<port>\d+)")


# the venv's console script first: `make test` runs pytest without activating the venv
SECANTUSD = str(Path(sys.executable).with_name("secantusd-py"))
if not os.path.exists(SECANTUSD):
    SECANTUSD = shutil.which("secantusd-py") or "secantusd-py"


class MongoServerError(RuntimeError):
    """Raised when secantusd-py does not start (its log's tail is the message)."""


class MongoServer:
    """One ``secantusd-py`` process; :meth:`kill` and :meth:`start` again keep
    its port and its data."""

    def __init__(self, storage: Path, startup_timeout: float = 30.0) -> None:
        self.storage = storage
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.drain: threading.Thread | None = None
        self.log: list[str] = []

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self) -> MongoServer:
        """Start on the port of the last run (port 0 the first time) and wait
        for the "listening" line."""
        args = [
            SECANTUSD,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--storage-path",
            str(self.storage),
            "--log-level",
            "INFO",
        ]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready = threading.Event()
        found: dict[str, int] = {}

        def drain() -> None:  # the log is read to its end: a full pipe would block the server
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line)
                match = _LISTENING.search(line)
                if match and not ready.is_set():
                    found["port"] = int(match["port"])
                    ready.set()
            ready.set()  # the process ended

        self.proc, self.drain = proc, threading.Thread(target=drain, daemon=True)
        self.drain.start()
        if not ready.wait(self.startup_timeout) or "port" not in found:
            self.kill()
            tail = "".join(self.log[-20:]) or "no output"
            raise MongoServerError(f"secantusd-py did not start ({' '.join(args)}):\n{tail}")
        self.port = found["port"]
        return self

    def kill(self) -> None:
        """SIGKILL: the server goes away as in a crash or a lost host."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: signal.Signals) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self.drain is not None:
            self.drain.join()  # the log's end: the process is gone
        assert proc.stderr is not None
        proc.stderr.close()


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
