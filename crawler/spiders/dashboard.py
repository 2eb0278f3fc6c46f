"""``scrapy crawl dashboard``: sign in to the seller dashboard, then read a report's
JavaScript table chunk by chunk of dates, page by page, in Chromium.

Arguments (``-a``):
- ``report=orders`` (or ``traffic``), ``start=YYYY-MM-DD``, ``end=YYYY-MM-DD``
  (both included), ``chunk_days=N`` (default 7): the range is read in chunks of
  N days, one filter (date range + Apply) per chunk;
- ``parallel=N`` (default 1): browser pages at a time; dashboards expect one;
- ``chunks_file=PATH``: instead of report/start/end, the ``dashboard_chunk``
  records of a failures file (a retry run of the chunks that failed).

Environment: ``DASHBOARD_USERNAME``, ``DASHBOARD_PASSWORD`` (required);
``DASHBOARD_URL`` (default: ``MARKETPLACE_URL``).

Settings read (:class:`crawler.browser.DashboardConfig`): ``DASHBOARD_URL``,
``DASHBOARD_TABLE_TIMEOUT``, ``DASHBOARD_TABLE_RETRIES``,
``DASHBOARD_SESSION_RENEWALS``, ``DASHBOARD_MAX_CHUNK_DAYS``,
``DASHBOARD_DEBUG_DIR``; for a report page that does not open, ``RETRY_TIMES``,
``RETRY_HTTP_CODES`` and ``RETRY_BACKOFF_BASE``/``RETRY_BACKOFF_MAX`` (waits from
:func:`crawler.backoff.exponential_delay`); ``USER_AGENT`` is the browser's.
Settings set for this spider: ``DOWNLOAD_HANDLERS`` (scrapy-playwright for the
dashboard's scheme only), ``CONCURRENT_REQUESTS``,
``CONCURRENT_REQUESTS_PER_DOMAIN`` and ``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`` (all
``-a parallel``), ``AUTOTHROTTLE_ENABLED``, ``ROBOTSTXT_OBEY`` and
``COOKIES_ENABLED`` off, ``PLAYWRIGHT_PROCESS_REQUEST_HEADERS`` ``None``.

One browser context holds the session: the spider signs in once, before the
first chunk, and again when the dashboard says the session expired (one page
signs in, the others wait and reuse it). A chunk's rows are yielded only once
all its table pages were read, so a chunk is stored whole or not at all. A
chunk that cannot be read (a table page that keeps failing or not rendering
after ``DASHBOARD_TABLE_RETRIES`` retries, a session that expires more than
``DASHBOARD_SESSION_RENEWALS`` times, a rejected filter, fewer rows than the
table's total, a report page that does not open, a browser error) leaves a
screenshot and the page's HTML in the debug folder, one WARNING line and a
``dashboard_chunk`` record in the failures file
(:func:`crawler.failures.record_failure`). Wrong credentials stop the run before
any chunk: one ERROR line, finish reason ``login_failed``; a sign-in page that
does not open: finish reason ``dashboard_unreachable``.

Stats: ``dashboard/logins``, ``dashboard/sessions_expired``,
``dashboard/chunks/done``, ``dashboard/chunks/failed``,
``dashboard/table_pages``, ``dashboard/table_errors/<error|timeout>``,
``dashboard/table_retries``, ``dashboard/rows``,
``dashboard/cells_not_coerced/<column>``; a report page retried counts in
Scrapy's ``retry/count``, ``retry/reason_count/<reason>`` and
``retry/max_reached``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlsplit

import scrapy
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import CloseSpider

from crawler.args import PASSWORD_ENV, USERNAME_ENV, Chunk, DashboardArgs
from crawler.browser import CONTEXT_NAME, LOGIN_PATH, Credentials, DashboardConfig
from crawler.exceptions import ChunkError, ExtractionError, LoginError
from crawler.extract.dashboard import REPORTS, Report, extract_rows, parse_table, uncoerced
from crawler.failures import record_failure
from crawler.run import run_dir
from crawler.spiders.base import MarketplaceSpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from playwright.async_api import Page
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from crawler.items import DashboardRow

logger = logging.getLogger(__name__)

PLAYWRIGHT_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
# the dashboard pages' elements (sim/dashboard/pages.py and static/report.js render them)
USERNAME_INPUT = "form#login input[name=username]"
PASSWORD_INPUT = "form#login input[name=password]"
SIGN_IN = "form#login [type=submit]"
LOGIN_ERROR = "#login-error"
START_INPUT, END_INPUT, APPLY = "#start", "#end", "#apply"
TABLE, NEXT, RETRY, STATUS = "#report", "#next", "#retry", "#status"
SETTLED = ("ready", "error", "expired")
#: outcomes of reading a chunk's table other than its rows
EXPIRED, TIMEOUT = object(), object()


class DashboardSpider(MarketplaceSpider):
    name = "dashboard"
    # an instance attribute to Scrapy's typing (so no ClassVar); never mutated
    custom_settings: dict[str, Any] | None = {  # noqa: RUF012
        # concurrency is the number of browser pages (-a parallel), not a
        # latency-driven guess: a page stays open for a whole chunk
        "AUTOTHROTTLE_ENABLED": False,
        # the seller's own account behind a login, read as its user would:
        # robots.txt is for crawlers of the public site
        "ROBOTSTXT_OBEY": False,
        # the browser context keeps the session cookie and sends the browser's
        # own headers; Scrapy's headers and cookie jar would replace them on
        # every navigation (and lose the session)
        "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
        "COOKIES_ENABLED": False,
    }

    # the spider's state, set in from_crawler (the arguments and settings) and
    # in start (the session)
    args: DashboardArgs
    credentials: Credentials
    config: DashboardConfig
    #: held by the page that signs in again; the others wait, then reuse its session
    session_lock: asyncio.Lock
    #: bumped at every sign-in: a page that saw generation g expire signs in
    #: again only if nobody did since
    session_generation: int

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        """The browser for this spider only (the API spiders keep Scrapy's
        handler), and for the dashboard's scheme only: each handler instance
        starts a Playwright driver process of its own (~120 MB)."""
        super().update_settings(settings)
        scheme = urlsplit(DashboardConfig.from_settings(settings).base_url).scheme or "https"
        settings.set("DOWNLOAD_HANDLERS", {scheme: PLAYWRIGHT_HANDLER}, priority="spider")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Scrapy sets every -a argument as an attribute: "start" would shadow
        # the start() method (the arguments are parsed in from_crawler)
        kwargs.pop("start", None)
        super().__init__(*args, **kwargs)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.credentials = Credentials.from_env(os.environ)
        spider.config = DashboardConfig.from_settings(crawler.settings)
        # one page per chunk in flight; the handler waits for a free page slot
        parallel = spider.args.parallel
        for name in (
            "CONCURRENT_REQUESTS",
            "CONCURRENT_REQUESTS_PER_DOMAIN",
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT",
        ):
            crawler.settings.set(name, parallel, priority="spider")
        return spider

    @classmethod
    def parse_arguments(cls, kwargs: dict[str, Any], settings: Any) -> DashboardArgs:
        args = DashboardArgs.from_kwargs(kwargs, settings.getint("DASHBOARD_MAX_CHUNK_DAYS"))
        Credentials.from_env(os.environ)  # missing credentials: one sentence, before the crawl
        return args

    async def start(self) -> AsyncIterator[Any]:
        self.session_lock = asyncio.Lock()
        self.session_generation = 0
        await self.open_session()
        for chunk in self.args.chunks:
            yield self.chunk_request(chunk)

    # -- the session ----------------------------------------------------------

    def page_meta(self, **extra: Any) -> dict[str, Any]:
        """Meta of a request that opens a page of the shared context; the
        callback (or errback) owns the page and closes it."""
        return {
            "playwright": True,
            "playwright_include_page": True,
            "playwright_context": CONTEXT_NAME,
            # used when the context is created: the browser as USER_AGENT says
            "playwright_context_kwargs": {"user_agent": self.settings.get("USER_AGENT")},
            **extra,
        }

    async def open_session(self) -> None:
        """Sign in before the first chunk, or stop the run with one ERROR line."""
        url = self.config.login_url()
        request = scrapy.Request(url, meta=self.page_meta(), dont_filter=True)
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # the download failed for good: a boundary
            await self.close_page(request.meta.get("playwright_page"))
            logger.error("Dashboard sign-in page %s cannot be opened: %s", url, _first_line(exc))
            raise CloseSpider("dashboard_unreachable") from None
        page: Page = response.meta["playwright_page"]
        try:
            if response.status != 200:
                logger.error("Dashboard sign-in page %s answered %d.", url, response.status)
                raise CloseSpider("dashboard_unreachable")
            page.set_default_timeout(self.config.table_timeout * 1000)
            await self.sign_in(page)
        except LoginError as exc:
            logger.error("%s", exc)
            raise CloseSpider("login_failed") from None
        finally:
            await self.close_page(page)

    async def sign_in(self, page: Page) -> None:
        """Fill and send the sign-in form on ``page``. Raises :class:`LoginError`.

        Playwright's errors quote the values an action typed: they are never
        logged or kept, only their type."""
        if urlsplit(page.url).path != LOGIN_PATH:
            await page.goto(self.config.login_url())
        try:
            await page.fill(USERNAME_INPUT, self.credentials.username)
            await page.fill(PASSWORD_INPUT, self.credentials.password)
            async with page.expect_navigation():
                await page.click(SIGN_IN)
        except PlaywrightError as exc:
            raise LoginError(
                f"Dashboard sign-in failed at {self.config.login_url()}: the form could not "
                f"be sent ({type(exc).__name__})."
            ) from None
        if urlsplit(page.url).path == LOGIN_PATH:
            said = " ".join(await page.locator(LOGIN_ERROR).all_text_contents()).strip()
            raise LoginError(
                f"Dashboard sign-in refused at {self.config.login_url()}: "
                f"{said or 'no message'!r}. Check {USERNAME_ENV} and {PASSWORD_ENV}."
            )
        self.session_generation += 1
        self.crawler.stats.inc_value("dashboard/logins")

    async def renew_session(self, page: Page, generation: int) -> None:
        async with self.session_lock:
            if self.session_generation != generation:
                return  # another page signed in again meanwhile
            try:
                await self.sign_in(page)
            except LoginError as exc:
                logger.error("%s", exc)
                raise CloseSpider("login_failed") from None

    # -- chunks ---------------------------------------------------------------

    def chunk_request(self, chunk: Chunk) -> scrapy.Request:
        # one URL for every chunk of a report: dont_filter
        return scrapy.Request(
            self.config.report_url(chunk.report),
            callback=self.parse_chunk,
            errback=self.chunk_error,
            cb_kwargs={"chunk": chunk},
            meta=self.page_meta(kind="dashboard_chunk", record_id=chunk.label, dont_retry=True),
            dont_filter=True,
        )

    async def parse_chunk(self, response: Response, chunk: Chunk) -> AsyncIterator[DashboardRow]:
        page: Page = response.meta["playwright_page"]
        rows: list[DashboardRow] | None = None
        try:
            page.set_default_timeout(self.config.table_timeout * 1000)
            rows = await self.read_chunk(page, chunk)
        except ChunkError as exc:
            await self.fail_chunk(page, chunk, exc.reason, str(exc), exc.attempts)
        except PlaywrightError as exc:  # the browser let us down: a boundary
            await self.fail_chunk(page, chunk, "browser_error", _first_line(exc), 1)
        finally:
            await self.close_page(page)
        if rows is None:
            return
        self.crawler.stats.inc_value("dashboard/chunks/done")
        self.crawler.stats.inc_value("dashboard/rows", len(rows))
        for row in rows:
            yield row

    async def chunk_error(self, failure: Failure) -> list[scrapy.Request]:
        """Errback: the report page did not open (an HTTP error, a navigation
        error). The page is closed first, then the chunk is retried on a new
        page (``RETRY_TIMES``, waits as the retry middleware's), or recorded.

        Chunk requests are ``dont_retry``: the retry middleware would keep the
        failed page open in the retried request's meta while the next chunk
        waits for a free page, and with one page at a time nothing would move."""
        request = failure.request  # type: ignore[attr-defined]
        page = request.meta.get("playwright_page")
        chunk: Chunk = request.cb_kwargs["chunk"]
        status = getattr(getattr(failure.value, "response", None), "status", None)
        reason = f"http_{status}" if status else "navigation_error"
        retry = None
        if status is None or status in self.config.retry_http_codes:
            retry = get_retry_request(request, spider=self, reason=reason)
        try:
            if retry is None:
                await self.fail_chunk(
                    page,
                    chunk,
                    reason,
                    _first_line(failure.value),
                    request.meta.get("retry_times", 0) + 1,
                )
        finally:
            await self.close_page(page)
        if retry is None:
            return []
        retry.meta.pop("playwright_page", None)
        await asyncio.sleep(self.config.retry_delay(retry.meta["retry_times"]))
        return [retry]

    async def read_chunk(self, page: Page, chunk: Chunk) -> list[DashboardRow]:
        """Every row of ``chunk``. A session that expired restarts the chunk after
        a new sign-in; a table that does not render in time restarts it too."""
        url = self.config.report_url(chunk.report)
        stats = self.crawler.stats
        expired = timeouts = 0
        while True:
            generation = self.session_generation
            on_login = urlsplit(page.url).path == LOGIN_PATH
            outcome = EXPIRED if on_login else await self.read_table(page, chunk)
            if isinstance(outcome, list):
                return outcome
            if outcome is EXPIRED:
                stats.inc_value("dashboard/sessions_expired")
                expired += 1
                if expired > self.config.session_renewals:
                    raise ChunkError(
                        "session_expired",
                        f"{chunk.label}: the session expired {expired} times",
                        expired,
                    )
                await self.renew_session(page, generation)
            else:
                timeouts += 1
                if timeouts > self.config.table_retries:
                    raise ChunkError(
                        "table_timeout",
                        f"{chunk.label}: the table did not render within "
                        f"{self.config.table_timeout:g} s, {timeouts} times",
                        timeouts,
                    )
                stats.inc_value("dashboard/table_retries")
            await page.goto(url)

    async def read_table(self, page: Page, chunk: Chunk) -> list[DashboardRow] | object:
        """Apply the chunk's dates and read every table page: the rows, or
        :data:`EXPIRED` (the session expired), or :data:`TIMEOUT`. A page that
        fails to load is retried with the Retry button."""
        report = REPORTS[chunk.report]
        stats = self.crawler.stats
        await page.fill(START_INPUT, chunk.start.isoformat())
        await page.fill(END_INPUT, chunk.end.isoformat())
        await page.click(APPLY)
        rows: list[DashboardRow] = []
        number, failures = 1, 0
        while True:
            state = await self.wait_table(page, number)
            if state == "expired":
                return EXPIRED
            if state == "timeout":
                stats.inc_value("dashboard/table_errors/timeout")
                return TIMEOUT
            if state != "ready":
                status = " ".join((await page.text_content(STATUS) or "").split())
                if state == "invalid":
                    raise ChunkError("filter_rejected", f"{chunk.label}: {status}", 1)
                stats.inc_value("dashboard/table_errors/error")
                failures += 1
                if failures > self.config.table_retries:
                    raise ChunkError(
                        "table_error", f"{chunk.label}: table page {number}: {status}", failures
                    )
                stats.inc_value("dashboard/table_retries")
                await page.click(RETRY)
                continue
            failures = 0
            html = await page.eval_on_selector(TABLE, "table => table.outerHTML")
            rows.extend(self.table_rows(report, html, page.url))
            stats.inc_value("dashboard/table_pages")
            if number >= int(await page.get_attribute(TABLE, "data-pages") or 1):
                break
            await page.click(NEXT)
            number += 1
        total = await page.get_attribute(TABLE, "data-total")
        if total != str(len(rows)):
            raise ChunkError(
                "incomplete_table",
                f"{chunk.label}: read {len(rows)} rows, the table says {total}",
                1,
            )
        return rows

    async def wait_table(self, page: Page, number: int) -> str:
        """The table's state once page ``number`` settled, or ``timeout``."""
        settled = ", ".join(
            f'{TABLE}[data-page="{number}"][data-state="{state}"]' for state in SETTLED
        )
        try:
            await page.wait_for_selector(
                f'{settled}, {TABLE}[data-state="invalid"]',
                state="attached",
                timeout=self.config.table_timeout * 1000,
            )
        except PlaywrightTimeoutError:
            return "timeout"
        return await page.get_attribute(TABLE, "data-state") or "timeout"

    def table_rows(self, report: Report, html: str, url: str) -> list[DashboardRow]:
        try:
            rows = extract_rows(report, parse_table(html), url, datetime.now(UTC))
        except ExtractionError as exc:
            raise ChunkError(exc.reason, str(exc), 1) from None
        for row in rows:
            for column in uncoerced(report, row):
                self.crawler.stats.inc_value(f"dashboard/cells_not_coerced/{column}")
        return rows

    # -- failures -----------------------------------------------------------------

    async def fail_chunk(
        self, page: Page | None, chunk: Chunk, reason: str, message: str, attempts: int
    ) -> None:
        """Record a chunk that failed for good: debug files, stats, the failures file."""
        if page is not None and not page.is_closed():
            await self.save_debug(page, chunk)
        self.crawler.stats.inc_value("dashboard/chunks/failed")
        record_failure(
            self.crawler,
            kind="dashboard_chunk",
            record_id=chunk.label,
            url=self.config.report_url(chunk.report),
            reason=reason,
            message=message,
            attempts=attempts,
        )

    def debug_dir(self) -> Path:
        return Path(self.config.debug_dir) if self.config.debug_dir else run_dir(self) / "debug"

    async def save_debug(self, page: Page, chunk: Chunk) -> None:
        """A screenshot and the HTML of the page a chunk failed on."""
        folder = self.debug_dir()
        stem = re.sub(r"[^A-Za-z0-9.-]+", "_", chunk.label)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(folder / f"{stem}.png"), full_page=True)
            (folder / f"{stem}.html").write_text(await page.content(), encoding="utf-8")
        except (PlaywrightError, OSError) as exc:
            logger.warning("No debug files for %s: %s", chunk.label, _first_line(exc))

    async def close_page(self, page: Page | None) -> None:
        if page is not None and not page.is_closed():
            await page.close()


def _first_line(exc: BaseException | None) -> str:
    """The first line of an error's message (or its type's name): a log line,
    a failure record's message. ``None``: Twisted types ``Failure.value`` as
    optional, though an errback's failure always holds its exception."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
