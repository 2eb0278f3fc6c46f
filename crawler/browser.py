"""How the dashboard spider reaches the dashboard: its settings
(:class:`DashboardConfig`), the credentials (from the environment only) and the
Playwright hook that keeps images, fonts and media out of the browser.

Settings (read once by :meth:`DashboardConfig.from_settings`; their values and
reasons: ``crawler/settings.py``, whose values are also the defaults of
settings objects that lack them, as in unit tests):

- ``DASHBOARD_URL``: the dashboard's base URL (empty: ``MARKETPLACE_URL``)
- ``DASHBOARD_TABLE_TIMEOUT``: the wait in seconds for one table page to render
- ``DASHBOARD_TABLE_RETRIES``: retries of a table page that failed to load
- ``DASHBOARD_SESSION_RENEWALS``: sign-ins again within one chunk before the
  chunk is given up
- ``DASHBOARD_MAX_CHUNK_DAYS``: the longest range the dashboard's filter takes
- ``DASHBOARD_DEBUG_DIR``: where a failed chunk's screenshot and HTML go
  (empty: ``<run dir>/debug``)
- a report page that does not open is retried as the retry middleware would:
  ``RETRY_TIMES``, ``RETRY_HTTP_CODES``, ``RETRY_BACKOFF_BASE``/``_MAX``

Environment: ``DASHBOARD_USERNAME`` and ``DASHBOARD_PASSWORD`` (never settings,
never arguments, never logged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crawler import settings as defaults
from crawler.args import PASSWORD_ENV, USERNAME_ENV
from crawler.backoff import exponential_delay
from crawler.exceptions import SpiderArgumentError

LOGIN_PATH = "/dashboard/login"
REPORT_PATH = "/dashboard/reports/{report}"
#: the browser context that holds the session cookie, shared by every page
CONTEXT_NAME = "dashboard"
#: resource types the dashboard pages do not need (PLAYWRIGHT_ABORT_REQUEST)
BLOCKED_RESOURCE_TYPES = frozenset({"image", "font", "media"})


@dataclass(frozen=True)
class Credentials:
    username: str = field(repr=False)
    password: str = field(repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Credentials:
        missing = [name for name in (USERNAME_ENV, PASSWORD_ENV) if not environ.get(name)]
        if missing:
            raise SpiderArgumentError(
                f"{' and '.join(missing)} must be set in the environment: the dashboard's "
                f"credentials come from environment variables only."
            )
        return cls(environ[USERNAME_ENV], environ[PASSWORD_ENV])


@dataclass(frozen=True)
class DashboardConfig:
    base_url: str
    table_timeout: float
    table_retries: int
    session_renewals: int
    max_chunk_days: int
    debug_dir: str | None
    #: a report page that answers one of these is retried (RETRY_HTTP_CODES)
    retry_http_codes: frozenset[int]
    #: the n-th retry of a report page waits base * 2 ** (n - 1), at most max
    retry_backoff_base: float
    retry_backoff_max: float

    @classmethod
    def from_settings(cls, settings: Any) -> DashboardConfig:
        base = settings.get("DASHBOARD_URL") or settings.get(
            "MARKETPLACE_URL", defaults.MARKETPLACE_URL
        )
        return cls(
            base_url=str(base).rstrip("/"),
            table_timeout=settings.getfloat(
                "DASHBOARD_TABLE_TIMEOUT", defaults.DASHBOARD_TABLE_TIMEOUT
            ),
            table_retries=settings.getint(
                "DASHBOARD_TABLE_RETRIES", defaults.DASHBOARD_TABLE_RETRIES
            ),
            session_renewals=settings.getint(
                "DASHBOARD_SESSION_RENEWALS", defaults.DASHBOARD_SESSION_RENEWALS
            ),
            max_chunk_days=settings.getint(
                "DASHBOARD_MAX_CHUNK_DAYS", defaults.DASHBOARD_MAX_CHUNK_DAYS
            ),
            debug_dir=settings.get("DASHBOARD_DEBUG_DIR") or None,
            retry_http_codes=frozenset(int(c) for c in settings.getlist("RETRY_HTTP_CODES")),
            retry_backoff_base=settings.getfloat("RETRY_BACKOFF_BASE", defaults.RETRY_BACKOFF_BASE),
            retry_backoff_max=settings.getfloat("RETRY_BACKOFF_MAX", defaults.RETRY_BACKOFF_MAX),
        )

    def retry_delay(self, attempt: int) -> float:
        """Seconds before the ``attempt``-th retry of a report page."""
        return exponential_delay(attempt, self.retry_backoff_base, self.retry_backoff_max)

    def login_url(self) -> str:
        return self.base_url + LOGIN_PATH

    def report_url(self, report: str) -> str:
        return self.base_url + REPORT_PATH.format(report=report)


# -- the browser ----------------------------------------------------------------------


def should_abort_request(request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: images, fonts and media are not data."""
    return request.resource_type in BLOCKED_RESOURCE_TYPES
