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
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import html
import math
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import orjson
from aiohttp import web

from sim.faults import KnobError
from sim.faults import validate_knobs as validate_fault_knobs
from sim.util import mix
from sim.words import SELLERS

PREFIX = "/dashboard"
SESSION_COOKIE = "dash_session"
CSRF_COOKIE = "dash_csrf"
DEFAULT_USER = "analyst"
DEFAULT_PASSWORD = "sim-dashboard-secret"

DASHBOARD_KNOBS: dict[str, object] = {
    "dashboard_render_delay_ms": 300.0,
    "dashboard_session_seconds": 1800.0,
    "dashboard_session_loads": 0,
    "dashboard_fail_rate": 0.0,
    "dashboard_fail_every": 0,
    "dashboard_fail_days": [],
    "dashboard_down_reports": [],
    "dashboard_page_size": 10,
    "dashboard_max_range_days": 31,
}
_WHOLE = (
    "dashboard_session_loads",
    "dashboard_fail_every",
    "dashboard_page_size",
    "dashboard_max_range_days",
)
_AT_LEAST_ONE = ("dashboard_page_size", "dashboard_max_range_days")
_SALT_ORDERS, _SALT_TRAFFIC, _SALT_FAIL = 0xD0, 0xD1, 0xD2

# -- reports: columns and rows ---------------------------------------------------------

#: report -> [(column key, header label, type)]; the first two columns make a row's key
REPORTS: dict[str, list[tuple[str, str, str]]] = {
    "orders": [
        ("day", "Date", "date"),
        ("seller_id", "Seller ID", "int"),
        ("seller", "Seller", "text"),
        ("orders", "Orders", "int"),
        ("units", "Units", "int"),
        ("revenue", "Revenue", "money"),
        ("refund_rate", "Refund rate", "percent"),
    ],
    "traffic": [
        ("day", "Date", "date"),
        ("channel", "Channel", "text"),
        ("sessions", "Sessions", "int"),
        ("orders", "Orders", "int"),
        ("conversion_rate", "Conversion rate", "percent"),
    ],
}
CHANNELS = ["Direct", "Organic search", "Paid search", "Social", "Email", "Referral"]


def report_rows(seed: int, report: str, day: date) -> list[dict[str, Any]]:
    """The rows of one day of a report, in table order (keyed by their first two columns)."""
    n = day.toordinal()
    rows: list[dict[str, Any]] = []
    if report == "orders":
        for i, name in enumerate(SELLERS):
            h = mix(seed, _SALT_ORDERS, n, i)
            if h % 100 >= 45:  # a seller sells on ~45% of days
                continue
            orders = 1 + (h >> 8) % 180
            units = orders + (h >> 16) % (orders * 2)
            revenue = units * (19_000 + ((h >> 24) % 400) * 5_000)
            rows.append(
                {
                    "day": day,
                    "seller_id": 101 + i,
                    "seller": name,
                    "orders": orders,
                    "units": units,
                    "revenue": revenue,
                    "refund_rate": ((h >> 40) % 150) / 10,
                }
            )
    elif report == "traffic":
        for i, channel in enumerate(CHANNELS):
            h = mix(seed, _SALT_TRAFFIC, n, i)
            if i == 4 and day.weekday() >= 5:  # no e-mail campaigns at weekends
                continue
            sessions = 200 + h % 30_000
            orders = (h >> 20) % max(1, sessions // 25)
            rows.append(
                {
                    "day": day,
                    "channel": channel,
                    "sessions": sessions,
                    "orders": orders,
                    "conversion_rate": round(100 * orders / sessions, 1),
                }
            )
    return rows


def range_rows(seed: int, report: str, start: date, end: date) -> list[dict[str, Any]]:
    days = (end - start).days + 1
    return [row for k in range(days) for row in report_rows(seed, report, start + timedelta(k))]


def truth_rows(seed: int, report: str, start: date, end: date) -> list[dict[str, Any]]:
    """Ground truth: `{"key": "<day>:<second column>", "day", "values"}` per row."""
    key_column = REPORTS[report][1][0]
    return [
        {
            "key": f"{row['day'].isoformat()}:{row[key_column]}",
            "day": row["day"].isoformat(),
            "values": {k: v for k, v in row.items() if k != "day"},
        }
        for row in range_rows(seed, report, start, end)
    ]


# -- options, knobs, sessions ----------------------------------------------------------


class DashboardKnobError(KnobError):
    """A bad dashboard knob; the control routes answer 400 with this message."""


@dataclass(frozen=True)
class DashboardOptions:
    seed: int = 1
    user: str = DEFAULT_USER
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    knobs: dict[str, object] = field(default_factory=dict)


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dashboard (see sim/dashboard.py)")
    group.add_argument("--dashboard-user", default=DEFAULT_USER)
    group.add_argument("--dashboard-password", default=DEFAULT_PASSWORD)
    for name, default in DASHBOARD_KNOBS.items():
        kind = str if isinstance(default, list) else type(default)
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            type=kind,
            default=None,
            help=f"default {default!r}",
        )


def dashboard_options(args: argparse.Namespace) -> DashboardOptions:
    knobs = {k: getattr(args, k) for k in DASHBOARD_KNOBS if getattr(args, k) is not None}
    try:
        validate_knobs(knobs)
    except DashboardKnobError as exc:
        raise SystemExit(f"bad dashboard flag: {exc}") from None
    return DashboardOptions(
        seed=args.seed, user=args.dashboard_user, password=args.dashboard_password, knobs=knobs
    )


def configure_dashboard(app: web.Application, update: object) -> object:
    """The hook of `POST /_sim/config`: apply the update's dashboard_* knobs and
    return the rest for the simulator's own store. Both parts are validated
    before either is applied (all or nothing); raises a KnobError."""
    own, rest = split_knobs(update)
    if own:
        validate_fault_knobs(rest)
        app[STATE].configure(own)
    return rest


def reset_dashboard(app: web.Application, knobs: bool) -> None:
    """The hook of `POST /_sim/reset`: zero the counters; `knobs`: also restore the
    knobs given at start-up and drop every session."""
    app[STATE].reset(knobs)


def split_knobs(update: object) -> tuple[dict[str, object], object]:
    """(the dashboard_* part, the rest) of a knob update; a non-dict goes to the rest."""
    if not isinstance(update, dict):
        return {}, update
    own = {k: v for k, v in update.items() if k.startswith("dashboard_")}
    return own, {k: v for k, v in update.items() if k not in own}


def _day(text: object) -> date:
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise DashboardKnobError(f"{text!r} is not a YYYY-MM-DD date") from None


def validate_knobs(update: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in update.items():
        if name not in DASHBOARD_KNOBS:
            raise DashboardKnobError(f"unknown knob {name!r}; known: {', '.join(DASHBOARD_KNOBS)}")
        if name in ("dashboard_fail_days", "dashboard_down_reports"):
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)):
                raise DashboardKnobError(f"knob {name!r} must be a list, got {value!r}")
            names = {str(item).strip() for item in items if str(item).strip()}
            if name == "dashboard_fail_days":
                names = {_day(item).isoformat() for item in names}
            elif names - set(REPORTS):
                raise DashboardKnobError(f"knob {name!r}: no report {sorted(names - set(REPORTS))}")
            out[name] = sorted(names)
            continue
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number) or number < 0:
            raise DashboardKnobError(f"knob {name!r} must be a number >= 0, got {value!r}")
        if name == "dashboard_fail_rate" and number > 1:
            raise DashboardKnobError(f"knob {name!r} is a share within [0, 1], got {value!r}")
        if name in _WHOLE:
            if number != int(number) or (name in _AT_LEAST_ONE and number < 1):
                raise DashboardKnobError(f"knob {name!r} must be a whole number, got {value!r}")
            out[name] = int(number)
        else:
            out[name] = number
    return out


@dataclass
class Session:
    created: float
    loads: int = 0


class DashboardState:
    """Knobs, credentials, CSRF tokens, sessions and counters of one simulator."""

    def __init__(self, options: DashboardOptions) -> None:
        self.options = options
        self.knobs: dict[str, object] = dict(DASHBOARD_KNOBS)
        self.configure(options.knobs)
        self.rng = random.Random(mix(options.seed, _SALT_FAIL))
        self.csrf_tokens: set[str] = set()
        self.sessions: dict[str, Session] = {}
        self.stats: Counter[str] = Counter()

    def configure(self, update: dict[str, object]) -> dict[str, object]:
        """Merge validated dashboard knobs (all or nothing); return them all."""
        self.knobs.update(validate_knobs(update))
        self.fail_days = frozenset(date.fromisoformat(d) for d in self.knobs["dashboard_fail_days"])  # type: ignore[attr-defined]
        return dict(self.knobs)

    def reset(self, knobs: bool) -> None:
        self.stats.clear()
        if knobs:
            self.knobs = dict(DASHBOARD_KNOBS)
            self.configure(self.options.knobs)
            self.sessions.clear()

    def knob(self, name: str) -> float:
        return float(self.knobs[name])  # type: ignore[arg-type]

    def session(self, request: web.Request) -> Session | None:
        """The request's live session; an expired one is dropped and counted."""
        token = request.cookies.get(SESSION_COOKIE, "")
        session = self.sessions.get(token)
        if session is None:
            return None
        loads_cap = int(self.knob("dashboard_session_loads"))
        too_old = time.monotonic() - session.created > self.knob("dashboard_session_seconds")
        if too_old or (loads_cap and session.loads >= loads_cap):
            del self.sessions[token]
            self.stats["sessions_expired"] += 1
            return None
        return session

    def load_fails(self, start: date, end: date) -> bool:
        """Roll the dice of one table load (one draw per load keeps runs reproducible)."""
        roll = self.rng.random()
        every = int(self.knob("dashboard_fail_every"))
        if every and self.stats["table_loads"] % every == 0:
            return True
        if any(start <= day <= end for day in self.fail_days):
            return True
        return roll < self.knob("dashboard_fail_rate")


STATE: web.AppKey[DashboardState] = web.AppKey("dashboard", DashboardState)


# -- HTML --------------------------------------------------------------------------------

_STYLE = """<style>
@font-face { font-family: "Inter"; src: url("/dashboard/static/inter.woff2") format("woff2"); }
body { font-family: "Inter", sans-serif; margin: 2rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .5rem; }
td.num { text-align: right; } .error { color: #b00; }
</style>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'{_STYLE}</head><body><header><img src="/dashboard/static/logo.png" alt="" '
        f'width="32" height="32"> Marketplace Seller Center</header>{body}</body></html>'
    )
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(value: str | None) -> str:
    if value and value.startswith(PREFIX + "/") and "//" not in value:
        return value
    return PREFIX + "/"


def _login_page(
    state: DashboardState, next_url: str, error: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(24)
    state.csrf_tokens.add(token)
    message = f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else ""
    body = f"""<main><h1>Sign in</h1>{message}
<form id="login" method="post" action="{PREFIX}/login">
<input type="hidden" name="csrf_token" value="{token}">
<input type="hidden" name="next" value="{html.escape(next_url)}">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password
<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit" id="sign-in">Sign in</button></form></main>"""
    response = _page("Sign in", body, status)
    response.set_cookie(CSRF_COOKIE, token, path=PREFIX, httponly=True, samesite="Lax")
    return response


def _to_login(request: web.Request) -> web.Response:
    target = f"{PREFIX}/login?next={request.rel_url.path}"
    raise web.HTTPFound(target, headers={"Cache-Control": "no-store"})


_REPORT_SCRIPT = """
(() => {
  const table = document.getElementById("report"), tbody = table.tBodies[0];
  const status = document.getElementById("status"), info = document.getElementById("page-info");
  const next = document.getElementById("next"), prev = document.getElementById("prev");
  const retry = document.getElementById("retry");
  const range = {start: "", end: ""};
  let seq = 0;
  const number = new Intl.NumberFormat("vi-VN");
  const money = new Intl.NumberFormat("vi-VN", {style: "currency", currency: "VND"});
  const percent = new Intl.NumberFormat(
    "vi-VN", {minimumFractionDigits: 1, maximumFractionDigits: 1});
  const show = {
    date: v => v.slice(8, 10) + "/" + v.slice(5, 7) + "/" + v.slice(0, 4),
    int: v => number.format(v), money: v => money.format(v), percent: v => percent.format(v) + " %",
    text: v => v,
  };
  function setState(name, message) {
    table.dataset.state = name; status.textContent = message;
    status.className = ["error", "expired", "invalid"].includes(name) ? "error" : "";
    retry.hidden = name !== "error";
  }
  async function load(page) {
    const mine = ++seq;
    table.dataset.page = String(page);
    tbody.replaceChildren(); next.disabled = prev.disabled = true;
    setState("loading", "Loading…");
    const query = new URLSearchParams({start: range.start, end: range.end, page: String(page)});
    let response;
    try {
      response = await fetch("/dashboard/data/" + table.dataset.report + "?" + query,
                             {credentials: "same-origin", headers: {"X-Requested-With": "fetch"}});
    } catch (err) {
      if (mine === seq) setState("error", "Could not reach the server. Try again.");
      return;
    }
    if (mine !== seq) return;
    if (response.status === 401) {
      setState("expired", "Your session has expired. Please sign in again.");
      return;
    }
    if (!response.ok) {
      setState("error",
               "The report could not be loaded (HTTP " + response.status + "). Try again.");
      return;
    }
    const data = await response.json();
    if (mine !== seq) return;
    const head = document.createElement("tr");
    for (const column of data.columns) {
      const th = document.createElement("th"); th.textContent = column.label; head.append(th);
    }
    table.tHead.replaceChildren(head);
    for (const row of data.rows) {
      const tr = document.createElement("tr");
      for (const column of data.columns) {
        const td = document.createElement("td");
        td.textContent = show[column.type](row[column.key]);
        if (column.type !== "text" && column.type !== "date") td.className = "num";
        tr.append(td);
      }
      tbody.append(tr);
    }
    if (!data.rows.length) {
      const tr = document.createElement("tr"), td = document.createElement("td");
      tr.className = "empty"; td.colSpan = data.columns.length;
      td.textContent = "No data for this date range."; tr.append(td); tbody.append(tr);
    }
    table.dataset.pages = String(data.pages); table.dataset.total = String(data.total);
    info.textContent = "Page " + data.page + " of " + data.pages;
    next.disabled = data.page >= data.pages; prev.disabled = data.page <= 1;
    setState("ready", data.total + " rows");
  }
  document.getElementById("apply").addEventListener("click", () => {
    const start = document.getElementById("start").value;
    const end = document.getElementById("end").value;
    const days = (Date.parse(end) - Date.parse(start)) / 86400000 + 1;
    if (!start || !end || !(days >= 1)) {
      setState("invalid", "Choose a start date on or before the end date."); return;
    }
    if (days > Number(table.dataset.maxDays)) {
      setState("invalid", "Choose a range of at most " + table.dataset.maxDays + " days."); return;
    }
    range.start = start; range.end = end; load(1);
  });
  next.addEventListener("click", () => load(Number(table.dataset.page) + 1));
  prev.addEventListener("click", () => load(Number(table.dataset.page) - 1));
  retry.addEventListener("click", () => load(Number(table.dataset.page)));
})();
"""


def _report_page(report: str, max_days: int) -> web.Response:
    body = f"""<nav><a href="{PREFIX}/">Reports</a> · <a href="{PREFIX}/logout">Sign out</a></nav>
<main><h1>Report: {report}</h1>
<video src="/dashboard/static/tour.mp4" preload="auto" muted width="160"></video>
<fieldset id="filter"><legend>Date range</legend>
<label>From <input type="date" id="start"></label> <label>To <input type="date" id="end"></label>
<button id="apply" type="button">Apply</button></fieldset>
<p id="status" role="status">Choose a date range and press Apply.</p>
<table id="report" data-report="{report}" data-state="idle" data-page="0"
 data-max-days="{max_days}">
<thead></thead><tbody></tbody></table>
<p><button id="prev" type="button" disabled>Previous</button> <span id="page-info"></span>
<button id="next" type="button" disabled>Next</button>
<button id="retry" type="button" hidden>Retry</button></p></main>
<script>{_REPORT_SCRIPT}</script>"""
    return _page(f"{report} report", body)


# -- handlers ----------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    return _login_page(request.app[STATE], _safe_next(request.query.get("next")))


async def login_submit(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await request.post()
    token = str(form.get("csrf_token", ""))
    next_url = _safe_next(str(form.get("next", "")))
    if not token or token != request.cookies.get(CSRF_COOKIE) or token not in state.csrf_tokens:
        state.stats["csrf_rejected"] += 1
        return _page(
            "Forbidden",
            "<main><h1>Forbidden</h1><p class='error' id='login-error'>"
            "The form has expired. Reload the sign-in page.</p></main>",
            403,
        )
    state.csrf_tokens.discard(token)
    user_ok = hmac.compare_digest(
        str(form.get("username", "")).encode(), state.options.user.encode()
    )
    password_ok = hmac.compare_digest(
        str(form.get("password", "")).encode(), state.options.password.encode()
    )
    if not (user_ok and password_ok):
        state.stats["logins_failed"] += 1
        return _login_page(state, next_url, "Invalid username or password.", 401)
    state.stats["logins"] += 1
    session_token = secrets.token_urlsafe(24)
    state.sessions[session_token] = Session(created=time.monotonic())
    response = web.HTTPSeeOther(next_url)
    response.set_cookie(SESSION_COOKIE, session_token, path=PREFIX, httponly=True, samesite="Lax")
    response.del_cookie(CSRF_COOKIE, path=PREFIX)
    raise response


async def logout(request: web.Request) -> web.Response:
    request.app[STATE].sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
    raise web.HTTPFound(f"{PREFIX}/login")


async def index(request: web.Request) -> web.Response:
    if request.app[STATE].session(request) is None:
        _to_login(request)
    links = "".join(f'<li><a href="{PREFIX}/reports/{r}">{r}</a></li>' for r in REPORTS)
    return _page("Reports", f"<main><h1>Reports</h1><ul>{links}</ul></main>")


async def report_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    report = request.match_info["report"]
    if report not in REPORTS:
        return _page("Not found", "<main><h1>No such report</h1></main>", 404)
    if state.session(request) is None:
        _to_login(request)
    if report in state.knobs["dashboard_down_reports"]:  # type: ignore[operator]
        state.stats["report_pages_down"] += 1
        return _page("Unavailable", "<main><h1>Service unavailable</h1></main>", 503)
    state.stats["report_pages"] += 1
    return _report_page(report, int(state.knob("dashboard_max_range_days")))


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj),
        status=status,
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _range(query: Any, max_days: int | None) -> tuple[date, date] | str:
    try:
        start, end = (
            date.fromisoformat(query.get("start", "")),
            date.fromisoformat(query.get("end", "")),
        )
    except ValueError:
        return "start and end must be YYYY-MM-DD dates"
    if end < start:
        return "end is before start"
    if max_days is not None and (end - start).days + 1 > max_days:
        return f"the range is longer than {max_days} days"
    return start, end


async def report_data(request: web.Request) -> web.Response:
    state = request.app[STATE]
    report = request.match_info["report"]
    session = state.session(request)
    if session is None:
        return _json({"error": "session_expired"}, 401)
    if report not in REPORTS:
        return _json({"error": f"no such report: {report}"}, 404)
    parsed = _range(request.query, int(state.knob("dashboard_max_range_days")))
    if isinstance(parsed, str):
        return _json({"error": parsed}, 400)
    start, end = parsed
    session.loads += 1
    state.stats["table_loads"] += 1
    fails = state.load_fails(start, end)
    await asyncio.sleep(state.knob("dashboard_render_delay_ms") / 1000)
    if fails:
        state.stats["table_failed"] += 1
        return _json({"error": "internal error"}, 500)
    rows = range_rows(state.options.seed, report, start, end)
    size = int(state.knob("dashboard_page_size"))
    pages = max(1, math.ceil(len(rows) / size))
    try:
        page = min(max(1, int(request.query.get("page", "1"))), pages)
    except ValueError:
        page = 1
    chunk = rows[(page - 1) * size : page * size]
    columns = [{"key": k, "label": label, "type": t} for k, label, t in REPORTS[report]]
    return _json(
        {"columns": columns, "rows": chunk, "page": page, "pages": pages, "total": len(rows)}
    )


_STATIC = {"logo.png": "image/png", "inter.woff2": "font/woff2", "tour.mp4": "video/mp4"}


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise web.HTTPNotFound()
    request.app[STATE].stats["static_requests"] += 1
    return web.Response(body=b"\0" * 64, content_type=_STATIC[name])


async def truth(request: web.Request) -> web.Response:
    report = request.query.get("report", "")
    if report not in REPORTS:
        return _json({"error": f"report must be one of {', '.join(REPORTS)}"}, 400)
    parsed = _range(request.query, None)
    if isinstance(parsed, str):
        return _json({"error": parsed}, 400)
    rows = truth_rows(request.app[STATE].options.seed, report, *parsed)
    return _json(
        {
            "report": report,
            "start": parsed[0].isoformat(),
            "end": parsed[1].isoformat(),
            "rows": rows,
        }
    )


async def config(request: web.Request) -> web.Response:
    """GET: the dashboard's knobs; POST: merge some (as POST /_sim/config does)."""
    state = request.app[STATE]
    if request.method == "POST":
        try:
            update = orjson.loads(await request.read())
            if not isinstance(update, dict):
                raise DashboardKnobError("knobs must be a JSON object")
            state.configure(update)
        except (orjson.JSONDecodeError, KnobError) as exc:
            return _json({"error": str(exc)}, 400)
    return _json(state.knobs)


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    names = (
        "logins",
        "logins_failed",
        "csrf_rejected",
        "sessions_expired",
        "report_pages",
        "report_pages_down",
        "table_loads",
        "table_failed",
        "static_requests",
    )
    return _json({name: state.stats[name] for name in names})


def setup_dashboard(app: web.Application, options: DashboardOptions | None = None) -> None:
    """Add the dashboard's routes and state to the simulator's application."""
    app[STATE] = DashboardState(options or DashboardOptions())
    app.router.add_get(f"{PREFIX}/login", login_form)
    app.router.add_post(f"{PREFIX}/login", login_submit)
    app.router.add_get(f"{PREFIX}/logout", logout)
    app.router.add_get(f"{PREFIX}/", index)
    app.router.add_get(PREFIX + "/reports/{report}", report_page)
    app.router.add_get(PREFIX + "/data/{report}", report_data)
    app.router.add_get(PREFIX + "/static/{name}", static)
    app.router.add_get("/_sim/truth/dashboard", truth)
    app.router.add_get("/_sim/dashboard/stats", stats)
    app.router.add_route("GET", "/_sim/dashboard/config", config)
    app.router.add_route("POST", "/_sim/dashboard/config", config)
