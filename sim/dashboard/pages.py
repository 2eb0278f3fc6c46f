"""The dashboard's HTML: the page frame, the sign-in form, the report page
(its script is ``static/report.js``, inlined in the page as it always was)."""

from __future__ import annotations

import html
import secrets
from importlib import resources

from aiohttp import web

from sim.dashboard.state import CSRF_COOKIE, PREFIX, DashboardState

STYLE = """<style>
@font-face { font-family: "Inter"; src: url("/dashboard/static/inter.woff2") format("woff2"); }
body { font-family: "Inter", sans-serif; margin: 2rem; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .5rem; }
td.num { text-align: right; } .error { color: #b00; }
</style>"""


def page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'{STYLE}</head><body><header><img src="/dashboard/static/logo.png" alt="" '
        f'width="32" height="32"> Marketplace Seller Center</header>{body}</body></html>'
    )
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(value: str | None) -> str:
    if value and value.startswith(PREFIX + "/") and "//" not in value:
        return value
    return PREFIX + "/"


def login_page(
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
    response = page("Sign in", body, status)
    response.set_cookie(CSRF_COOKIE, token, path=PREFIX, httponly=True, samesite="Lax")
    return response


def to_login(request: web.Request) -> web.Response:
    target = f"{PREFIX}/login?next={request.rel_url.path}"
    raise web.HTTPFound(target, headers={"Cache-Control": "no-store"})


#: the report page's script: fills the table from the data XHR, sets its data-state
REPORT_SCRIPT = (resources.files(__package__) / "static" / "report.js").read_text(encoding="utf-8")


def report_page(report: str, max_days: int) -> web.Response:
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
<script>
{REPORT_SCRIPT}</script>"""
    return page(f"{report} report", body)
