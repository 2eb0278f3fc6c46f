"""Daily runs on Scrapyd: ``products``, then ``comments``, every day at a set
time in a set timezone (not to be confused with Scrapy's request scheduler).

    python -m crawler.scrapyd.daily --at 02:00 --timezone UTC \\
        --setting MONGO_DATABASE=marketplace
    python -m crawler.scrapyd.daily --once          # one run now, then exit
    python -m crawler.scrapyd.daily --track --refresh-days 7   # daily tracking

A small process built on APScheduler: a cron trigger fires once a day; each
fire runs the chain, one spider after the other. A spider's job is scheduled
through Scrapyd's ``schedule.json`` and followed through ``listjobs.json``
until it has finished; then the next spider's job is scheduled (``comments``
reads the product ids that ``products`` has just stored in MongoDB). Scrapyd
does not record how a job ended: the job's log, report and failures file say.

- No second run while one is going: before scheduling anything, the chain
  reads ``listjobs.json``; when a job of one of its spiders is pending or
  running (yesterday's run, an operator's, another scheduler's), this fire is
  skipped with a WARNING. Within the process, fires never overlap
  (``max_instances=1``). A fire that comes late (the host was suspended) still
  runs within ``--grace`` seconds; fires missed while the process was not
  running are not made up (``--once`` runs one now).
- Job ids are ``<spider>-<UTC time of the fire>``
  (``products-2025-01-31T02-00-00Z``): the name of the run's output folder, and
  the id to schedule again to resume a cancelled job.
- ``--setting NAME=VALUE`` goes to every job as ``setting=NAME=VALUE``. Those
  are shown by ``listjobs.json`` and written to Scrapyd's log and queue, so a
  setting that carries credentials (``MONGO_URI``, a URL with a password) is
  refused: the crawls inherit it from Scrapyd's environment.

- ``--track``: daily tracking (docs/tracking.md): ``products`` runs with
  ``-a mode=track`` (listing first, only the details it needs; with
  ``--refresh-days N``, ``-a refresh_days=N``) and ``comments`` with
  ``-a mode=new`` (only the products whose review count rose). Both need
  MongoDB: ``MONGO_URI`` in Scrapyd's environment.

Environment: ``SCRAPYD_URL`` (default ``http://127.0.0.1:6800/``),
``SCRAPYD_USERNAME``, ``SCRAPYD_PASSWORD``.

Exit status: 0 (``--once``: the chain ran; otherwise: stopped by SIGTERM or
SIGINT), 1 when Scrapyd refused a request or could not be reached (``--once``),
2 for bad options, 3 when ``--once`` skipped the run because one is going.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from crawler.exceptions import DailyConfigError, ScrapydError

logger = logging.getLogger("crawler.scrapyd.daily")  # also when run as __main__

DEFAULT_URL = "http://127.0.0.1:6800/"
#: settings that carry credentials: never sent through schedule.json
SECRET_SETTINGS = frozenset({"MONGO_URI"})
EXIT_SKIPPED = 3


# -- configuration ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DailyConfig:
    """Options and environment, read once."""

    url: str = DEFAULT_URL
    username: str = ""
    password: str = field(default="", repr=False)
    project: str = "crawler"
    spiders: tuple[str, ...] = ("products", "comments")
    at: time = time(2, 0)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    settings: tuple[tuple[str, str], ...] = ()
    #: daily tracking: products -a mode=track, comments -a mode=new
    track: bool = False
    refresh_days: int | None = None
    poll_seconds: float = 10.0
    grace_seconds: int = 3600
    once: bool = False

    @classmethod
    def from_args(cls, argv: Sequence[str], environ: Mapping[str, str]) -> DailyConfig:
        args = _parser().parse_args(argv)
        spiders = tuple(s.strip() for s in args.spiders.split(",") if s.strip())
        if not spiders:
            raise DailyConfigError("--spiders: name at least one spider.")
        if args.poll <= 0:
            raise DailyConfigError(f"--poll: must be more than 0 seconds, got {args.poll}.")
        if args.refresh_days is not None and (not args.track or args.refresh_days < 1):
            raise DailyConfigError(
                "--refresh-days: a whole number of days of at least 1, with --track."
            )
        if args.grace < 1:
            raise DailyConfigError(f"--grace: must be at least 1 second, got {args.grace}.")
        url = environ.get("SCRAPYD_URL") or DEFAULT_URL
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise DailyConfigError(f"SCRAPYD_URL: {url!r} is not an http(s) URL.")
        return cls(
            url=url if url.endswith("/") else url + "/",
            username=environ.get("SCRAPYD_USERNAME", ""),
            password=environ.get("SCRAPYD_PASSWORD", ""),
            project=args.project,
            spiders=spiders,
            at=parse_time(args.at),
            timezone=parse_timezone(args.timezone),
            settings=tuple(parse_setting(s) for s in args.setting),
            poll_seconds=args.poll,
            grace_seconds=args.grace,
            once=args.once,
            track=args.track,
            refresh_days=args.refresh_days,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m crawler.scrapyd.daily",
        description="Run products then comments on Scrapyd every day (SCRAPYD_URL, "
        "SCRAPYD_USERNAME and SCRAPYD_PASSWORD from the environment).",
    )
    parser.add_argument("--at", default="02:00", help="time of day, HH:MM[:SS] (02:00)")
    parser.add_argument("--timezone", default="UTC", help="IANA name of --at's zone (UTC)")
    parser.add_argument("--spiders", default="products,comments", help="the chain, in order")
    parser.add_argument("--project", default="crawler", help="the Scrapyd project (crawler)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Scrapy setting for every job (repeatable; no credentials)",
    )
    parser.add_argument("--poll", type=float, default=10.0, help="seconds between job checks")
    parser.add_argument("--grace", type=int, default=3600, help="seconds a missed fire may be late")
    parser.add_argument("--once", action="store_true", help="run the chain now, then exit")
    parser.add_argument(
        "--track",
        action="store_true",
        help="daily tracking: products -a mode=track, comments -a mode=new",
    )
    parser.add_argument(
        "--refresh-days",
        type=int,
        default=None,
        help="with --track: products -a refresh_days=N (default: TRACK_REFRESH_DAYS)",
    )
    return parser


def parse_time(value: str) -> time:
    try:
        parts = [int(p) for p in value.split(":")]
        if len(parts) not in (2, 3):
            raise ValueError(value)
        return time(parts[0], parts[1], parts[2] if len(parts) == 3 else 0)
    except ValueError:
        raise DailyConfigError(
            f"--at: {value!r} is not a time of day (HH:MM or HH:MM:SS)."
        ) from None


def parse_timezone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise DailyConfigError(
            f"--timezone: {value!r} is not an IANA time zone (e.g. UTC, Asia/Ho_Chi_Minh)."
        ) from None


def parse_setting(value: str) -> tuple[str, str]:
    name, sep, setting = value.partition("=")
    name = name.strip()
    if not sep or not name:
        raise DailyConfigError(f"--setting: {value!r} is not NAME=VALUE.")
    if name in SECRET_SETTINGS or urllib.parse.urlsplit(setting).password:
        raise DailyConfigError(
            f"--setting {name}: settings sent to schedule.json are shown by listjobs.json "
            f"and written to Scrapyd's log; give {name} to Scrapyd's environment instead."
        )
    return name, setting


# -- Scrapyd's API ----------------------------------------------------------


class ScrapydApi:
    """The few calls of Scrapyd's JSON API the chain needs, with basic auth
    and a timeout (a hung Scrapyd must not hang the scheduler)."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.url = url
        self.timeout = timeout
        self._auth = ""
        if username or password:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._auth = f"Basic {token}"

    def call(self, endpoint: str, params: Sequence[tuple[str, str]], post: bool = False) -> Any:
        query = urllib.parse.urlencode(params)
        url = urllib.parse.urljoin(self.url, endpoint)
        request = urllib.request.Request(
            url if post else f"{url}?{query}",
            data=query.encode() if post else None,
            method="POST" if post else "GET",
        )
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 401:
                raise ScrapydError(
                    f"Scrapyd at {self.url} refused the credentials (HTTP 401): "
                    "check SCRAPYD_USERNAME and SCRAPYD_PASSWORD."
                ) from exc
            raise ScrapydError(f"Scrapyd {endpoint} answered HTTP {exc.code}.") from exc
        except OSError as exc:  # URLError, timeouts, refused connections
            raise ScrapydError(f"Scrapyd at {self.url} cannot be reached: {exc}.") from exc
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ScrapydError(f"Scrapyd {endpoint} answered something other than JSON.") from exc
        if data.get("status") != "ok":
            raise ScrapydError(f"Scrapyd {endpoint}: {data.get('message', data)}")
        return data

    def jobs(self, project: str) -> dict[str, list[dict[str, Any]]]:
        jobs: dict[str, list[dict[str, Any]]] = self.call("listjobs.json", [("project", project)])
        return jobs

    def schedule(
        self,
        project: str,
        spider: str,
        jobid: str,
        settings: Sequence[tuple[str, str]],
        arguments: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Schedule a job; ``arguments`` are its spider arguments (``-a``)."""
        params = [("project", project), ("spider", spider), ("jobid", jobid)]
        params += [("setting", f"{name}={value}") for name, value in settings]
        params += list(arguments)
        self.call("schedule.json", params, post=True)


# -- one run of the chain ---------------------------------------------------


class DailyRun:
    """The chain of one fire: each spider's job, one after the other."""

    def __init__(self, config: DailyConfig, api: ScrapydApi, stopping: threading.Event) -> None:
        self.config = config
        self.api = api
        self.stopping = stopping

    def going(self, jobs: dict[str, list[dict[str, Any]]]) -> list[str]:
        """The chain's pending and running jobs, as "<spider> job <id> is <state>"."""
        return [
            f"{job['spider']} job {job['id']} is {state}"
            for state in ("pending", "running")
            for job in jobs.get(state, [])
            if job.get("spider") in self.config.spiders
        ]

    def run(self, now: datetime | None = None) -> str:
        """``"done"``, ``"skipped"`` (a run is going) or ``"stopped"`` (SIGTERM)."""
        stamp = (now or datetime.now(UTC)).astimezone(UTC)
        suffix = stamp.strftime("%Y-%m-%dT%H-%M-%SZ")
        jobs = self.api.jobs(self.config.project)
        going = self.going(jobs)
        if going:
            logger.warning(
                "Skipping this run of %s: %s.", ", ".join(self.config.spiders), "; ".join(going)
            )
            return "skipped"
        known = {job["id"] for state in ("pending", "running", "finished") for job in jobs[state]}
        for spider in self.config.spiders:
            jobid = f"{spider}-{suffix}"
            if jobid in known:  # it would resume that job's JOBDIR, not start afresh
                raise ScrapydError(f"Scrapyd already has a job {jobid}; not scheduling it again.")
            arguments = self.arguments(spider)
            if arguments:
                self.api.schedule(
                    self.config.project, spider, jobid, self.config.settings, arguments
                )
            else:
                self.api.schedule(self.config.project, spider, jobid, self.config.settings)
            logger.info(
                "Scheduled %s job %s on %s%s.",
                spider,
                jobid,
                self.config.project,
                "".join(f" -a {name}={value}" for name, value in arguments),
            )
            finished = self.wait(jobid)
            if finished is None:
                logger.warning(
                    "Stopped while %s job %s was going; it goes on in Scrapyd.", spider, jobid
                )
                return "stopped"
            logger.info(
                "%s job %s finished at %s (log %s).",
                spider,
                jobid,
                finished.get("end_time"),
                finished.get("log_url"),
            )
        return "done"

    def arguments(self, spider: str) -> list[tuple[str, str]]:
        """The spider arguments of a job of the chain (``--track``'s modes)."""
        if not self.config.track:
            return []
        if spider == "products":
            days = self.config.refresh_days
            return [("mode", "track")] + ([("refresh_days", str(days))] if days else [])
        if spider == "comments":
            return [("mode", "new")]
        return []

    def wait(self, jobid: str) -> dict[str, Any] | None:
        """The finished job's ``listjobs.json`` entry; ``None`` when stopping."""
        while True:
            jobs = self.api.jobs(self.config.project)
            if not any(job["id"] == jobid for s in ("pending", "running") for job in jobs[s]):
                for job in jobs["finished"]:
                    if job["id"] == jobid:
                        return job
                raise ScrapydError(
                    f"Job {jobid} is neither pending, running nor finished in Scrapyd "
                    "(was Scrapyd restarted while it ran?)."
                )
            if self.stopping.wait(self.config.poll_seconds):
                return None


# -- the process ------------------------------------------------------------


def fire(daily: DailyRun) -> None:
    """One fire of the daily trigger. The boundary: a Scrapyd problem is
    logged and the next fire tries again."""
    try:
        daily.run()
    except ScrapydError as exc:
        logger.error("This run of %s failed: %s", ", ".join(daily.config.spiders), exc)


def serve(daily: DailyRun) -> int:
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    config = daily.config
    trigger = CronTrigger(
        hour=config.at.hour,
        minute=config.at.minute,
        second=config.at.second,
        timezone=config.timezone,
    )
    scheduler = BlockingScheduler(timezone=config.timezone)
    scheduler.add_job(
        fire,
        trigger,
        args=[daily],
        id="daily",
        name="daily run",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=config.grace_seconds,
    )

    def stop(signum: int, _frame: object) -> None:
        logger.info("Received %s, stopping.", signal.Signals(signum).name)
        daily.stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info(
        "Running %s on %s every day at %s %s; next run at %s.",
        ", ".join(config.spiders),
        config.url,
        config.at.isoformat(),
        config.timezone.key,
        trigger.get_next_fire_time(None, datetime.now(config.timezone)),
    )
    scheduler.start()
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s [%(name)s] %(levelname)s: %(message)s"
    )
    try:
        config = DailyConfig.from_args(
            sys.argv[1:] if argv is None else argv, os.environ if environ is None else environ
        )
    except DailyConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    daily = DailyRun(
        config, ScrapydApi(config.url, config.username, config.password), threading.Event()
    )
    if not config.once:
        return serve(daily)
    try:
        outcome = daily.run()
    except ScrapydError as exc:
        logger.error("This run of %s failed: %s", ", ".join(config.spiders), exc)
        return 1
    return EXIT_SKIPPED if outcome == "skipped" else 0


if __name__ == "__main__":
    sys.exit(main())
