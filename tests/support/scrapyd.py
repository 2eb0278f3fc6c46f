"""A real Scrapyd for the end-to-end tests, started by scripts/scrapyd-start.sh."""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from sim.testing import ServerProcess
from tests.support import waiting
from tests.support.paths import ROOT

PROJECT = "crawler"


class ScrapydServer(ServerProcess):
    """Scrapyd started by scripts/scrapyd-start.sh in its state folder.

    Scrapyd cannot bind port 0 (``http_port = 0`` turns its HTTP server off),
    so a free port is picked and, when another process takes it before
    Scrapyd binds it, Scrapyd is started again on another one. Readiness is
    Twisted's "Site starting on <port>" line, not a sleep."""

    name = "Scrapyd"
    ready = re.compile(r"Site starting on (?P<port>\d+)")
    stop_timeout = 20.0
    pick_port = True

    def __init__(self, home: Path, env: dict[str, str], username: str, password: str) -> None:
        super().__init__(startup_timeout=30.0)
        self.home = home
        self.env = env
        self.username = username
        self.password = password

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def output(self) -> list[str]:
        """Scrapyd's own output (stdout and stderr), every line of every run."""
        return self.lines

    def argv(self, port: int) -> list[str]:
        return [str(ROOT / "scripts" / "scrapyd-start.sh")]

    def environ(self, port: int) -> dict[str, str]:
        return {**self.env, "SCRAPYD_HTTP_PORT": str(port)}

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
    """:func:`tests.support.waiting.wait_for`, polling Scrapyd's API 4 times a second."""
    return waiting.wait_for(probe, timeout, what, interval)
