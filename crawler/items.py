"""Typed items: what a catalogue user gets, one dataclass per record type.

Types describe a valid record. Extraction coerces lossless values (``"123"`` to
``123``) and leaves a value it cannot coerce as it came, so that validation can
reject the record with the reason instead of a silent ``None``.

Each item class names its natural key (``key_field``) and its MongoDB collection
(``collection``): the pipelines upsert and reject by them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar


@dataclass(kw_only=True, slots=True)
class Brand:
    collection: ClassVar[str] = "brands"
    key_field: ClassVar[str] = "id"

    id: int
    name: str
    slug: str | None = None
    category_ids: list[int] = field(default_factory=list)
    source_url: str
    scraped_at: datetime


@dataclass(kw_only=True, slots=True)
class Product:
    collection: ClassVar[str] = "products"
    key_field: ClassVar[str] = "id"

    id: int
    master_id: int | None = None
    sku: str | None = None
    name: str
    url_key: str | None = None
    url: str | None = None
    type: str | None = None
    short_description: str | None = None
    #: the description as the API sends it (HTML)
    description_html: str | None = None
    #: the description as plain text (filled by the cleaning pipeline)
    description_text: str | None = None
    price: int | None = None
    list_price: int | None = None
    original_price: int | None = None
    discount: int | None = None
    discount_rate: int | None = None
    rating_average: float | None = None
    review_count: int | None = None
    all_time_quantity_sold: int | None = None
    quantity_sold: int | None = None
    inventory_status: str | None = None
    brand_id: int | None = None
    brand_name: str | None = None
    brand_slug: str | None = None
    category_id: int | None = None
    category_name: str | None = None
    #: [{"category_id": int | None, "name": str, "url": str}], root first
    breadcrumbs: list[dict[str, Any]] = field(default_factory=list)
    seller_id: int | None = None
    seller_name: str | None = None
    seller_product_id: str | None = None
    #: [{"group": str, "code": str, "name": str, "value": str}]: rows, never keys
    specifications: list[dict[str, str]] = field(default_factory=list)
    image_urls: list[str] = field(default_factory=list)
    #: the stored images, one per URL of ``image_urls`` (with IMAGES_STORE set):
    #: {"url", "path", "checksum", "width", "height", "status"}, or
    #: {"url", "status": "failed", "reason"} (crawler/pipelines/images.py)
    images: list[dict[str, Any]] | None = None
    thumbnail_url: str | None = None
    variant_ids: list[int] = field(default_factory=list)
    stock_qty: int | None = None
    day_ago_created: int | None = None
    source_url: str
    #: the URL first asked for, when the API redirected it to ``source_url``
    #: (its own canonical URL); None when it answered where it was asked
    redirected_from: str | None = None
    scraped_at: datetime


@dataclass(kw_only=True, slots=True)
class Comment:
    collection: ClassVar[str] = "comments"
    key_field: ClassVar[str] = "id"

    id: int
    product_id: int
    title: str | None = None
    content: str | None = None
    rating: int | None = None
    status: str | None = None
    thank_count: int | None = None
    comment_count: int | None = None
    customer_id: int | None = None
    author_name: str | None = None
    purchased: bool | None = None
    seller_id: int | None = None
    image_urls: list[str] = field(default_factory=list)
    #: the review's stored photos (with IMAGES_STORE and REVIEW_IMAGES set), as
    #: :attr:`Product.images`
    images: list[dict[str, Any]] | None = None
    #: UTC, from ``created_at`` (unix seconds) or the timeline's local time
    created_at: datetime | None = None
    source_url: str
    scraped_at: datetime


@dataclass(kw_only=True, slots=True)
class DashboardRow:
    """One row of a dashboard report table (the dashboard spider's item).

    Typed by :func:`crawler.extract.dashboard.extract_rows`: ``day`` a date, numbers
    ints (money in VND) or floats (percentages, ``2.5`` for "2,5 %"), text as
    shown; a cell that does not parse as its column's type stays text."""

    collection: ClassVar[str] = "dashboard_rows"
    key_field: ClassVar[str] = "key"

    #: "<report>:<row key>", unique across reports; the row key is the day and
    #: the report's key column: "orders:2026-08-01:101", "traffic:2026-08-01:Email"
    key: str
    report: str
    day: date
    #: the other columns by name: {"seller_id": 101, "revenue": 2480000, ...}
    values: dict[str, Any] = field(default_factory=dict)
    #: the report page the row was read from
    source_url: str
    scraped_at: datetime


@dataclass(kw_only=True, slots=True)
class ProductSeen:
    """A product a track run saw in a listing, unchanged: only its ``last_seen_at``
    is updated (never a new document; no feed, no schema: it is no record)."""

    collection: ClassVar[str] = "products"
    key_field: ClassVar[str] = "id"
    #: a partial update of an existing document: item field -> document field
    set_as: ClassVar[dict[str, str]] = {"scraped_at": "last_seen_at"}

    id: int
    source_url: str
    scraped_at: datetime


@dataclass(kw_only=True, slots=True)
class ReviewsRead:
    """The reviews of a product were read up to ``review_count`` (the comments
    spider): ``comments -a mode=new`` reads a product again when its review
    count rose past it."""

    collection: ClassVar[str] = "products"
    key_field: ClassVar[str] = "id"
    set_as: ClassVar[dict[str, str]] = {
        "review_count": "reviews_read_count",
        "scraped_at": "reviews_read_at",
    }

    id: int
    review_count: int
    source_url: str
    scraped_at: datetime


ITEM_CLASSES: tuple[type, ...] = (Brand, Product, Comment, DashboardRow)
#: the items that only update a document (``set_as``), never records of their own
STATE_ITEM_CLASSES: tuple[type, ...] = (ProductSeen, ReviewsRead)


def item_type(item: Any) -> str:
    """The short type name used in stats keys and rejects: ``product``, ..."""
    return type(item).__name__.lower()
