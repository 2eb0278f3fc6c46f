"""The images pipeline's checks of a body, on bytes made here with Pillow: what
is stored (JPEG, thumbnails) and why a body is not (its reason)."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from scrapy import Request
from scrapy.utils.test import get_crawler

from crawler import settings as defaults
from crawler.items import Comment, Product
from crawler.pipelines.images import SLOT, ImageFailure, ProductImagesPipeline

URL = "https://salt.tikicdn.com/ts/product/ab/cd/1.jpg"


def pipeline(tmp_path: Path, **settings: object) -> ProductImagesPipeline:
    """The pipeline with the project's image settings, ``settings`` over them."""
    ours = {name: getattr(defaults, name) for name in dir(defaults) if name.startswith("IMAGES_")}
    values = {**ours, "REVIEW_IMAGES": False, "IMAGES_STORE": str(tmp_path), **settings}
    return ProductImagesPipeline.from_crawler(get_crawler(settings_dict=values))


def picture(fmt: str, size: tuple[int, int] = (300, 200), mode: str = "RGB") -> bytes:
    buf = BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(buf, fmt)
    return buf.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.mark.parametrize(("fmt", "mode"), [("JPEG", "RGB"), ("PNG", "RGBA"), ("WEBP", "RGB")])
def test_an_image_is_stored_as_jpeg_with_its_thumbnail(tmp_path, fmt, mode) -> None:
    size, files = pipeline(tmp_path)._convert(picture(fmt, mode=mode), Request(URL))
    assert size == (300, 200)
    (full, buf), (thumb, thumb_buf) = files
    assert full.startswith("full/") and thumb.startswith("thumbs/small/")
    buf.seek(0)
    thumb_buf.seek(0)
    assert Image.open(buf).format == "JPEG"
    assert Image.open(thumb_buf).size == (100, 67)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html><body>Access denied</body></html>", "not_an_image"),
        (b'{"error": "moved"}', "not_an_image"),
        (picture("JPEG")[:300], "not_an_image"),  # cut short
        (picture("PNG")[:200], "not_an_image"),
        (png_claiming(8000, 8000), "too_many_pixels"),  # IMAGES_MAX_PIXELS, before decoding
    ],
)
def test_a_bad_body_has_its_reason(tmp_path, body, reason) -> None:
    with pytest.raises(ImageFailure) as caught:
        pipeline(tmp_path)._convert(body, Request(URL))
    assert caught.value.reason == reason


def test_pillows_own_bomb_check_stays_on(tmp_path) -> None:
    # ours off (0): Pillow's refuses 400 megapixels (over twice Image.MAX_IMAGE_PIXELS)
    assert Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageFailure) as caught:
        pipeline(tmp_path, IMAGES_MAX_PIXELS=0)._convert(png_claiming(20000, 20000), Request(URL))
    assert caught.value.reason == "too_many_pixels"


def test_image_requests_have_their_slot_limits_and_the_guards_flag(tmp_path) -> None:
    pipe = pipeline(tmp_path, IMAGES_PER_PRODUCT=2, IMAGES_MAX_BYTES=1000)
    product = Product(
        id=1,
        name="x",
        image_urls=[URL, URL, URL.replace("1.jpg", "2.jpg"), URL.replace("1.jpg", "3.jpg")],
        source_url="https://tiki.vn/api/v2/products/1",
        scraped_at=None,  # type: ignore[arg-type]
    )
    requests = pipe.get_media_requests(product, None)  # type: ignore[arg-type]
    assert [r.url for r in requests] == [URL]  # the first 2, once each
    meta = requests[0].meta
    assert meta["image"] is True
    assert meta["download_slot"] == SLOT
    assert meta["download_maxsize"] == 1000
    assert meta["dont_obey_robotstxt"] is True
    comment = Comment(
        id=5,
        product_id=1,
        image_urls=[URL],
        source_url="u",
        scraped_at=None,  # type: ignore[arg-type]
    )
    assert pipe.get_media_requests(comment, None) == []  # type: ignore[arg-type]
    with_reviews = pipeline(tmp_path, REVIEW_IMAGES=True)
    assert [r.url for r in with_reviews.get_media_requests(comment, None)] == [URL]  # type: ignore[arg-type]
