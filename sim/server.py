"""aiohttp application of the marketplace simulator.

API (faults apply here only):
  GET /api/personalish/v1/blocks/listings?category=&page=&limit=&brand=&sort=&aggregations=
  GET /api/v2/products/{id}
  GET /api/v2/reviews?product_id=&page=&limit=
Control (never faulted, never counted):
  GET /_sim/truth[?reviews=0|1|counts][&product_ids=1,2]   ground truth of the current state
                                          (products.redirected: the redirect_* knobs' products)
  GET /_sim/truth/changes?since_day=N    what the simulated days after day N changed
  POST /_sim/advance {"days": 1}          the living catalogue moves on (sim/living.py)
  GET /_sim/stats, POST /_sim/reset[?state=1] (state: also back to day 0), GET|POST /_sim/config
Seller dashboard (HTML, login, JS tables; its own knobs and truth): see sim/dashboard.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from sim.catalog import Catalog
from sim.dashboard import DashboardOptions, configure_dashboard, reset_dashboard, setup_dashboard
from sim.faults import DEFAULT_KNOBS, Faults, KnobError, Plan, Stats
from sim.images import ImagesOptions, images_of, rewrite_review_photos, setup_images
from sim.living import Living
from sim.payloads import Payloads
from sim.redirects import Redirects
from sim.truth import Truth

LISTINGS_PATH = "/api/personalish/v1/blocks/listings"
PRODUCT_PREFIX = "/api/v2/products/"
REVIEWS_PATH = "/api/v2/reviews"
JSON_TYPE = "application/json"
CACHE_CONTROL = "max-age=300"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CATALOG: web.AppKey[Catalog] = web.AppKey("catalog", Catalog)
PAYLOADS: web.AppKey[Payloads] = web.AppKey("payloads", Payloads)
FAULTS: web.AppKey[Faults] = web.AppKey("faults", Faults)
STATS: web.AppKey[Stats] = web.AppKey("stats", Stats)
TRUTH: web.AppKey[Truth] = web.AppKey("truth", Truth)
REDIRECTS: web.AppKey[Redirects] = web.AppKey("redirects", Redirects)
LIVING: web.AppKey[Living] = web.AppKey("living", Living)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def json_response(
    obj: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(obj),
        status=status,
        content_type=JSON_TYPE,
        charset="utf-8",
        headers=headers,
    )


def _kind(path: str) -> tuple[str, str | None]:
    if path == LISTINGS_PATH:
        return "listings", None
    if path == REVIEWS_PATH:
        return "reviews", None
    if path.startswith(PRODUCT_PREFIX) and "/" not in path[len(PRODUCT_PREFIX) :]:
        return "product", path[len(PRODUCT_PREFIX) :]
    return "other", None


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def _port(request: web.Request) -> int:
    """The port this request came in on (the simulator's own)."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return int(sockname[1]) if sockname else 0


def _redirect(request: web.Request, product_id: str | None) -> web.Response | None:
    """The redirect a product's detail answers (the redirect_* knobs), or None."""
    knobs = request.app[FAULTS].knobs
    if not float(knobs["redirect_rate"]) or "spid" in request.query:
        return None
    pid = _int(product_id, -1)
    redirect = request.app[REDIRECTS].plan(knobs).get(pid)
    if redirect is None:
        return None
    location = redirect.location(pid, str(knobs["redirect_host"]), _port(request))
    return web.Response(
        status=redirect.status, headers={"Location": location, "Cache-Control": "no-store"}
    )


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer; the client sees a disconnect."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError


@web.middleware
async def api_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count, rate-limit and fault API requests; add ETag and caching headers."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    app = request.app
    faults, stats = app[FAULTS], app[STATS]
    kind, product_id = _kind(request.path)
    stats.request(kind, product_id)
    now = asyncio.get_running_loop().time()
    retry_after = faults.admit(now)
    if retry_after:
        stats.faults["rate_limited"] += 1
        stats.by_status[429] += 1
        return json_response(
            {"error": {"code": 429, "message": "Too Many Requests"}},
            429,
            {"Retry-After": str(retry_after), "Cache-Control": "no-store"},
        )
    stats.admitted(now)
    hold_after = faults.knobs["hold_after"]
    if hold_after and kind == faults.knobs["hold_kind"] and stats.by_kind[kind] >= hold_after:
        faults.configure({"rate_limit": 0.001, "hold_after": 0}, now)  # this one is the last
    plan: Plan = faults.plan()
    if plan.drop:
        stats.faults["dropped"] += 1
        return _drop(request)
    if plan.hang:
        stats.faults["hung"] += 1
        await asyncio.sleep(plan.hang)
    if plan.delay:
        await asyncio.sleep(plan.delay)
    if plan.error:
        stats.faults["errors"] += 1
        stats.by_status[plan.error] += 1
        return json_response(
            {"error": {"code": plan.error, "message": "Service unavailable"}},
            plan.error,
            {"Cache-Control": "no-store"},
        )
    if kind == "product" and _int(product_id, -1) in faults.fail_ids:
        stats.faults["failed_product"] += 1
        stats.by_status[500] += 1
        return json_response(
            {"error": {"code": 500, "message": "Internal Server Error"}},
            500,
            {"Cache-Control": "no-store"},
        )
    if (
        kind == "listings"
        and faults.fail_listing_categories
        and "aggregations" not in request.query
        and _int(request.query.get("category"), -1) in faults.fail_listing_categories
    ):
        stats.faults["failed_listing"] += 1
        stats.by_status[500] += 1
        return json_response(
            {"error": {"code": 500, "message": "Internal Server Error"}},
            500,
            {"Cache-Control": "no-store"},
        )
    if kind == "product" and (moved := _redirect(request, product_id)) is not None:
        stats.faults["redirected"] += 1
        stats.by_status[moved.status] += 1
        return moved
    response = await handler(request)
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        body = response.body
        if plan.malformed and response.status == 200:
            stats.faults["malformed"] += 1
            body = response.body = faults.malform(body)
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if response.status == 200 and _etag_matches(request.headers.get("If-None-Match"), etag):
            response = web.Response(status=304, headers=headers)
        else:
            response.headers.update(headers)
    stats.by_status[response.status] += 1
    return response


async def listings(request: web.Request) -> web.Response:
    q = request.query
    category = _int(q.get("category"), -1)
    if "category" not in q:
        return json_response({"error": "the 'category' query parameter is required"}, 400)
    brands = [_int(b, -1) for b in q.get("brand", "").split(",") if b.strip()]
    body = request.app[PAYLOADS].listing(
        category,
        brands,
        _int(q.get("page"), 1),
        _int(q.get("limit"), 40),
        q.get("sort", "default"),
        q.get("aggregations") == "2",
    )
    return json_response(body)


async def product(request: web.Request) -> web.Response:
    catalog = request.app[CATALOG]
    index = catalog.index_of(_int(request.match_info["pid"], -1))
    if index is None or catalog.is_not_found(index):
        return json_response({"error": {"code": 404, "message": "Sản phẩm không tồn tại"}}, 404)
    body = request.app[PAYLOADS].detail(index)
    images = images_of(request.app, index, request.host)  # --images only: sim/images.py
    if images is not None:
        body["images"] = images
    return json_response(body)


async def reviews(request: web.Request) -> web.Response:
    q = request.query
    if not q.get("product_id", "").strip().isdigit():
        return json_response(
            {"error": "the 'product_id' query parameter must be a product id"}, 400
        )
    app = request.app
    catalog = app[CATALOG]
    index = catalog.index_of(int(q["product_id"]))
    if index is not None and catalog.is_not_found(index):
        index = None
    if app[FAULTS].review_request_adds_review() and index is not None:
        catalog.add_new_review(index)
        app[STATS].faults["new_reviews"] += 1
    body = app[PAYLOADS].reviews(index, _int(q.get("page"), 1), _int(q.get("limit"), 5))
    rewrite_review_photos(app, body, request.host)  # --images only: sim/images.py
    return json_response(body)


async def unknown_api(request: web.Request) -> web.Response:
    return json_response(
        {"error": {"code": 404, "message": f"no such endpoint: {request.path}"}}, 404
    )


async def truth(request: web.Request) -> web.Response:
    q = request.query
    ids = None
    if "product_ids" in q:
        ids = {int(x) for x in q["product_ids"].split(",") if x.strip().isdigit()}
    app = request.app
    body = app[TRUTH].build(q.get("reviews", "1"), ids, app[LIVING].day)
    redirected = app[REDIRECTS].truth(app[FAULTS].knobs, _port(request))
    body["products"]["redirected"] = redirected  # type: ignore[index]
    body["totals"]["redirected"] = len(redirected)  # type: ignore[index]
    return json_response(body)


async def truth_changes(request: web.Request) -> web.Response:
    q = request.query
    if not q.get("since_day", "").strip().isdigit():
        return json_response(
            {"error": "the 'since_day' query parameter must be a day (0, 1, ...)"}, 400
        )
    return json_response(request.app[LIVING].changes(int(q["since_day"])))


async def advance(request: web.Request) -> web.Response:
    try:
        body = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError:
        return json_response({"error": 'the body must be JSON such as {"days": 1}'}, 400)
    days = body.get("days", 1) if isinstance(body, dict) else None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        return json_response({"error": "'days' must be a whole number within 1..366"}, 400)
    app = request.app
    return json_response(app[LIVING].advance(days, app[FAULTS].knobs))


async def stats(request: web.Request) -> web.Response:
    return json_response(request.app[STATS].snapshot())


async def reset(request: web.Request) -> web.Response:
    app = request.app
    app[STATS].reset()
    reset_dashboard(app, knobs=request.query.get("state") == "1")  # sim/dashboard.py
    if request.query.get("state") == "1":
        app[FAULTS].configure(DEFAULT_KNOBS, asyncio.get_running_loop().time())
        app[CATALOG].drop_new_reviews()
        app[LIVING].rewind()
    return json_response({"ok": True})


async def config(request: web.Request) -> web.Response:
    faults = request.app[FAULTS]
    if request.method == "GET":
        return json_response(faults.knobs)
    try:
        update = orjson.loads(await request.read())
        update = configure_dashboard(request.app, update)  # takes the dashboard_* knobs
        knobs = faults.configure(update, asyncio.get_running_loop().time())
    except (orjson.JSONDecodeError, KnobError) as exc:
        return json_response({"error": str(exc)}, 400)
    return json_response(knobs)


def make_app(
    catalog: Catalog,
    faults: Faults,
    dashboard: DashboardOptions | None = None,
    images: ImagesOptions | None = None,
) -> web.Application:
    app = web.Application(middlewares=[api_faults])
    app[CATALOG] = catalog
    app[PAYLOADS] = Payloads(catalog)
    app[FAULTS] = faults
    app[STATS] = Stats()
    app[TRUTH] = Truth(catalog)
    payloads = app[PAYLOADS]
    app[REDIRECTS] = Redirects(catalog, lambda i: payloads.core(i).spid)
    app[LIVING] = Living(catalog, payloads)
    app.router.add_get(LISTINGS_PATH, listings)
    app.router.add_get(PRODUCT_PREFIX + "{pid}", product)
    app.router.add_get(REVIEWS_PATH, reviews)
    app.router.add_route("*", "/api/{tail:.*}", unknown_api)
    app.router.add_get("/_sim/truth", truth)
    app.router.add_get("/_sim/truth/changes", truth_changes)
    app.router.add_post("/_sim/advance", advance)
    app.router.add_get("/_sim/stats", stats)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_route("GET", "/_sim/config", config)
    app.router.add_route("POST", "/_sim/config", config)
    setup_dashboard(app, dashboard)  # the seller dashboard: sim/dashboard.py
    setup_images(app, catalog, images)  # product images (--images): sim/images.py
    return app


async def serve(app: web.Application, host: str, port: int) -> None:
    """Bind, print the base URL as the first stdout line, serve until SIGTERM/SIGINT."""
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound_port = runner.addresses[0][1]
    shown_host = f"[{host}]" if ":" in host else host
    print(f"http://{shown_host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
