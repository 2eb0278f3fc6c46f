"""Product details that answer a redirect (the `redirect_*` knobs, see `sim.faults`).

With `redirect_rate` above 0, that share of the products that have a detail answer
their detail request with a 301 or a 302, of one of three kinds (`redirect_kinds`):

  product    to another product's detail (`/api/v2/products/<other id>`): a product
             merged into another; the other one is valid and never redirects itself
  canonical  to its own canonical URL (`/api/v2/products/<id>?spid=<spid>`), which
             answers the detail (a request that has `spid` is never redirected)
  offsite    to the same path on another host (`redirect_host`, default 127.0.0.2,
             the simulator's port unless it names one): a host the crawler was not
             pointed at

Which products redirect, how and where is a function of the seed and the knobs
alone (a hash of (seed, product id)), never of the order of the requests, so the
ground truth lists them exactly (`products.redirected` of `GET /_sim/truth`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.catalog import NOT_FOUND, Catalog
from sim.util import mix

KINDS = ("product", "canonical", "offsite")
PRODUCT_PATH = "/api/v2/products/"
_SALT_PICK, _SALT_KIND = 31, 32
_SCALE = float(2**64)


@dataclass(frozen=True)
class Redirect:
    """How one product's detail redirects."""

    kind: str
    status: int  # 301 or 302
    #: the other product's id (kind `product`), else None
    to: int | None
    #: the canonical URL's `spid` (kind `canonical`), else None
    spid: int | None

    def location(self, pid: int, host: str, port: int) -> str:
        """The Location header: a path within the API, or an absolute URL off it."""
        if self.kind == "product":
            return f"{PRODUCT_PATH}{self.to}"
        if self.kind == "canonical":
            return f"{PRODUCT_PATH}{pid}?spid={self.spid}"
        netloc = host if ":" in host else f"{host}:{port}"
        return f"http://{netloc}{PRODUCT_PATH}{pid}"


class Redirects:
    """The redirecting products for the current knobs, worked out once per knob change."""

    def __init__(self, catalog: Catalog, spid_of: Any) -> None:
        self.catalog = catalog
        #: product index -> its spid (the payloads' ProductCore.spid)
        self.spid_of = spid_of
        self._key: tuple[float, tuple[str, ...]] | None = None
        self._plan: dict[int, Redirect] = {}

    def plan(self, knobs: dict[str, Any]) -> dict[int, Redirect]:
        """product id -> its Redirect, for the knobs' rate and kinds."""
        rate = float(knobs["redirect_rate"])
        kinds = tuple(k for k in KINDS if k in knobs["redirect_kinds"])
        key = (rate, kinds)
        if key != self._key:
            self._plan = self._make(rate, kinds) if rate > 0 and kinds else {}
            self._key = key
        return self._plan

    def _make(self, rate: float, kinds: tuple[str, ...]) -> dict[int, Redirect]:
        cat = self.catalog
        n = cat.size.products
        seed = cat.seed
        picked = [
            cat.status_code(i) != NOT_FOUND and mix(seed, cat.pid(i), _SALT_PICK) / _SCALE < rate
            for i in range(n)
        ]
        plan: dict[int, Redirect] = {}
        for i in range(n):
            if not picked[i]:
                continue
            pid = cat.pid(i)
            h = mix(seed, pid, _SALT_KIND)
            kind = kinds[h % len(kinds)]
            status = 301 if (h >> 8) & 1 else 302
            to = spid = None
            if kind == "product":
                # the next valid product that does not redirect itself
                for step in range(1, n):
                    j = (i + step) % n
                    if not picked[j] and cat.status_code(j) == 0:
                        to = cat.pid(j)
                        break
                if to is None:  # every other product redirects: no target
                    continue
            elif kind == "canonical":
                spid = self.spid_of(i)
            plan[pid] = Redirect(kind, status, to, spid)
        return plan

    def truth(self, knobs: dict[str, Any], port: int) -> dict[str, dict[str, object]]:
        """`products.redirected` of the ground truth: {pid: {kind, status, location[, to]}}."""
        host = str(knobs["redirect_host"])
        out: dict[str, dict[str, object]] = {}
        for pid, redirect in sorted(self.plan(knobs).items()):
            entry: dict[str, object] = {
                "kind": redirect.kind,
                "status": redirect.status,
                "location": redirect.location(pid, host, port),
            }
            if redirect.to is not None:
                entry["to"] = redirect.to
            out[str(pid)] = entry
        return out
