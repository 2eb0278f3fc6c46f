"""The ``MONGO_*`` settings, read once into :class:`MongoConfig`,
:func:`is_transient`: which errors a later attempt may not meet, and
:func:`open_problem`: the one sentence for a server that cannot be used at
open."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from crawler import settings as defaults
from crawler.backoff import exponential_delay
from crawler.redact import redact_url

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


@dataclass(frozen=True, slots=True)
class MongoConfig:
    """The ``MONGO_*`` settings, read once (see :mod:`crawler.pipelines.mongo`);
    their defaults are those of :mod:`crawler.settings`, also for settings objects
    that lack them (unit tests)."""

    uri: str
    database: str
    batch_size: int
    flush_seconds: float
    retry_times: int
    retry_backoff: float
    retry_backoff_max: float
    timeout_seconds: float
    socket_timeout_seconds: float
    journal: bool

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> MongoConfig | None:
        """``None`` when ``MONGO_URI`` is empty; :class:`ValueError` naming the
        setting when a value is out of range."""
        uri = (settings.get("MONGO_URI") or "").strip()
        if not uri:
            return None
        config = cls(
            uri=uri,
            database=settings.get("MONGO_DATABASE") or defaults.MONGO_DATABASE,
            batch_size=settings.getint("MONGO_BATCH_SIZE", defaults.MONGO_BATCH_SIZE),
            flush_seconds=settings.getfloat("MONGO_FLUSH_SECONDS", defaults.MONGO_FLUSH_SECONDS),
            retry_times=settings.getint("MONGO_RETRY_TIMES", defaults.MONGO_RETRY_TIMES),
            retry_backoff=settings.getfloat("MONGO_RETRY_BACKOFF", defaults.MONGO_RETRY_BACKOFF),
            retry_backoff_max=settings.getfloat(
                "MONGO_RETRY_BACKOFF_MAX", defaults.MONGO_RETRY_BACKOFF_MAX
            ),
            timeout_seconds=settings.getfloat(
                "MONGO_TIMEOUT_SECONDS", defaults.MONGO_TIMEOUT_SECONDS
            ),
            socket_timeout_seconds=settings.getfloat(
                "MONGO_SOCKET_TIMEOUT_SECONDS", defaults.MONGO_SOCKET_TIMEOUT_SECONDS
            ),
            journal=settings.getbool("MONGO_JOURNAL", defaults.MONGO_JOURNAL),
        )
        for name, value, low in (
            ("MONGO_BATCH_SIZE", config.batch_size, 1),
            ("MONGO_FLUSH_SECONDS", config.flush_seconds, 0.01),
            ("MONGO_RETRY_TIMES", config.retry_times, 0),
            ("MONGO_RETRY_BACKOFF", config.retry_backoff, 0),
            ("MONGO_TIMEOUT_SECONDS", config.timeout_seconds, 0.01),
            ("MONGO_SOCKET_TIMEOUT_SECONDS", config.socket_timeout_seconds, 0.01),
        ):
            if value < low:
                raise ValueError(f"{name} must be at least {low}, got {value}.")
        return config

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`pymongo.MongoClient` (they override the
        same options in the URI)."""
        return {
            "serverSelectionTimeoutMS": int(self.timeout_seconds * 1000),
            "connectTimeoutMS": int(self.timeout_seconds * 1000),
            "socketTimeoutMS": int(self.socket_timeout_seconds * 1000),
            # a write counts as stored once it is in the server's journal
            "journal": self.journal,
            "appname": "marketplace-crawler",
            "tz_aware": True,
        }

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return exponential_delay(attempt, self.retry_backoff, self.retry_backoff_max)

    @property
    def where(self) -> str:
        """The server, for log lines: the URI without credentials or options."""
        return redact_url(self.uri, path=False) + "/" + self.database


#: labels and codes of errors that a later attempt may not meet (a server
#: starting, stopping, stepping down, or out of reach)
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


_TRANSIENT_CODES = {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}


def is_transient(exc: BaseException) -> bool:
    """Whether writing again later may succeed where ``exc`` was raised."""
    if isinstance(exc, ConnectionFailure):
        return True
    if isinstance(exc, BulkWriteError):  # only write-concern errors: nothing was refused
        return not exc.details.get("writeErrors") and bool(exc.details.get("writeConcernErrors"))
    if isinstance(exc, PyMongoError):
        code = getattr(exc, "code", None)
        return any(map(exc.has_error_label, _TRANSIENT_LABELS)) or code in _TRANSIENT_CODES
    return False


_CONNECT_CALL_FAILED = re.compile(r"\[Errno (\d+)\] Connect call failed \([^)]*\)")


#: AuthenticationFailed, and Unauthorized (no credentials, or no rights)
AUTH_FAILED, UNAUTHORIZED = 18, 13


def short_error(exc: BaseException) -> str:
    """The first part of a pymongo error: its server's answer without the
    topology description or the full reply (which run to ~600 characters)."""
    if isinstance(exc, OperationFailure):
        details = exc.details or {}
        return str(details.get("errmsg") or exc).strip()
    text = str(exc)
    for cut in (", Timeout:", " (configured timeouts:", ", full error:"):
        text = text.split(cut, 1)[0]
    # the async client's sockets are asyncio's, whose refusal repeats the
    # address: "[Errno 111] Connect call failed ('127.0.0.1', 27017)"
    text = _CONNECT_CALL_FAILED.sub(lambda m: f"[Errno {m[1]}] {os.strerror(int(m[1]))}", text)
    return text.strip() or type(exc).__name__


def open_problem(config: MongoConfig, exc: BaseException) -> tuple[str, str]:
    """``(finish reason, sentence)`` for an error met at open, before any item:
    credentials refused, rights refused, server out of reach, or any other
    error of the driver."""
    where = config.where
    if isinstance(exc, OperationFailure) and exc.code == AUTH_FAILED:
        return (
            "mongo_auth_failed",
            f"MongoDB at {where} refused the credentials of MONGO_URI "
            f"({short_error(exc)}); check the user name, the password and authSource.",
        )
    if isinstance(exc, OperationFailure) and exc.code == UNAUTHORIZED:
        return (
            "mongo_auth_failed",
            f"MongoDB at {where} refused access to database {config.database} "
            f"({short_error(exc)}); check the credentials in MONGO_URI and that the "
            f"user may read and write {config.database}.",
        )
    if isinstance(exc, ConnectionFailure):
        return (
            "mongo_unavailable",
            f"MongoDB at {where} cannot be reached within {config.timeout_seconds:g} s "
            f"({short_error(exc)}); check MONGO_URI and that the server is up.",
        )
    if isinstance(exc, ConfigurationError):
        return ("mongo_unavailable", f"MONGO_URI is not usable: {short_error(exc)}.")
    return (
        "mongo_unavailable",
        f"MongoDB at {where} failed at open ({type(exc).__name__}: {short_error(exc)}).",
    )
