"""The dashboard's options, knobs (their defaults and validation), sessions
and counters: :class:`DashboardState`, one per simulator (``app[STATE]``)."""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from aiohttp import web

from sim.dashboard.reports import REPORTS
from sim.faults import KnobError
from sim.util import mix

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
_SALT_FAIL = 0xD2


class DashboardKnobError(KnobError):
    """A bad dashboard knob; the control routes answer 400 with this message."""


@dataclass(frozen=True)
class DashboardOptions:
    seed: int = 1
    user: str = DEFAULT_USER
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    knobs: dict[str, object] = field(default_factory=dict)


def add_dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dashboard (see sim/dashboard/)")
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
