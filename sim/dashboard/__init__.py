"""The simulated BI dashboard: a login form, then report tables rendered by JavaScript.

Pages (HTML) and data (JSON for the pages' XHR):
  GET  /dashboard/login[?next=]        sign-in form; a fresh CSRF token in a hidden field and
                                       in the `dash_csrf` cookie
  POST /dashboard/login                303 to `next` (or /dashboard/) with a `dash_session`
                                       cookie | 401 wrong credentials | 403 bad CSRF token
  GET  /dashboard/                     the list of reports           (no session: 302 to login)
  GET  /dashboard/reports/{report}     date range inputs, Apply, a table filled by JavaScript,
                                       Next/Previous/Retry buttons; `#report[data-state]` is
                                       idle|loading|ready|error|expired|invalid
  GET  /dashboard/data/{report}?start=&end=&page=   a page of rows (401 once the session expired)
  GET  /dashboard/static/{name}        a logo, a web font, a video: a crawler should block them
Control (never faulted):
  GET  /_sim/truth/dashboard?report=&start=&end=    every row of the range, typed
  GET  /_sim/dashboard/stats                        counters (zeroed by POST /_sim/reset)
  GET|POST /_sim/dashboard/config                   the knobs below
  `POST /_sim/config` also takes the dashboard_* knobs (hook: `configure_dashboard`); its
  answer and `GET /_sim/config` show the catalogue's knobs only. `POST /_sim/reset?state=1`
  restores them (hook: `reset_dashboard`).

Knobs (CLI `--dashboard-render-delay-ms` etc., or POST /_sim/config):
  dashboard_render_delay_ms   the data XHR answers after this delay (ms)
  dashboard_session_seconds   a session expires this long after its login
  dashboard_session_loads     ... or after this many table loads (0 = no limit): a
                              deterministic expiry for tests
  dashboard_fail_rate         share of table loads answered 500 (seeded dice)
  dashboard_fail_every        every Nth table load is answered 500 (0 = off)
  dashboard_fail_days         table loads whose range holds one of these days always fail
  dashboard_down_reports      reports whose page answers 503 (the page, not its table)
  dashboard_page_size         rows per table page
  dashboard_max_range_days    the longest range the filter accepts
Credentials are options, not knobs: `--dashboard-user`, `--dashboard-password`.

Rows are a pure function of (seed, report, day): `report_rows` is both what the pages show
and the ground truth.

Modules: `reports` (columns and rows), `state` (options, knobs, sessions, counters),
`pages` (the HTML; the report page's script is `static/report.js`, read once at import and
inlined in the page), `app` (the routes and the hooks of `sim.server`). This package
re-exports what `sim.server`, `sim.__main__` and the tests use.
"""

from sim.dashboard.app import configure_dashboard, reset_dashboard, setup_dashboard
from sim.dashboard.reports import CHANNELS, REPORTS, range_rows, report_rows, truth_rows
from sim.dashboard.state import (
    CSRF_COOKIE,
    DASHBOARD_KNOBS,
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    PREFIX,
    SESSION_COOKIE,
    STATE,
    DashboardKnobError,
    DashboardOptions,
    DashboardState,
    Session,
    add_dashboard_arguments,
    dashboard_options,
    split_knobs,
    validate_knobs,
)

__all__ = [
    "CHANNELS",
    "CSRF_COOKIE",
    "DASHBOARD_KNOBS",
    "DEFAULT_PASSWORD",
    "DEFAULT_USER",
    "PREFIX",
    "REPORTS",
    "SESSION_COOKIE",
    "STATE",
    "DashboardKnobError",
    "DashboardOptions",
    "DashboardState",
    "Session",
    "add_dashboard_arguments",
    "configure_dashboard",
    "dashboard_options",
    "range_rows",
    "report_rows",
    "reset_dashboard",
    "setup_dashboard",
    "split_knobs",
    "truth_rows",
    "validate_knobs",
]
