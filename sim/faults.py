"""Fault knobs of the simulator and the ledger of the API requests it answered.

Knobs (all off by default; CLI flag `--latency-ms` etc., or `POST /_sim/config`):
  latency_ms        fixed latency added to every API request (ms)
  jitter_ms         uniform +/- jitter around latency_ms (ms)
  rate_limit        token bucket over all API requests, requests per second (0 = off);
                    burst max(1, rate_limit); over it: 429 with Retry-After (>= 1 s)
  error_rate        share of requests answered 500 or 503 (alternating)
  drop_rate         share of requests whose connection is closed without a response
  hang_rate         share of requests that hang for hang_seconds, then answer normally
  hang_seconds      (default 30)
  malformed_rate    share of 200 responses whose JSON body is truncated or corrupted
  new_review_every  every Nth reviews request adds a new review to its product (0 = off)
  fail_product_ids  product ids whose detail always answers 500
  redirect_rate     share of the products with a detail whose detail answers 301/302
                    (which ones and how: a hash of the seed and the id, see sim/redirects.py)
  redirect_kinds    the kinds of redirects dealt: product (to another product's detail),
                    canonical (to its own canonical URL), offsite (to redirect_host)
  fail_listing_categories  category ids whose listing pages (not the brand filter's page
                    with aggregations=2) always answer 500
  day_price_share, day_stock_share, day_review_share, day_new_share, day_withdrawn_share
                    shares of the valid listed products that each simulated day
                    (`POST /_sim/advance`, sim/living.py) reprices, restocks, gives new
                    reviews, adds as new products and withdraws (defaults 2%, 1%, 1%,
                    0.5%, 0.3%); they act only when a day is advanced
  redirect_host     the foreign host of offsite redirects: a 127.0.0.0/8 address,
                    optionally with a port (default 127.0.0.2, the simulator's port)
Dice come from `random.Random(seed)`: a run is reproducible given the same request order.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

DEFAULT_KNOBS: dict[str, Any] = {
    "latency_ms": 0.0,
    "jitter_ms": 0.0,
    "rate_limit": 0.0,
    "error_rate": 0.0,
    "drop_rate": 0.0,
    "hang_rate": 0.0,
    "hang_seconds": 30.0,
    "malformed_rate": 0.0,
    "new_review_every": 0,
    "fail_product_ids": [],
    "redirect_rate": 0.0,
    "redirect_kinds": ["product", "canonical", "offsite"],
    "redirect_host": "127.0.0.2",
    "fail_listing_categories": [],
    "day_price_share": 0.02,
    "day_stock_share": 0.01,
    "day_review_share": 0.01,
    "day_new_share": 0.005,
    "day_withdrawn_share": 0.003,
    # 0 = off; n: once n requests of hold_kind came, hold every API request
    # (rate_limit 0.001), in the server itself: a test's kill at "n requests"
    # never races the crawl (the crawl cannot run past n while a poll looks)
    "hold_after": 0,
    "hold_kind": "product",
}
_NON_NEGATIVE = ("latency_ms", "jitter_ms", "rate_limit", "hang_seconds")
_SHARES = (
    "error_rate",
    "drop_rate",
    "hang_rate",
    "malformed_rate",
    "redirect_rate",
    "day_price_share",
    "day_stock_share",
    "day_review_share",
    "day_new_share",
    "day_withdrawn_share",
)
REDIRECT_KINDS = ("product", "canonical", "offsite")
# How early (seconds) a request may come and still take a token: timer jitter of a client
# pacing itself at exactly rate_limit must not earn it a 429.
_EARLY_TOLERANCE_S = 0.05


class KnobError(ValueError):
    """Raised by `validate_knobs` for an unknown knob or a bad value; the server answers 400."""


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise KnobError(f"knob {name!r} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise KnobError(f"knob {name!r} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise KnobError(f"knob {name!r} must be a finite number >= 0, got {value!r}")
    return number


def _id_list(value: object, name: str = "fail_product_ids") -> list[int]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise KnobError(f"knob {name!r} must be a list of ids, got {value!r}")
    out = []
    for item in items:
        if isinstance(item, str) and item.strip().isdigit():
            out.append(int(item))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        elif not (isinstance(item, str) and not item.strip()):
            raise KnobError(f"knob {name!r} holds a non-id {item!r}")
    return out


def _kinds(value: object) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise KnobError(f"knob 'redirect_kinds' must be a list of kinds, got {value!r}")
    kinds = [str(item).strip() for item in items if str(item).strip()]
    unknown = [kind for kind in kinds if kind not in REDIRECT_KINDS]
    if unknown:
        raise KnobError(
            f"knob 'redirect_kinds' holds {unknown[0]!r}; known kinds: {', '.join(REDIRECT_KINDS)}"
        )
    return [kind for kind in REDIRECT_KINDS if kind in kinds]


def _loopback_host(value: object) -> str:
    """A 127.0.0.0/8 address, optionally with a port: the simulator never sends a
    client to a host off this machine."""
    text = str(value).strip() if isinstance(value, str) else ""
    host, _, port = text.partition(":")
    parts = host.split(".")
    ok = len(parts) == 4 and parts[0] == "127" and all(p.isdigit() and int(p) < 256 for p in parts)
    if not ok or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise KnobError(
            f"knob 'redirect_host' must be a 127.0.0.0/8 address with an optional port, "
            f"got {value!r}"
        )
    return text


def validate_knobs(update: object) -> dict[str, Any]:
    """The typed values of a partial knob dict; raises KnobError naming the bad knob."""
    if not isinstance(update, dict):
        raise KnobError(f"knobs must be a JSON object, got {type(update).__name__}")
    out: dict[str, Any] = {}
    for name, value in update.items():
        if name not in DEFAULT_KNOBS:
            raise KnobError(f"unknown knob {name!r}; known knobs: {', '.join(DEFAULT_KNOBS)}")
        if name in _NON_NEGATIVE:
            out[name] = _number(name, value)
        elif name in _SHARES:
            out[name] = share = _number(name, value)
            if share > 1:
                raise KnobError(
                    f"knob {name!r} is a share and must be within [0, 1], got {value!r}"
                )
        elif name == "hold_kind":
            if value not in ("listings", "product", "reviews"):
                raise KnobError(
                    f"knob 'hold_kind' must be listings, product or reviews, got {value!r}"
                )
            out[name] = value
        elif name in ("new_review_every", "hold_after"):
            number = _number(name, value)
            if number != int(number):
                raise KnobError(f"knob {name!r} must be a whole number, got {value!r}")
            out[name] = int(number)
        elif name == "redirect_kinds":
            out[name] = _kinds(value)
        elif name == "redirect_host":
            out[name] = _loopback_host(value)
        else:
            out[name] = _id_list(value, name)
    return out


@dataclass(frozen=True)
class Plan:
    """The faults drawn for one API request."""

    drop: bool
    hang: float  # seconds, 0 = no hang
    delay: float  # seconds
    error: int  # 500 or 503, 0 = none
    malformed: bool


class Faults:
    def __init__(self, seed: int, knobs: dict[str, Any] | None = None) -> None:
        self.rng = random.Random(seed)
        self.knobs: dict[str, Any] = dict(DEFAULT_KNOBS)
        self._tokens = 0.0
        self._stamp = 0.0
        self._errors = 0
        self._review_requests = 0
        self.fail_ids: frozenset[int] = frozenset()
        self.fail_listing_categories: frozenset[int] = frozenset()
        self.configure(knobs or {}, now=0.0)

    def configure(self, update: object, now: float) -> dict[str, Any]:
        """Merge a partial knob dict (validated first, all or nothing); return all knobs."""
        values = validate_knobs(update)
        self.knobs.update(values)
        if "rate_limit" in values:
            self._tokens, self._stamp = self._capacity(), now
        if "new_review_every" in values:
            self._review_requests = 0
        self.fail_ids = frozenset(self.knobs["fail_product_ids"])
        self.fail_listing_categories = frozenset(self.knobs["fail_listing_categories"])
        return dict(self.knobs)

    def _capacity(self) -> float:
        return max(1.0, float(self.knobs["rate_limit"]))

    def admit(self, now: float) -> int:
        """0 if the rate limiter lets the request through, else Retry-After in seconds."""
        rate = float(self.knobs["rate_limit"])
        if rate <= 0:
            return 0
        self._tokens = min(self._capacity(), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0 - min(0.5, rate * _EARLY_TOLERANCE_S):
            self._tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self._tokens) / rate))

    def plan(self) -> Plan:
        """Roll every die once per request (fixed draw count keeps runs reproducible)."""
        k, roll = self.knobs, self.rng.random
        drop, hang, error, bad, jitter = roll(), roll(), roll(), roll(), roll()
        delay_ms = float(k["latency_ms"]) + (2 * jitter - 1) * float(k["jitter_ms"])
        code = 0
        if error < float(k["error_rate"]):
            self._errors += 1
            code = 500 if self._errors % 2 else 503
        return Plan(
            drop=drop < float(k["drop_rate"]),
            hang=float(k["hang_seconds"]) if hang < float(k["hang_rate"]) else 0.0,
            delay=max(0.0, delay_ms) / 1000,
            error=code,
            malformed=bad < float(k["malformed_rate"]),
        )

    def malform(self, body: bytes) -> bytes:
        """A JSON body cut short, or cut short and followed by an HTML error page.

        The cut falls on a character boundary: the body stays UTF-8, only its JSON breaks."""
        cut = self.rng.randrange(1, len(body)) if len(body) > 1 else 0
        while cut > 1 and 0x80 <= body[cut] < 0xC0:
            cut -= 1
        if self.rng.random() < 0.5:
            return body[:cut]
        return body[:cut] + b"<html><body><h1>502 Bad Gateway</h1></body></html>"

    def review_request_adds_review(self) -> bool:
        every = int(self.knobs["new_review_every"])
        if every <= 0:
            return False
        self._review_requests += 1
        return self._review_requests % every == 0


class Stats:
    """Counters of API requests (never of /_sim/ ones)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.by_kind: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.product_fetches: Counter[str] = Counter()
        self._window: deque[float] = deque()
        self.max_rps_1s = 0
        #: arrival times of the first and the last request the limiter admitted
        self._first_admitted: float | None = None
        self._last_admitted: float | None = None
        self._admitted = 0

    def request(self, kind: str, product_id: str | None) -> None:
        self.total += 1
        self.by_kind[kind] += 1
        if product_id is not None:
            self.product_fetches[product_id] += 1

    def admitted(self, now: float) -> None:
        """A request the rate limiter let through, at its arrival time."""
        if self._first_admitted is None:
            self._first_admitted = now
        self._last_admitted = now
        self._admitted += 1
        window = self._window
        window.append(now)
        while window[0] <= now - 1.0:
            window.popleft()
        self.max_rps_1s = max(self.max_rps_1s, len(window))

    def snapshot(self) -> dict[str, object]:
        return {
            "total": self.total,
            "by_kind": {
                kind: self.by_kind[kind] for kind in ("listings", "product", "reviews", "other")
            },
            "by_status": {str(code): n for code, n in sorted(self.by_status.items())},
            "faults": {
                name: self.faults[name]
                for name in (
                    "rate_limited",
                    "dropped",
                    "hung",
                    "errors",
                    "failed_product",
                    "failed_listing",
                    "malformed",
                    "new_reviews",
                    "redirected",
                )
            },
            "product_refetched": {pid: n for pid, n in self.product_fetches.items() if n > 1},
            "max_rps_1s": self.max_rps_1s,
            # admitted requests per second from the first to the last: the
            # pace over the run, which a client stalling for a moment (a busy
            # machine) does not change, where it shifts arrivals between seconds
            "mean_rps": (
                round((self._admitted - 1) / (self._last_admitted - self._first_admitted), 2)
                if self._first_admitted is not None
                and self._last_admitted is not None
                and self._last_admitted > self._first_admitted
                else None
            ),
        }
