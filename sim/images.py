"""Product images of the simulator: real bytes, a share of broken ones, a few to refuse.

Off unless `--images 1` is given, so that the catalogue's documents and ground truth stay
as they are. With it, a product detail's `images` point at the simulator itself:
  GET /_sim/img/{pid}/{k}.{ext}          the product's k-th image (never faulted by the
                                         API knobs, never counted as an API request)
  GET /_sim/img/{pid}/redirect.jpg       302 to a host that must be refused
  GET /_sim/img/{pid}/r{review id}-{k}.jpg   a review's k-th photo (always good)
  GET /_sim/truth/images                 {"good": {pid: [urls]}, "bad": {url: reason},
                                         "refused": {url: reason}} (valid products only),
                                         and "review_photos": {review id: [urls]} (pages
                                         served so far: reviews are paged on demand)
  GET /_sim/images/stats                 {"requests": n, "by_path": {path: n}}
                                         ("rate_limited" counts the 429s)
Each image's kind comes from the seed: most are good (JPEG, PNG or WebP made with Pillow,
the same bytes for the same seed), some broken: 404 (`http_404`), HTML or JSON instead
of an image and a cut JPEG (`not_an_image`), over 10 MB (`too_large`), a PNG claiming
64 megapixels (`too_many_pixels`), an empty body (`empty`), one that answers after
`--images-slow-seconds` (`timeout`). Every 25th product also lists URLs to refuse: on
127.0.0.2 (`host_not_allowed`), on `metadata.sim.test` and `private.sim.test`, which the
tests' resolver maps to 169.254.169.254 and 10.0.0.7 (`address_not_allowed`), and a
redirect on the simulator to 127.0.0.2 (`host_not_allowed`); all on the simulator's port.
`--images-rate-limit N` answers image requests over N per second with 429 (the API apart).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import struct
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO

from aiohttp import web
from PIL import Image, ImageDraw

from sim.catalog import Catalog
from sim.util import mix

PREFIX = "/_sim/img"
_SALT = 0x1A6E
OVERSIZED_BYTES = 10 * 1024 * 1024 + 1024
REFUSED_EVERY = 25
#: (kind, reason or None for good), by the image's roll out of 100
_KINDS = (
    (3, "missing", "http_404"),
    (6, "html", "not_an_image"),
    (8, "json", "not_an_image"),
    (11, "truncated", "not_an_image"),
    (13, "oversized", "too_large"),
    (14, "bomb", "too_many_pixels"),
    (15, "empty", "empty"),
    (16, "slow", "timeout"),
)
FORMATS = (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"))


@dataclass(frozen=True)
class ImagesOptions:
    enabled: bool = False
    slow_seconds: float = 30.0
    #: image requests per second (a token bucket, burst of one second); over
    #: it: 429 with Retry-After 1. 0: no limit. The API's rate_limit knob is apart.
    rate_limit: float = 0.0


def add_images_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images (see sim/images.py)")
    group.add_argument("--images", type=int, choices=(0, 1), default=0, help="1: serve images")
    group.add_argument("--images-slow-seconds", type=float, default=30.0)
    group.add_argument("--images-rate-limit", type=float, default=0.0, help="per second")


def images_options(args: argparse.Namespace) -> ImagesOptions:
    return ImagesOptions(
        enabled=bool(args.images),
        slow_seconds=args.images_slow_seconds,
        rate_limit=args.images_rate_limit,
    )


def kind_of(seed: int, pid: int, k: int) -> tuple[str, str | None]:
    """The kind of a product's k-th image and its expected failure reason (None: good)."""
    roll = mix(seed, pid, k, _SALT) % 100
    for upper, kind, reason in _KINDS:
        if roll < upper:
            return kind, reason
    return FORMATS[mix(seed, pid, k, _SALT + 1) % 3][1], None


def _extension(kind: str) -> str:
    return {"PNG": "png", "WEBP": "webp"}.get(kind, "jpg")


@lru_cache(maxsize=512)
def picture(seed: int, pid: int, k: int, fmt: str) -> bytes:
    """A small picture, the same bytes for the same arguments."""
    rng = random.Random(mix(seed, pid, k, _SALT + 2))
    width, height = 80 + rng.randrange(240), 80 + rng.randrange(240)
    image = Image.new("RGB", (width, height), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x, y, x + rng.randrange(10, 80), y + rng.randrange(10, 80))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    buf = BytesIO()
    image.save(buf, fmt, quality=85) if fmt != "PNG" else image.save(buf, fmt)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@lru_cache(maxsize=1)
def bomb() -> bytes:
    """A PNG whose header claims 8000 x 8000 pixels, in a few bytes."""
    header = struct.pack(">IIBBBBB", 8000, 8000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=1)
def oversized(seed: int) -> bytes:
    """A real JPEG padded past 10 MB (JPEG readers stop at its end marker)."""
    head = picture(seed, 0, 0, "JPEG")
    return head + b"\x00" * (OVERSIZED_BYTES - len(head))


class SimImages:
    def __init__(self, catalog: Catalog, options: ImagesOptions) -> None:
        self.catalog = catalog
        self.options = options
        self.stats: Counter[str] = Counter()
        #: review id -> its photos' URLs, as served
        self.review_photos: dict[str, list[str]] = {}
        self._tokens, self._stamp = max(1.0, options.rate_limit), 0.0

    def admit(self, now: float) -> bool:
        rate = self.options.rate_limit
        if rate <= 0:
            return True
        self._tokens = min(max(1.0, rate), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def rewrite_reviews(self, body: dict[str, object], host: str) -> None:
        """A reviews page's photos on the simulator (in place)."""
        data = body.get("data")
        for review in data if isinstance(data, list) else []:
            photos = review.get("images") or []
            pid, rid = review.get("product_id"), review.get("id")
            urls = [f"http://{host}{PREFIX}/{pid}/r{rid}-{k}.jpg" for k in range(len(photos))]
            for photo, url in zip(photos, urls, strict=True):
                photo["full_path"] = url
            if urls:
                self.review_photos[str(rid)] = urls

    def count(self, i: int) -> int:
        return 1 + mix(self.catalog.seed, self.catalog.pid(i), _SALT + 3) % 5

    def urls(self, i: int, host: str) -> list[tuple[str, str | None, str | None]]:
        """(url, bad reason, refused reason) of each image of product index i."""
        seed, pid = self.catalog.seed, self.catalog.pid(i)
        base = f"http://{host}{PREFIX}/{pid}"
        out: list[tuple[str, str | None, str | None]] = []
        for k in range(self.count(i)):
            kind, reason = kind_of(seed, pid, k)
            out.append((f"{base}/{k}.{_extension(kind)}", reason, None))
        if i % REFUSED_EVERY == 3:
            port = host.rsplit(":", 1)[-1]
            path = f"{PREFIX}/{pid}/0.jpg"
            out.append((f"http://127.0.0.2:{port}{path}", None, "host_not_allowed"))
            out.append((f"http://metadata.sim.test:{port}{path}", None, "address_not_allowed"))
            out.append((f"http://private.sim.test:{port}{path}", None, "address_not_allowed"))
            out.append((f"{base}/redirect.jpg", None, "host_not_allowed"))
        return out

    def detail_images(self, i: int, host: str) -> list[dict[str, object]]:
        """The detail's `images` (the crawler takes `base_url`)."""
        return [
            {"base_url": url, "large_url": url, "is_gallery": True, "label": None}
            for url, _, _ in self.urls(i, host)
        ]

    def truth(self, host: str) -> dict[str, object]:
        cat = self.catalog
        good: dict[str, list[str]] = {}
        bad: dict[str, str] = {}
        refused: dict[str, str] = {}
        for i in range(cat.size.products):
            if cat.status_code(i) != 0:
                continue
            for url, reason, refusal in self.urls(i, host):
                if refusal:
                    refused[url] = refusal
                elif reason:
                    bad[url] = reason
                else:
                    good.setdefault(str(cat.pid(i)), []).append(url)
        return {"good": good, "bad": bad, "refused": refused, "review_photos": self.review_photos}

    async def serve(self, request: web.Request) -> web.StreamResponse:
        self.stats[request.path] += 1
        if not self.admit(asyncio.get_running_loop().time()):
            self.stats["rate_limited"] += 1
            return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "1"})
        seed = self.catalog.seed
        pid_text, name = request.match_info["pid"], request.match_info["name"]
        stem = name.split(".", 1)[0]
        if not pid_text.isdigit() or self.catalog.index_of(int(pid_text)) is None:
            return web.Response(status=404, text="no such image")
        pid = int(pid_text)
        if stem == "redirect":
            port = request.host.rsplit(":", 1)[-1]
            raise web.HTTPFound(f"http://127.0.0.2:{port}{PREFIX}/{pid}/0.jpg")
        if stem.startswith("r") and stem[1:].replace("-", "").isdigit():
            rid, _, k = stem[1:].partition("-")
            body = picture(seed, pid, 1000 + int(rid) % 1000 + int(k or 0), "JPEG")
            return web.Response(body=body, content_type="image/jpeg")
        if not stem.isdigit():
            return web.Response(status=404, text="no such image")
        kind, _ = kind_of(seed, pid, int(stem))
        if kind == "missing":
            return web.Response(status=404, text="not found")
        if kind == "html":
            return web.Response(
                text="<html><body>Access denied</body></html>", content_type="text/html"
            )
        if kind == "json":
            return web.json_response({"error": "image moved"})
        if kind == "empty":
            return web.Response(body=b"", content_type="image/jpeg")
        if kind == "bomb":
            return web.Response(body=bomb(), content_type="image/png")
        if kind == "oversized":
            return web.Response(body=oversized(seed), content_type="image/jpeg")
        if kind == "truncated":
            body = picture(seed, pid, int(stem), "JPEG")
            return web.Response(body=body[: len(body) // 2], content_type="image/jpeg")
        if kind == "slow":
            await asyncio.sleep(self.options.slow_seconds)
            kind = "JPEG"
        body = picture(seed, pid, int(stem), kind)
        return web.Response(body=body, content_type=f"image/{kind.lower()}")


IMAGES: web.AppKey[SimImages] = web.AppKey("images", SimImages)


async def _truth(request: web.Request) -> web.Response:
    return web.json_response(request.app[IMAGES].truth(request.host))


async def _stats(request: web.Request) -> web.Response:
    stats = request.app[IMAGES].stats
    paths = {path: n for path, n in stats.items() if path.startswith("/")}
    return web.json_response(
        {"requests": sum(paths.values()), "by_path": paths, "rate_limited": stats["rate_limited"]}
    )


def setup_images(app: web.Application, catalog: Catalog, options: ImagesOptions | None) -> None:
    """Add the image routes when images are on (the product handler asks `images_of`)."""
    if options is None or not options.enabled:
        return
    images = app[IMAGES] = SimImages(catalog, options)
    app.router.add_get(PREFIX + "/{pid}/{name}", images.serve)
    app.router.add_get("/_sim/truth/images", _truth)
    app.router.add_get("/_sim/images/stats", _stats)


def rewrite_review_photos(app: web.Application, body: dict[str, object], host: str) -> None:
    """With images on, a reviews page's photos point at the simulator."""
    images = app.get(IMAGES)
    if images is not None:
        images.rewrite_reviews(body, host)


def images_of(app: web.Application, index: int, host: str) -> list[dict[str, object]] | None:
    """The detail's `images` with images on, else None (the catalogue's CDN URLs stay)."""
    images = app.get(IMAGES)
    return images.detail_images(index, host) if images is not None else None
