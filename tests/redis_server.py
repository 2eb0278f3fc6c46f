"""Redis for the tests: Debian's ``redis-server``, never a mock.

The server runs as a subprocess bound to 127.0.0.1 on a free port, with its
working folder in a temporary directory and persistence off (``--save ""``,
no append-only file). ``redis-server --port 0`` would not listen on TCP at all,
so a free port is taken from the kernel and handed over; if another process
grabs it in between, the server's log says so and the next port is tried.
Readiness is the server's "Ready to accept connections" log line: no sleeping.

Fixtures:
- ``redis_url`` (session): the URL of the shared server;
- ``redis_db`` (per test): the URL of a fresh logical database (flushed at the
  test's start and end), so tests sharing the server never see each other's keys.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
_READY = "Ready to accept connections"
_DATABASES = 16


class RedisServerError(RuntimeError):
    """Raised when redis-server does not start (its log's tail is the message)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on the loopback interface."""

    def __init__(self, workdir: Path, startup_timeout: float = 20.0) -> None:
        self.workdir = workdir
        self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.drain: threading.Thread | None = None
        self.log: list[str] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, attempts: int = 5) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):
            if self._start_on(_free_port()):
                return self
        tail = "".join(self.log[-20:]) or "no output"
        raise RedisServerError(f"redis-server did not start ({REDIS_SERVER}):\n{tail}")

    def _start_on(self, port: int) -> bool:
        args = [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--databases",
            str(_DATABASES),
            "--logfile",
            "",
            "--daemonize",
            "no",
        ]
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        up: list[bool] = []

        def drain() -> None:  # read the log to its end: a full pipe would block the server
            assert proc.stdout is not None
            for line in proc.stdout:
                self.log.append(line)
                if _READY in line and not ready.is_set():
                    up.append(True)
                    ready.set()
            ready.set()  # the process ended

        thread = threading.Thread(target=drain, daemon=True)
        thread.start()
        if ready.wait(self.startup_timeout) and up:
            self.proc, self.port, self.drain = proc, port, thread
            return True
        proc.kill()
        proc.wait()
        thread.join()
        assert proc.stdout is not None
        proc.stdout.close()
        return False

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self.drain is not None:
            self.drain.join()  # the log's end: the process is gone
        assert proc.stdout is not None
        proc.stdout.close()


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
    url = f"{redis_url}/{next(_next_db) % _DATABASES}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url
    with redis.Redis.from_url(url) as client:
        client.flushdb()
