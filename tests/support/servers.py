"""The servers of the tests, each a real one run as a subprocess: never a mock.

Every one is a :class:`sim.testing.ServerProcess` (start, wait for a readiness
line of its output, read the output to its end, stop with SIGTERM then SIGKILL),
as is the simulator's :class:`sim.testing.SimProcess`; the Scrapyd server is in
:mod:`tests.support.scrapyd`. The pytest fixtures that start them are in
:mod:`tests.support.fixtures`; the benchmarks use these classes too.

- :class:`MongoServer`: ``secantusd-py`` (SecantusDB, a MongoDB wire-protocol
  server on WiredTiger) bound to port 0 on the loopback interface, with its
  data in a folder of the caller's; the port is read from its "listening on"
  log line, so there is no pick-a-port race. :meth:`~MongoServer.kill` then
  :meth:`~MongoServer.start` again keep its port and its data.
- :class:`RedisServer`: Debian's ``redis-server`` bound to 127.0.0.1, its
  working folder in a folder of the caller's, persistence off (``--save ""``,
  no append-only file). ``redis-server --port 0`` would not listen on TCP at
  all, so a free port is taken from the kernel and handed over; if another
  process grabs it in between, the server's log says so and the next port is
  tried. Readiness is its "Ready to accept connections" line.
- :class:`S3Server`: moto's ``moto_server`` (the S3 protocol, in memory) bound
  to port 0 on the loopback interface; the port is read from its "Running on"
  line. Scrapy's S3 store (botocore) talks to it as to a bucket anywhere.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from sim.testing import ServerError, ServerProcess

# the venv's console script first: `make test` runs pytest without activating the venv
SECANTUSD = str(Path(sys.executable).with_name("secantusd-py"))
if not os.path.exists(SECANTUSD):
    SECANTUSD = shutil.which("secantusd-py") or "secantusd-py"

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
#: logical databases of a Redis server (the tests take one each)
REDIS_DATABASES = 16


class MongoServerError(ServerError):
    """Raised when secantusd-py does not start (its log's tail is the message)."""


class RedisServerError(ServerError):
    """Raised when redis-server does not start (its log's tail is the message)."""


class MongoServer(ServerProcess):
    """One ``secantusd-py`` process; :meth:`kill` and :meth:`start` again keep
    its port and its data."""

    name = "secantusd-py"
    ready = re.compile(r"listening on (?P<host>[\d.]+):(?P<port>\d+)")
    error = MongoServerError
    restart_on_same_port = True

    def __init__(self, storage: Path, startup_timeout: float = 30.0) -> None:
        super().__init__(startup_timeout)
        self.storage = storage

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def argv(self, port: int) -> list[str]:
        return [
            SECANTUSD,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(self.storage),
            "--log-level",
            "INFO",
        ]


class RedisServer(ServerProcess):
    """One ``redis-server`` process on the loopback interface."""

    name = "redis-server"
    ready = re.compile(r"Ready to accept connections")
    error = RedisServerError
    startup_timeout = 20.0
    pick_port = True

    def __init__(self, workdir: Path, startup_timeout: float = 20.0) -> None:
        super().__init__(startup_timeout)
        self.workdir = workdir

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return super().start()

    def argv(self, port: int) -> list[str]:
        return [
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
            str(REDIS_DATABASES),
            "--logfile",
            "",
            "--daemonize",
            "no",
        ]


class S3ServerError(ServerError):
    """Raised when moto_server does not start (its log's tail is the message)."""


# the venv's console script first, as for secantusd-py
MOTO_SERVER = str(Path(sys.executable).with_name("moto_server"))
if not os.path.exists(MOTO_SERVER):
    MOTO_SERVER = shutil.which("moto_server") or "moto_server"


class S3Server(ServerProcess):
    """``moto_server``: a real process speaking the S3 protocol (moto's
    in-memory backends behind Werkzeug), bound to port 0 on the loopback
    interface; the port is read from its "Running on" line. Its buckets live as
    long as the process. Any access key is accepted; clients still need one
    (:meth:`environ_for_clients`), so that botocore never looks further for
    credentials (the instance metadata service above all)."""

    name = "moto_server"
    ready = re.compile(r"Running on http://127\.0\.0\.1:(?P<port>\d+)")
    error = S3ServerError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self, port: int) -> list[str]:
        return [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)]

    def environ_for_clients(self) -> dict[str, str]:
        """What botocore reads from the environment to use this server, and
        nothing else: keys, region, endpoint; no config files, no metadata."""
        return {
            "AWS_ACCESS_KEY_ID": "test-key",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
