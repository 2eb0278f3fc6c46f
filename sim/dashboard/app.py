"""The dashboard's routes (:func:`setup_dashboard`) and the hooks of the
simulator's ``POST /_sim/config`` and ``POST /_sim/reset``."""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from datetime import date
from typing import Any

import orjson
from aiohttp import web

from sim.dashboard import pages
from sim.dashboard.reports import REPORTS, range_rows, truth_rows
from sim.dashboard.state import (
    CSRF_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    STATE,
    DashboardKnobError,
    DashboardOptions,
    DashboardState,
    Session,
    split_knobs,
)
from sim.faults import KnobError
from sim.faults import validate_knobs as validate_fault_knobs


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


async def login_form(request: web.Request) -> web.Response:
    return pages.login_page(request.app[STATE], pages.safe_next(request.query.get("next")))


async def login_submit(request: web.Request) -> web.Response:
    state = request.app[STATE]
    form = await request.post()
    token = str(form.get("csrf_token", ""))
    next_url = pages.safe_next(str(form.get("next", "")))
    if not token or token != request.cookies.get(CSRF_COOKIE) or token not in state.csrf_tokens:
        state.stats["csrf_rejected"] += 1
        return pages.page(
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
        return pages.login_page(state, next_url, "Invalid username or password.", 401)
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
        pages.to_login(request)
    links = "".join(f'<li><a href="{PREFIX}/reports/{r}">{r}</a></li>' for r in REPORTS)
    return pages.page("Reports", f"<main><h1>Reports</h1><ul>{links}</ul></main>")


async def report_page(request: web.Request) -> web.Response:
    state = request.app[STATE]
    report = request.match_info["report"]
    if report not in REPORTS:
        return pages.page("Not found", "<main><h1>No such report</h1></main>", 404)
    if state.session(request) is None:
        pages.to_login(request)
    if report in state.knobs["dashboard_down_reports"]:  # type: ignore[operator]
        state.stats["report_pages_down"] += 1
        return pages.page("Unavailable", "<main><h1>Service unavailable</h1></main>", 503)
    state.stats["report_pages"] += 1
    return pages.report_page(report, int(state.knob("dashboard_max_range_days")))


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
