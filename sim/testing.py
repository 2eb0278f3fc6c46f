"""Run the simulator as a subprocess for tests and benchmarks (stdlib HTTP only).

    with SimProcess().start(size="tiny", seed=1) as sim:
        truth = sim.truth(reviews=0)
        sim.config(latency_ms=50)         # POST /_sim/config, returns all knobs
        sim.get("/api/v2/products/123")   # a Reply, whatever its status
        sim.stats(); sim.reset(); sim.reset_knobs()
        sim.advance(days=1); sim.changes(since_day=0)   # the living catalogue

`start` runs `python -m sim --port 0 ...` and reads the base URL from the child's first
stdout line: no port picking, no sleeping. Flags are keyword arguments spelled like the
CLI's (`latency_ms=50` -> `--latency-ms 50`; a list becomes a comma-separated value).

:class:`ServerProcess` is the life cycle of any server run as a subprocess (start,
wait for its readiness line, read its output to the end, stop): the simulator's here,
and the test suite's MongoDB, Redis and Scrapyd servers (``tests/support/servers.py``)
are subclasses of it. It lives here, with the standard library only, because sim/
imports neither tests/ nor crawler/ and the benchmarks start the simulator too.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from sim.faults import DEFAULT_KNOBS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServerError(RuntimeError):
    """Raised when a server does not start (the message ends with its output's tail)."""


def free_port() -> int:
    """A port the kernel has just handed out on 127.0.0.1 (for servers that cannot bind 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """A server run as a subprocess, ready when a line of its output says so.

    A subclass gives :meth:`argv` (the command for a port; 0 when the server can
    bind port 0) and :attr:`ready`, a pattern searched in each line of the server's
    stdout and stderr (one pipe, read by a thread to its end: a full pipe would
    block the server; every line is kept in :attr:`lines`). :meth:`start` returns
    once a line matches, within :attr:`startup_timeout`: no sleeping. A named group
    ``port`` in the match is the port bound. :meth:`stop` sends SIGTERM, then
    SIGKILL after :attr:`stop_timeout`, and returns the exit code; :meth:`kill`
    sends SIGKILL, as a crash would.

    Options (class attributes): :attr:`pick_port` for a server that cannot bind
    port 0: a free port is picked and, when another process took it first (a
    line matches :attr:`address_in_use`), the start is tried again on another
    one, :attr:`start_attempts` times in all; :attr:`restart_on_same_port` to
    start again on the port of the last run (a server that keeps its data)."""

    name = "server"
    ready: re.Pattern[str]
    error: type[ServerError] = ServerError
    startup_timeout = 30.0
    stop_timeout = 15.0
    pick_port = False
    address_in_use = re.compile(r"Address already in use")
    start_attempts = 5
    restart_on_same_port = False

    def __init__(self, startup_timeout: float | None = None) -> None:
        if startup_timeout is not None:
            self.startup_timeout = startup_timeout
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        #: every line of the server's output, over all its runs
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    # -- what a subclass gives ------------------------------------------------------
    def argv(self, port: int) -> list[str]:
        raise NotImplementedError

    def environ(self, port: int) -> dict[str, str] | None:
        """The server's environment for a port (None: this process's)."""
        return None

    def started(self, match: re.Match[str]) -> None:
        """Called with the readiness line's match once the server is up."""

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> Self:
        if self.proc is not None:
            raise self.error(f"this {type(self).__name__} is already running; stop() it first")
        port = self.port if self.restart_on_same_port else 0
        attempts = self.start_attempts if self.pick_port else 1
        argv: list[str] = []
        for _ in range(attempts):
            if self.pick_port and not port:
                port = free_port()
            argv = self.argv(port)
            seen = len(self.lines)
            match = self._launch(argv, self.environ(port))
            if match is not None:
                self.port = int(match.groupdict().get("port") or port)
                self.started(match)
                return self
            lost_port = any(self.address_in_use.search(line) for line in self.lines[seen:])
            if not (self.pick_port and lost_port):
                break
            port = 0
        tail = "".join(self.lines[-40:]).strip() or "no output"
        raise self.error(
            f"{self.name} did not start within {self.startup_timeout} s ({' '.join(argv)}):\n{tail}"
        )

    def _launch(self, argv: list[str], env: dict[str, str] | None) -> re.Match[str] | None:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            errors="replace",
        )
        ready = threading.Event()
        found: list[re.Match[str]] = []

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.lines.append(line)
                if not found and (match := self.ready.search(line)):
                    found.append(match)
                    ready.set()
            ready.set()  # the output ended: the process is gone

        reader = threading.Thread(target=drain, name=f"{self.name} output", daemon=True)
        reader.start()
        ready.wait(self.startup_timeout)
        if found and proc.poll() is None:
            self.proc, self._reader = proc, reader
            return found[0]
        self._end(proc, reader, signal.SIGKILL)
        return None

    def stop(self) -> int | None:
        """SIGTERM, SIGKILL after stop_timeout; the exit code (None if not running)."""
        return self._stop(signal.SIGTERM)

    def kill(self) -> int | None:
        """SIGKILL: the server goes away as in a crash or a lost host."""
        return self._stop(signal.SIGKILL)

    def _stop(self, sig: signal.Signals) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        assert self._reader is not None
        return self._end(proc, self._reader, sig)

    def _end(
        self, proc: subprocess.Popen[str], reader: threading.Thread, sig: signal.Signals
    ) -> int:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        reader.join(self.stop_timeout)  # the rest of the output
        assert proc.stdout is not None
        proc.stdout.close()
        return code

    def __enter__(self) -> Self:
        if self.proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SimError(ServerError):
    """Raised by SimProcess when the simulator fails to start or refuses a control call."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _query(params: dict[str, object]) -> str:
    pairs = {
        k: ",".join(map(str, v)) if isinstance(v, (list, tuple, set)) else str(v)
        for k, v in params.items()
        if v is not None
    }
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


class SimProcess(ServerProcess):
    name = "simulator"
    #: the child's first stdout line is its base URL
    ready = re.compile(r"^(?P<url>https?://\S+:(?P<port>\d+))\s*$")
    error = SimError

    def __init__(self, startup_timeout: float = 60.0, **flags: object) -> None:
        super().__init__(startup_timeout)
        self.flags = flags
        self.url = ""

    # -- life cycle ----------------------------------------------------------------
    def start(self, **flags: object) -> Self:
        if self.proc is not None:
            raise SimError("this SimProcess is already running; stop() it first")
        self.flags = {**self.flags, **flags}
        return super().start()

    def argv(self, port: int) -> list[str]:
        args = [sys.executable, "-m", "sim", "--port", str(port)]
        for name, value in self.flags.items():
            if value is None:
                continue
            args.append("--" + name.replace("_", "-"))
            args.append(
                ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            )
        return args

    def environ(self, port: int) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        return env

    def started(self, match: re.Match[str]) -> None:
        self.url = match["url"]

    # -- HTTP ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> Reply:
        """One HTTP exchange; any status is a Reply, connection failures raise OSError."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers=headers or {}
        )
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Reply(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return Reply(err.code, err.headers, err.read())

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        timeout: float = 60.0,
        **params: object,
    ) -> Reply:
        return self.request("GET", path + _query(params), headers=headers, timeout=timeout)

    def _control(self, method: str, path: str, body: object = None) -> Any:
        reply = self.request(method, path, body)
        if reply.status != 200:
            raise SimError(
                f"{method} {path} answered {reply.status}: {reply.body.decode(errors='replace')}"
            )
        return reply.json()

    def truth(self, **query: object) -> dict[str, Any]:
        """GET /_sim/truth; e.g. truth(reviews=0) or truth(product_ids=[1, 2])."""
        return self._control("GET", "/_sim/truth" + _query(query))

    def config(self, **knobs: object) -> dict[str, Any]:
        """Merge knobs (POST /_sim/config) and return all of them; no knobs: just read them."""
        if not knobs:
            return self._control("GET", "/_sim/config")
        return self._control("POST", "/_sim/config", knobs)

    def reset_knobs(self) -> dict[str, Any]:
        return self.config(**DEFAULT_KNOBS)

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_sim/stats")

    def advance(self, days: int = 1) -> dict[str, Any]:
        """POST /_sim/advance: the living catalogue moves on; returns {"day": N}."""
        return self._control("POST", "/_sim/advance", {"days": days})

    def changes(self, since_day: int = 0) -> dict[str, Any]:
        """GET /_sim/truth/changes?since_day=N."""
        return self._control("GET", f"/_sim/truth/changes?since_day={since_day}")

    def reset(self, state: bool = False) -> None:
        """Zero the stats; with state=True also restore default knobs and drop new reviews."""
        self._control("POST", "/_sim/reset" + ("?state=1" if state else ""))
