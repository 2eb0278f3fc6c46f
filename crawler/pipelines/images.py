"""ProductImagesPipeline: product images and review photos, downloaded, checked,
stored once and linked from their record (Scrapy's ImagesPipeline, with Pillow).

On when ``IMAGES_STORE`` is set: a folder, or ``s3://bucket/prefix`` (Scrapy's
S3 store, botocore; credentials, region and endpoint from the environment as
botocore reads them: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``). A product's ``image_urls`` (the
first ``IMAGES_PER_PRODUCT``, each at its largest size) are fetched, and with
``REVIEW_IMAGES`` a review's photos. Each image is stored as
``full/<sha1 of its URL>.jpg`` (Scrapy's layout: JPEG, converted when it came
as PNG or WebP) with thumbnails ``thumbs/<name>/<sha1>.jpg`` in the sizes of
``IMAGES_THUMBS``; an image stored less than ``IMAGES_EXPIRES`` days ago is not
downloaded again, in this run or a later one (``status: uptodate``).

The record gets ``images``, one entry per URL in order: ``{url, path,
checksum, width, height, status}`` (``status``: ``downloaded``, ``uptodate``
or ``cached``; ``checksum``: the MD5 of the stored file), or ``{url, status:
"failed", reason}``. An image failure never fails or drops its record: it is
counted (``images/failed/<reason>``) and listed in the failures file (kind
``image``, ``id`` the product's), which a retry run of the products spider
reads. Reasons: ``http_<status>``, ``empty``, ``not_an_image`` (HTML, JSON,
a cut or corrupt file), ``too_large`` (over ``IMAGES_MAX_BYTES``),
``too_many_pixels`` (over ``IMAGES_MAX_PIXELS``, or Pillow's own
decompression-bomb check), ``timeout``, ``connection_refused``, ...
(:func:`crawler.failures.failure_reason`), ``host_not_allowed`` and
``address_not_allowed`` (the image guard, :mod:`crawler.ssrf`), ``store_error``.

Image requests have their own download slot (``images``) and at most
``IMAGES_CONCURRENCY`` of them are in the downloader at once, so that they
never take the API's share of ``CONCURRENT_REQUESTS`` and a 429 from an image
host slows only the images. Decoding, checking and thumbnailing run in a worker
thread. Each image request is checked by
:class:`crawler.middlewares.image_guard.ImageGuardMiddleware` (every redirect
too). See docs/images.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import TYPE_CHECKING, Any, ClassVar, cast

from PIL import Image, ImageOps, UnidentifiedImageError
from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http.request import NO_CALLBACK
from scrapy.pipelines.files import FSFilesStore, S3FilesStore, _md5sum
from scrapy.pipelines.images import ImagesPipeline
from scrapy.utils.defer import ensure_awaitable
from twisted.python.failure import Failure

from crawler.failures import failure_reason, record_failure
from crawler.items import Comment, Product

if TYPE_CHECKING:
    from os import PathLike

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.pipelines.files import FilesStoreProtocol, StatInfo
    from scrapy.pipelines.media import FileInfo, FileInfoOrError, MediaPipeline

logger = logging.getLogger(__name__)

#: the download slot of image requests (Scrapy's DOWNLOAD_SLOTS key)
SLOT = "images"


class ImageFailure(IgnoreRequest):
    """An image that could not be fetched or stored, with its reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


def _dimensions(meta: dict[str, Any]) -> dict[str, int]:
    out = {}
    for key in ("width", "height"):
        try:
            out[key] = int(meta[key])
        except (KeyError, TypeError, ValueError):
            pass
    return out


class FSImagesStore(FSFilesStore):
    """Scrapy's folder store; its stat also reads the stored image's size."""

    def stat_file(self, path: str | PathLike[str], info: MediaPipeline.SpiderInfo) -> StatInfo:
        stat: dict[str, Any] = dict(super().stat_file(path, info))
        if stat:
            try:
                with Image.open(self._get_filesystem_path(path)) as image:
                    stat["width"], stat["height"] = image.size
            except (OSError, ValueError):
                return {}  # not a readable image: download it again
        return stat  # type: ignore[return-value]


class S3ImagesStore(S3FilesStore):
    """Scrapy's S3 store; its stat also returns the size kept in the object's
    metadata (``width``, ``height``, written by ImagesPipeline)."""

    @staticmethod
    def _onsuccess(boto_key: dict[str, Any]) -> StatInfo:
        stat: dict[str, Any] = dict(S3FilesStore._onsuccess(boto_key))
        stat.update(_dimensions(boto_key.get("Metadata") or {}))
        return stat  # type: ignore[return-value]


class ProductImagesPipeline(ImagesPipeline):
    STORE_SCHEMES: ClassVar[dict[str, type[FilesStoreProtocol]]] = {
        **ImagesPipeline.STORE_SCHEMES,
        "": FSImagesStore,
        "file": FSImagesStore,
        "s3": S3ImagesStore,
    }
    #: failures are listed in the failures file, not logged with a traceback
    LOG_FAILED_RESULTS = False

    def __init__(self, store_uri: str, *, crawler: Crawler) -> None:
        super().__init__(store_uri, crawler=crawler)
        settings = crawler.settings
        self.stats = crawler.stats
        self.per_product = settings.getint("IMAGES_PER_PRODUCT")
        self.review_images = settings.getbool("REVIEW_IMAGES")
        self.max_bytes = settings.getint("IMAGES_MAX_BYTES")
        self.max_pixels = settings.getint("IMAGES_MAX_PIXELS")
        self.timeout = settings.getfloat("IMAGES_DOWNLOAD_TIMEOUT")
        self.retry_times = settings.getint("IMAGES_RETRY_TIMES")
        self.concurrency = settings.getint("IMAGES_CONCURRENCY")
        self.memo_size = settings.getint("IMAGES_MEMO_SIZE")
        # redirects are followed, each hop checked again by the image guard
        self.allow_redirects = True
        self._handle_statuses(True)
        self._downloads: asyncio.Semaphore | None = None
        # Pillow lets go of the GIL while it decodes and resizes: two threads
        # keep two cores busy; more would only add malloc arenas (memory)
        self._decoders = ThreadPoolExecutor(max_workers=2, thread_name_prefix="images")
        self.where = store_uri

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProductImagesPipeline:
        if not crawler.settings.get("IMAGES_STORE"):
            raise NotConfigured("IMAGES_STORE is not set")  # as MONGO_URI: one line, at start
        cls._update_stores(crawler.settings)
        return cls(crawler.settings["IMAGES_STORE"], crawler=crawler)

    def open_spider(self, spider: Any = None) -> None:
        super().open_spider()
        self._downloads = asyncio.Semaphore(self.concurrency)
        logger.info(
            "Images: stored in %s (%s per product%s).",
            self.where,
            self.per_product or "all",
            ", review photos too" if self.review_images else "",
        )

    def close_spider(self, spider: Any = None) -> None:
        self._decoders.shutdown(wait=False, cancel_futures=True)

    # -- which images -----------------------------------------------------

    def image_urls(self, item: Any) -> list[str]:
        if isinstance(item, Product):
            urls = item.image_urls
            return list(urls[: self.per_product] if self.per_product > 0 else urls)
        if isinstance(item, Comment) and self.review_images:
            return list(item.image_urls)
        return []

    def get_media_requests(self, item: Any, info: MediaPipeline.SpiderInfo) -> list[Request]:
        return [
            Request(
                url,
                callback=NO_CALLBACK,
                errback=self._failed_result,
                meta={
                    "image": True,
                    "download_slot": SLOT,
                    "download_timeout": self.timeout,
                    "download_maxsize": self.max_bytes,
                    "download_warnsize": 0,
                    "max_retry_times": self.retry_times,
                    "dont_obey_robotstxt": True,
                    "dont_cache": True,
                },
            )
            for url in dict.fromkeys(self.image_urls(item))
            if isinstance(url, str)
        ]

    # -- stored already? --------------------------------------------------

    async def media_to_download(  # type: ignore[override]
        self, request: Request, info: MediaPipeline.SpiderInfo, *, item: Any = None
    ) -> FileInfo | None:
        path = self.file_path(request, info=info, item=item)
        try:
            stat: dict[str, Any] = dict(
                await ensure_awaitable(self.store.stat_file(path, info)) or {}
            )
        except Exception:  # not stored (S3 answers 404), or the store is down: download
            return None
        modified = stat.get("last_modified")
        if not modified or (time.time() - modified) / 86400 > self.expires:
            return None
        self.inc_stats("uptodate")
        entry = {
            "url": request.url,
            "path": path,
            "checksum": stat.get("checksum"),
            **_dimensions(stat),
            "status": "uptodate",
        }
        return cast("FileInfo", entry)

    async def _check_media_to_download(
        self, request: Request, info: MediaPipeline.SpiderInfo, item: Any
    ) -> FileInfo:
        # Scrapy's, with at most IMAGES_CONCURRENCY image requests in the
        # downloader (a request waiting in a slot counts against
        # CONCURRENT_REQUESTS, so more would keep the API's requests out of the
        # downloader); decoding and storing happen after the download's place
        # is given back, so a slow decode never idles an image slot.
        assert self._downloads is not None
        try:
            self._modify_media_request(request)
            async with self._downloads:
                response = await self.crawler.engine.download_async(request)
            return await self.media_downloaded(response, request, info, item=item)
        except Exception:
            return self.media_failed(Failure(), request, info)  # raises

    # -- downloaded ---------------------------------------------------------

    async def media_downloaded(
        self,
        response: Response,
        request: Request,
        info: MediaPipeline.SpiderInfo,
        *,
        item: Any = None,
    ) -> FileInfo:
        url = request.url
        if response.status != 200:
            code = response.status
            return self._failed(url, f"http_{code}", f"the image host answered {code}")
        body = response.body
        if not body:
            return self._failed(url, "empty", "the image host sent an empty body")
        if self.max_bytes and len(body) > self.max_bytes:
            return self._failed(url, "too_large", f"{len(body)} bytes, over IMAGES_MAX_BYTES")
        path = self.file_path(request, response=response, info=info, item=item)
        try:
            loop = asyncio.get_running_loop()
            (width, height), files = await loop.run_in_executor(
                self._decoders, self._convert, body, request
            )
        except ImageFailure as exc:
            return self._failed(url, exc.reason, exc.message)
        files[0][1].seek(0)
        checksum = _md5sum(files[0][1])
        try:
            for file_path, buf in files:
                buf.seek(0)
                await ensure_awaitable(
                    self.store.persist_file(
                        file_path,
                        buf,
                        info,
                        meta={"width": width, "height": height},
                        headers={"Content-Type": "image/jpeg"},
                    )
                )
        except Exception as exc:  # a boundary: the store's errors fail this image only
            logger.warning("Images: could not store %s in %s: %s", url, self.where, exc)
            return self._failed(url, "store_error", f"{type(exc).__name__}: {exc}")
        status = "cached" if "cached" in response.flags else "downloaded"
        self.inc_stats(status)
        entry = {
            "url": url,
            "path": path,
            "checksum": checksum,
            "width": width,
            "height": height,
            "status": status,
        }
        return cast("FileInfo", entry)

    def _convert(
        self, body: bytes, request: Request
    ) -> tuple[tuple[int, int], list[tuple[str, BytesIO]]]:
        """The image's size and the files to store (the JPEG, then thumbnails);
        :class:`ImageFailure` for a body that is not a sound image."""
        try:
            opened = Image.open(BytesIO(body))
        except Image.DecompressionBombError as exc:
            raise ImageFailure("too_many_pixels", str(exc)) from None
        except UnidentifiedImageError:
            raise ImageFailure("not_an_image", f"not an image: it starts {body[:16]!r}") from None
        except (OSError, ValueError) as exc:
            raise ImageFailure("not_an_image", f"{type(exc).__name__}: {exc}") from None
        width, height = opened.size
        if self.max_pixels and width * height > self.max_pixels:
            raise ImageFailure(
                "too_many_pixels", f"{width}x{height} pixels, over IMAGES_MAX_PIXELS"
            )
        try:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            full, buf = self.convert_image(image, response_body=BytesIO(body))
            files = [(self.file_path(request), buf)]
            for thumb_id, size in self.thumbs.items():
                _, thumb = self.convert_image(full, size, response_body=buf)
                files.append((self.thumb_path(request, thumb_id), thumb))
        except Image.DecompressionBombError as exc:
            raise ImageFailure("too_many_pixels", str(exc)) from None
        except (OSError, ValueError, SyntaxError) as exc:  # cut or corrupt data
            raise ImageFailure("not_an_image", f"{type(exc).__name__}: {exc}") from None
        return full.size, files

    # -- failed ------------------------------------------------------------

    def media_failed(
        self, failure: Failure, request: Request, info: MediaPipeline.SpiderInfo
    ) -> Any:
        exc = failure.value
        assert exc is not None
        guard_reason = getattr(exc, "reason", None)
        if isinstance(exc, ImageFailure):
            pass
        elif isinstance(exc, IgnoreRequest) and isinstance(guard_reason, str):  # the guard
            exc = ImageFailure(guard_reason, str(exc))
        else:
            reason = failure_reason(exc)
            exc = ImageFailure("too_large" if reason == "body_too_large" else reason, str(exc))
        # raised as Scrapy's media pipeline raises a filtered request (logged at
        # DEBUG, no traceback); the request's errback turns it into a result
        return super().media_failed(Failure(exc), request, info)

    def _failed_result(self, failure: Failure) -> FileInfo:
        """The errback of every image request: its failure as a result entry."""
        exc = failure.value
        cause = getattr(exc, "__cause__", None)
        found = cause if isinstance(cause, ImageFailure) else exc
        if isinstance(found, ImageFailure):
            reason, message = found.reason, found.message
        else:
            reason, message = failure_reason(found or Exception()), str(found)
        return self._failed(None, reason, message)

    def _failed(self, url: str | None, reason: str, message: str) -> FileInfo:
        entry = {"url": url, "status": "failed", "reason": reason, "message": message}
        return cast("FileInfo", entry)

    # -- the record ---------------------------------------------------------

    def item_completed(
        self, results: list[FileInfoOrError], item: Any, info: MediaPipeline.SpiderInfo
    ) -> Any:
        urls = list(dict.fromkeys(u for u in self.image_urls(item) if isinstance(u, str)))
        entries: list[dict[str, Any]] = []
        record_id = item.product_id if isinstance(item, Comment) else getattr(item, "id", None)
        for url, (ok, value) in zip(urls, results, strict=False):
            entry: dict[str, Any] = (
                dict(value)
                if ok and isinstance(value, dict)
                else {
                    "status": "failed",
                    "reason": "error",
                    "message": str(getattr(value, "value", value)),
                }
            )
            entry["url"] = url
            if entry.get("status") == "failed":
                reason = entry.get("reason") or "error"
                message = entry.pop("message", "")
                assert self.stats is not None
                self.stats.inc_value(f"images/failed/{reason}")
                record_failure(
                    self.crawler,
                    kind="image",
                    record_id=record_id,
                    url=url,
                    reason=reason,
                    message=message,
                    log=False,
                )
                entry = {"url": url, "status": "failed", "reason": reason}
            else:
                entry = {
                    key: entry[key]
                    for key in ("url", "path", "checksum", "width", "height", "status")
                    if entry.get(key) is not None
                }
            entries.append(entry)
        if urls:
            item.images = entries
        self._forget(info, [e["url"] for e in entries if e["status"] == "failed"])
        return item

    def _forget(self, info: MediaPipeline.SpiderInfo, failed: list[str]) -> None:
        """Keep the run's memo of finished URLs small, so that the memory of a
        long crawl stays flat: a failure is not kept (its Failure holds
        tracebacks, and so the frames of the download; a later product with the
        URL tries it again), and of the results, the latest ``IMAGES_MEMO_SIZE``
        (an older URL is asked of the store again: ``uptodate``)."""
        done = info.downloaded
        for url in failed:
            done.pop(self._fingerprinter.fingerprint(Request(url)), None)
        while len(done) > self.memo_size:
            del done[next(iter(done))]

    def inc_stats(self, status: str) -> None:
        super().inc_stats(status)
        assert self.stats is not None
        self.stats.inc_value(f"images/{status}")


class ImagesAddon:
    """Lists :class:`ProductImagesPipeline` in ``ITEM_PIPELINES`` (at 250,
    after validation, before MongoDB) when ``IMAGES_STORE`` is set, and not
    otherwise, as :class:`crawler.pipelines.mongo.MongoAddon` does for MongoDB:
    a run without images logs no "Disabled" WARNING. A pipeline listed by hand
    is kept where it is."""

    priority = 250

    def update_settings(self, settings: Any) -> None:
        if not (settings.get("IMAGES_STORE") or "").strip():
            return
        settings.setdefault_in_component_priority_dict(
            "ITEM_PIPELINES", ProductImagesPipeline, self.priority
        )
