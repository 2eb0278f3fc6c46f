"""Run the simulator as a subprocess for tests and benchmarks (stdlib HTTP only).

    with SimProcess().start(size="tiny", seed=1) as sim:
        truth = sim.truth(reviews=0)
        sim.config(latency_ms=50)         # POST /_sim/config, returns all knobs
        sim.get("/api/v2/products/123")   # a Reply, whatever its status
        sim.stats(); sim.reset(); sim.reset_knobs()

`start` runs `python -m sim --port 0 ...` and reads the base URL from the child's first
stdout line: no port picking, no sleeping. Flags are keyword arguments spelled like the
CLI's (`latency_ms=50` -> `--latency-ms 50`; a list becomes a comma-separated value).
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from sim.faults import DEFAULT_KNOBS

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SimError(RuntimeError):
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


class SimProcess:
    def __init__(self, startup_timeout: float = 60.0, **flags: object) -> None:
        self.startup_timeout = startup_timeout
        self.flags = flags
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # -- life cycle ----------------------------------------------------------------
    def start(self, **flags: object) -> SimProcess:
        if self.proc is not None:
            raise SimError("this SimProcess is already running; stop() it first")
        self.flags = {**self.flags, **flags}
        args = [sys.executable, "-m", "sim", "--port", "0"]
        for name, value in self.flags.items():
            if value is None:
                continue
            args.append("--" + name.replace("_", "-"))
            args.append(
                ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        self._stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            ready = selector.select(self.startup_timeout)
        line = self.proc.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("http"):
            error = self._stderr_text()
            self.stop()
            raise SimError(
                f"simulator {' '.join(args[1:])} did not print its URL "
                f"within {self.startup_timeout} s: {error or 'no stderr'}"
            )
        self.url = line
        return self

    def stop(self) -> int | None:
        """SIGTERM the simulator, wait for it and return its exit code (None if never started)."""
        proc, self.proc = self.proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return code

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def __enter__(self) -> SimProcess:
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
        return self._control("GET", "/_sim/truth" + _query(query))  # type: ignore[no-any-return]

    def config(self, **knobs: object) -> dict[str, Any]:
        """Merge knobs (POST /_sim/config) and return all of them; no knobs: just read them."""
        if not knobs:
            return self._control("GET", "/_sim/config")  # type: ignore[no-any-return]
        return self._control("POST", "/_sim/config", knobs)  # type: ignore[no-any-return]

    def reset_knobs(self) -> dict[str, Any]:
        return self.config(**DEFAULT_KNOBS)

    def stats(self) -> dict[str, Any]:
        return self._control("GET", "/_sim/stats")  # type: ignore[no-any-return]

    def reset(self, state: bool = False) -> None:
        """Zero the stats; with state=True also restore default knobs and drop new reviews."""
        self._control("POST", "/_sim/reset" + ("?state=1" if state else ""))
