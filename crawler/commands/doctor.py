"""``scrapy doctor``: whether the current settings and environment can run a
crawl, one line per check (``ok`` or ``problem``, and what to do), exit
status 0 when every check is fine and 1 otherwise.

The checks, in order (each bounded by ``--timeout`` seconds):

- the settings are valid: the config classes' own checks (MongoDB, Redis,
  retries, throttling, the dashboard, Parquet);
- the output folder (``OUTPUT_DIR``) is writable: a file is made and removed;
- ``MARKETPLACE_URL`` answers a listing request (page 1 of the first of
  ``CATEGORIES``) with JSON;
- with ``MONGO_URI`` set: MongoDB answers, accepts the credentials, lets the
  user write (a document inserted and deleted in ``doctor_probe``), and each
  collection has its ``$jsonSchema`` validator and its indexes;
- with ``DISTRIBUTED`` on: Redis answers (``PING``);
- Chromium launches headless with ``PLAYWRIGHT_LAUNCH_OPTIONS`` (the
  dashboard spider's browser); ``--no-browser`` skips it;
- with ``SCRAPYD_URL`` set in the environment: Scrapyd answers
  ``daemonstatus.json`` with ``SCRAPYD_USERNAME`` / ``SCRAPYD_PASSWORD``.

No credential is printed: every URL goes through
:func:`crawler.redact.redact_url`, and an error message that could hold one
(a driver's) is not printed whole.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from scrapy.commands import ScrapyCommand

from crawler.redact import redact_url

if TYPE_CHECKING:
    import argparse

    from scrapy.settings import BaseSettings


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``ok`` and a sentence (for a problem, what
    is wrong and what to do)."""

    ok: bool
    what: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'problem':<8} {self.what}"


# -- the checks -------------------------------------------------------------------


def check_settings(settings: BaseSettings) -> list[Check]:
    from crawler.browser import DashboardConfig
    from crawler.distributed.config import DistributedConfig
    from crawler.extensions.parquet import parquet_mode, row_group_rows
    from crawler.extensions.throttle import ThrottleConfig
    from crawler.middlewares.retry import RetryConfig
    from crawler.mongo.config import MongoConfig

    checks: list[Callable[[BaseSettings], Any]] = [
        MongoConfig.from_settings,
        RetryConfig.from_settings,
        ThrottleConfig.from_settings,
        DashboardConfig.from_settings,
        parquet_mode,
        row_group_rows,
    ]
    if settings.getbool("DISTRIBUTED"):
        checks.append(DistributedConfig.from_settings)
    problems = []
    for check in checks:
        try:
            check(settings)
        except Exception as exc:  # each config class raises one sentence
            sentence = str(exc).rstrip(".")
            problems.append(
                Check(False, f"settings: {sentence} (fix it in the environment or with -s).")
            )
    return problems or [Check(True, "settings: valid.")]


def check_output_dir(settings: BaseSettings) -> Check:
    folder = Path(settings.get("OUTPUT_DIR") or ".").expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check(
            False,
            f"output folder {folder}: not writable ({exc.strerror or exc}); set "
            "CRAWLER_OUTPUT_DIR (OUTPUT_DIR) to a folder the crawler may write in.",
        )
    return Check(True, f"output folder {folder}: writable.")


def check_marketplace(settings: BaseSettings, timeout: float) -> Check:
    from crawler.spiders.base import LISTINGS_PATH

    given = str(settings.get("MARKETPLACE_URL") or "").rstrip("/")
    shown = redact_url(given)
    parts = urllib.parse.urlsplit(given)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Check(
            False,
            f"MARKETPLACE_URL {shown}: not an http(s) URL; set it to the API's host "
            "(https://tiki.vn, or the simulator's address).",
        )
    # a user and password in the URL are not the API's (the crawl sends none)
    base = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
    category = str(settings.get("CATEGORIES") or "").split(",")[0].strip() or "1"
    url = (
        f"{base}{LISTINGS_PATH}?limit={settings.getint('LISTING_PAGE_SIZE', 40)}"
        f"&category={category}&page=1"
    )
    headers = {**settings.getdict("DEFAULT_REQUEST_HEADERS"), "Referer": base + "/"}
    headers["User-Agent"] = str(settings.get("USER_AGENT"))
    fix = "check MARKETPLACE_URL and that the site is up."
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        return Check(False, f"MARKETPLACE_URL {shown}: a listing answered HTTP {exc.code}; {fix}")
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # the error's kind, not its text: a URL with a password may be quoted in it
        reason = getattr(exc, "reason", None) or exc
        kind = getattr(reason, "strerror", None) or type(reason).__name__
        return Check(False, f"MARKETPLACE_URL {shown}: cannot be reached ({kind}); {fix}")
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return Check(
            False, f"MARKETPLACE_URL {shown}: a listing answered something other than JSON; {fix}"
        )
    return Check(True, f"MARKETPLACE_URL {shown}: answers a listing request with JSON.")


def check_mongo(settings: BaseSettings, timeout: float) -> list[Check]:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

    from crawler.mongo.collections import INDEXES, collection_validator
    from crawler.mongo.config import MongoConfig
    from crawler.schemas import SCHEMAS

    try:
        config = MongoConfig.from_settings(settings)
    except ValueError:
        return []  # the settings check says what is wrong
    if config is None:
        return []
    where = config.where
    options = {
        **config.client_options(),
        "serverSelectionTimeoutMS": int(timeout * 1000),
        "connectTimeoutMS": int(timeout * 1000),
        "socketTimeoutMS": int(timeout * 1000),
    }
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(config.uri, **options)
    except (PyMongoError, ValueError, TypeError):
        return [Check(False, f"MongoDB {where}: MONGO_URI is not a valid MongoDB URI; fix it.")]
    checks = []
    try:
        db = client[config.database]
        try:
            db.command("ping")
        except OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                return [
                    Check(
                        False,
                        f"MongoDB {where}: the credentials are refused; check the user "
                        "and password in MONGO_URI (and its authSource).",
                    )
                ]
            return [Check(False, f"MongoDB {where}: ping refused (code {exc.code}).")]
        except PyMongoError as exc:
            return [
                Check(
                    False,
                    f"MongoDB {where}: not reachable within {timeout:g} s "
                    f"({type(exc).__name__}); start the server or fix MONGO_URI.",
                )
            ]
        checks.append(Check(True, f"MongoDB {where}: reachable and authenticated."))
        try:
            probe = db["doctor_probe"]
            inserted = probe.insert_one({"doctor": True}).inserted_id
            probe.delete_one({"_id": inserted})
        except PyMongoError as exc:
            code = getattr(exc, "code", None)
            checks.append(
                Check(
                    False,
                    f"MongoDB {where}: the user may not write (code {code}); give it the "
                    "readWrite role on the database.",
                )
            )
            return checks
        checks.append(Check(True, f"MongoDB {where}: the user may write."))
        try:
            existing = {c["name"]: c.get("options", {}) for c in db.list_collections()}
            missing = []
            for cls, schema in SCHEMAS.items():
                name = cls.collection  # type: ignore[attr-defined]
                if existing.get(name, {}).get("validator") != collection_validator(cls, schema):
                    missing.append(f"the validator of {name}")
                if name in existing:
                    have = set(db[name].index_information())
                    missing.extend(
                        f"the index {name}.{index.document['name']}"
                        for index in INDEXES[cls]
                        if index.document["name"] not in have
                    )
                else:
                    missing.append(f"the indexes of {name}")
        except PyMongoError as exc:
            checks.append(
                Check(
                    False, f"MongoDB {where}: cannot list the collections ({type(exc).__name__})."
                )
            )
            return checks
        if missing:
            shown = ", ".join(missing[:3]) + (
                f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            )
            checks.append(
                Check(
                    False,
                    f"MongoDB {where}: missing {shown}; a crawl with MONGO_URI set creates "
                    "them at its start (the user needs the collMod and createIndex rights).",
                )
            )
        else:
            checks.append(Check(True, f"MongoDB {where}: validators and indexes in place."))
    finally:
        client.close()
    return checks


def check_redis(settings: BaseSettings, timeout: float) -> list[Check]:
    if not settings.getbool("DISTRIBUTED"):
        return []
    import redis

    from crawler.distributed.config import DistributedConfig

    try:
        config = DistributedConfig.from_settings(settings)
    except Exception:
        return []  # the settings check says what is wrong
    shown = redact_url(config.redis_url)
    try:
        with redis.Redis.from_url(
            config.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        ) as client:
            client.ping()
    except redis.AuthenticationError:
        return [Check(False, f"Redis {shown}: the credentials are refused; check REDIS_URL.")]
    except redis.RedisError as exc:
        return [
            Check(
                False,
                f"Redis {shown}: not reachable ({type(exc).__name__}); start it or fix REDIS_URL.",
            )
        ]
    return [Check(True, f"Redis {shown}: reachable.")]


def check_chromium(settings: BaseSettings, timeout: float) -> Check:
    options = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    executable = options.get("executable_path") or "Playwright's Chromium"
    fix = (
        "install Debian's chromium (scripts/setup-system.sh) or fix "
        "PLAYWRIGHT_LAUNCH_OPTIONS; only the dashboard spider needs it."
    )
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return Check(False, f"Chromium: scrapy-playwright is not installed; {fix}")
    options["headless"] = True
    options["timeout"] = timeout * 1000
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**options)
            version = browser.version
            browser.close()
    except Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Check(False, f"Chromium {executable}: does not launch headless ({first}); {fix}")
    return Check(True, f"Chromium {executable}: launches headless (version {version}).")


def check_scrapyd(environ: dict[str, str], timeout: float) -> list[Check]:
    url = environ.get("SCRAPYD_URL")
    if not url:
        return []
    from crawler.exceptions import ScrapydError
    from crawler.scrapyd.daily import ScrapydApi

    shown = redact_url(url)
    api = ScrapydApi(
        url if url.endswith("/") else url + "/",
        environ.get("SCRAPYD_USERNAME", ""),
        environ.get("SCRAPYD_PASSWORD", ""),
        timeout=timeout,
    )
    try:
        api.call("daemonstatus.json", [])
    except ScrapydError as exc:
        cause = exc.__cause__
        if isinstance(cause, urllib.error.HTTPError) and cause.code == 401:
            what = "refused the credentials; check SCRAPYD_USERNAME and SCRAPYD_PASSWORD."
        elif isinstance(cause, urllib.error.HTTPError):
            what = f"answered HTTP {cause.code}; check SCRAPYD_URL."
        elif isinstance(cause, OSError):
            what = "cannot be reached; start Scrapyd or fix SCRAPYD_URL."
        else:
            what = "answered something other than its JSON API; check SCRAPYD_URL."
        return [Check(False, f"Scrapyd {shown}: {what}")]
    return [Check(True, f"Scrapyd {shown}: reachable with the credentials.")]


def run_checks(
    settings: BaseSettings, environ: dict[str, str], timeout: float, browser: bool = True
) -> list[Check]:
    checks = [*check_settings(settings), check_output_dir(settings)]
    checks.append(check_marketplace(settings, timeout))
    checks += check_mongo(settings, timeout)
    checks += check_redis(settings, timeout)
    if browser:
        checks.append(check_chromium(settings, timeout))
    checks += check_scrapyd(environ, timeout)
    return checks


class Command(ScrapyCommand):
    requires_project = True
    # the checks print their own lines; pymongo's and Scrapy's logs would drown them
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def short_desc(self) -> str:
        return "Check that the settings and the environment can run a crawl"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--timeout",
            type=float,
            default=5.0,
            metavar="SECONDS",
            help="the longest wait of each check (default: 5)",
        )
        parser.add_argument(
            "--no-browser",
            action="store_true",
            help="skip the Chromium check (only the dashboard spider needs Chromium)",
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        checks = run_checks(
            self.settings, dict(os.environ), opts.timeout, browser=not opts.no_browser
        )
        for check in checks:
            print(check.line(), flush=True)
        self.exitcode = 0 if all(c.ok for c in checks) else 1
