"""Extraction: API JSON in, items out. Plain functions, no crawl needed.

A tolerant reader: extra keys are ignored, optional keys may be missing or
``null``, ids may be ints or numeric strings. A value that cannot be coerced
without loss is kept as it came (see :mod:`crawler.items`). Only a body that is
not the documented shape at all raises :class:`ExtractionError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from crawler.exceptions import ExtractionError
from crawler.items import Brand, Comment, Product

#: review_created_date in the timeline is Vietnam local time
VIETNAM_TZ = timezone(timedelta(hours=7))


# -- coercion ---------------------------------------------------------------


def as_int(value: Any) -> Any:
    """``12`` and ``"12"`` give ``12``; ``None`` and ``""`` give ``None``;
    anything else (``"Liên hệ"``, ``1.5``) is returned unchanged."""
    if value is None or isinstance(value, bool):
        return None if value is None else value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return value
    return value


def as_float(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None if value is None else value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip()) if value.strip() else None
        except ValueError:
            return value
    return value


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_json(body: bytes, what: str) -> dict[str, Any]:
    """Decode a response body that must be a JSON object."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ExtractionError(
            "malformed_json", f"{what}: the body is not valid JSON ({exc})"
        ) from exc
    return json_object(payload, what)


def json_object(payload: Any, what: str) -> dict[str, Any]:
    """A decoded body that must be a JSON object, as it is."""
    if not isinstance(payload, dict):
        raise ExtractionError(
            "unexpected_shape",
            f"{what}: expected a JSON object, got {type(payload).__name__}",
        )
    return payload


def _required_id(value: Any, what: str) -> int:
    ident = as_int(value)
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise ExtractionError("missing_id", f"{what}: no usable id ({value!r})")
    return ident


# -- listings ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paging:
    total: int
    last_page: int
    current_page: int


def extract_paging(payload: dict[str, Any]) -> Paging:
    paging = as_dict(payload.get("paging"))
    total = as_int(paging.get("total"))
    last_page = as_int(paging.get("last_page"))
    current = as_int(paging.get("current_page"))
    return Paging(
        total=total if isinstance(total, int) else 0,
        last_page=last_page if isinstance(last_page, int) else 1,
        current_page=current if isinstance(current, int) else 1,
    )


def extract_listing_ids(payload: dict[str, Any], what: str = "listing") -> list[int]:
    """Product ids of one listing page, in page order (ids may be strings)."""
    data = payload.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ExtractionError("unexpected_shape", f"{what}: 'data' is not a list")
    ids = []
    for entry in data:
        ident = as_int(as_dict(entry).get("id"))
        if isinstance(ident, int) and not isinstance(ident, bool):
            ids.append(ident)
    return ids


#: what a listing entry tells of a product, by the names of the product's fields:
#: the fields ``products -a mode=track`` compares with MongoDB
LISTING_FIELDS = (
    "price",
    "list_price",
    "discount",
    "discount_rate",
    "rating_average",
    "review_count",
    "quantity_sold",
)


def extract_listing_entries(
    payload: dict[str, Any], what: str = "listing"
) -> list[tuple[int, tuple[Any, ...]]]:
    """``(id, values of LISTING_FIELDS)`` of each entry of a listing page, in page
    order, coerced as the detail's are (:func:`extract_product`)."""
    data = payload.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ExtractionError("unexpected_shape", f"{what}: 'data' is not a list")
    entries = []
    for raw in data:
        entry = as_dict(raw)
        ident = as_int(entry.get("id"))
        if not isinstance(ident, int) or isinstance(ident, bool):
            continue
        values = (
            as_int(entry.get("price")),
            as_int(entry.get("list_price")),
            as_int(entry.get("discount")),
            as_int(entry.get("discount_rate")),
            as_float(entry.get("rating_average")),
            as_int(entry.get("review_count")),
            _quantity(entry.get("quantity_sold")),
        )
        entries.append((ident, values))
    return entries


def extract_brands(
    payload: dict[str, Any], category_id: int, source_url: str, now: datetime
) -> list[Brand]:
    """Brands of the listing's ``brand`` filter (needs ``aggregations=2``)."""
    brands = []
    for entry in as_list(payload.get("filters")):
        entry = as_dict(entry)
        if entry.get("query_name") != "brand":
            continue
        for value in as_list(entry.get("values")):
            value = as_dict(value)
            ident = as_int(value.get("query_value"))
            if not isinstance(ident, int):
                continue
            brands.append(
                Brand(
                    id=ident,
                    name=as_str(value.get("display_value")) or "",
                    slug=as_str(value.get("url_key")),
                    category_ids=[category_id],
                    source_url=source_url,
                    scraped_at=now,
                )
            )
    return brands


# -- product detail ---------------------------------------------------------


def _quantity(value: Any) -> Any:
    if isinstance(value, dict):
        return as_int(value.get("value"))
    return as_int(value)


def _specifications(groups: Any) -> list[dict[str, str]]:
    rows = []
    for group in as_list(groups):
        group = as_dict(group)
        group_name = as_str(group.get("name")) or ""
        for attribute in as_list(group.get("attributes")):
            attribute = as_dict(attribute)
            rows.append(
                {
                    "group": group_name,
                    "code": as_str(attribute.get("code")) or "",
                    "name": as_str(attribute.get("name")) or "",
                    "value": as_str(attribute.get("value")) or "",
                }
            )
    return rows


def _image_urls(images: Any) -> list[str]:
    urls = []
    for image in as_list(images):
        image = as_dict(image)
        url = image.get("base_url") or image.get("large_url") or image.get("full_path")
        if isinstance(url, str) and url:
            urls.append(url)
    return urls


def extract_product(payload: dict[str, Any], source_url: str, now: datetime) -> Product:
    """A product detail (``/api/v2/products/{id}``) as a :class:`Product`."""
    ident = _required_id(payload.get("id"), f"product at {source_url}")
    brand = as_dict(payload.get("brand"))
    category = as_dict(payload.get("categories"))
    seller = as_dict(payload.get("current_seller"))
    stock = as_dict(payload.get("stock_item"))
    name = payload.get("name")
    return Product(
        id=ident,
        master_id=as_int(payload.get("master_id")),
        sku=as_str(payload.get("sku")),
        name=name if isinstance(name, str) else as_str(name) or "",
        url_key=as_str(payload.get("url_key")),
        url=as_str(payload.get("short_url")),
        type=as_str(payload.get("type")),
        short_description=as_str(payload.get("short_description")),
        description_html=as_str(payload.get("description")),
        price=as_int(payload.get("price")),
        list_price=as_int(payload.get("list_price")),
        original_price=as_int(payload.get("original_price")),
        discount=as_int(payload.get("discount")),
        discount_rate=as_int(payload.get("discount_rate")),
        rating_average=as_float(payload.get("rating_average")),
        review_count=as_int(payload.get("review_count")),
        all_time_quantity_sold=as_int(payload.get("all_time_quantity_sold")),
        quantity_sold=_quantity(payload.get("quantity_sold")),
        inventory_status=as_str(payload.get("inventory_status")),
        brand_id=as_int(brand.get("id")),
        brand_name=as_str(brand.get("name")),
        brand_slug=as_str(brand.get("slug")),
        category_id=as_int(category.get("id")),
        category_name=as_str(category.get("name")),
        breadcrumbs=[
            {
                "category_id": as_int(crumb.get("category_id")),
                "name": as_str(crumb.get("name")) or "",
                "url": as_str(crumb.get("url")) or "",
            }
            for crumb in map(as_dict, as_list(payload.get("breadcrumbs")))
        ],
        seller_id=as_int(seller.get("id")),
        seller_name=as_str(seller.get("name")),
        seller_product_id=as_str(seller.get("product_id")),
        specifications=_specifications(payload.get("specifications")),
        image_urls=_image_urls(payload.get("images")),
        thumbnail_url=as_str(payload.get("thumbnail_url")),
        variant_ids=[
            v
            for v in (
                as_int(as_dict(variant).get("id"))
                for variant in as_list(payload.get("configurable_products"))
            )
            if isinstance(v, int)
        ],
        stock_qty=as_int(stock.get("qty")),
        day_ago_created=as_int(payload.get("day_ago_created")),
        source_url=source_url,
        scraped_at=now,
    )


# -- reviews ----------------------------------------------------------------


def _created_at(review: dict[str, Any]) -> datetime | None:
    seconds = as_int(review.get("created_at"))
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        return datetime.fromtimestamp(seconds, tz=UTC)
    local = as_dict(review.get("timeline")).get("review_created_date")
    if isinstance(local, str):
        try:
            parsed = datetime.strptime(local, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return None
        return parsed.replace(tzinfo=VIETNAM_TZ).astimezone(UTC)
    return None


def extract_comment(
    review: dict[str, Any], product_id: int, source_url: str, now: datetime
) -> Comment:
    """One entry of a reviews page's ``data`` as a :class:`Comment`."""
    ident = _required_id(review.get("id"), f"review of product {product_id}")
    author = as_dict(review.get("created_by"))
    own_product = as_int(review.get("product_id"))
    return Comment(
        id=ident,
        product_id=own_product if isinstance(own_product, int) else product_id,
        title=as_str(review.get("title")),
        content=as_str(review.get("content")),
        rating=as_int(review.get("rating")),
        status=as_str(review.get("status")),
        thank_count=as_int(review.get("thank_count")),
        comment_count=as_int(review.get("comment_count")),
        customer_id=as_int(review.get("customer_id")) or as_int(author.get("id")),
        author_name=as_str(author.get("full_name") or author.get("name")),
        purchased=author.get("purchased") if isinstance(author.get("purchased"), bool) else None,
        seller_id=as_int(as_dict(review.get("seller")).get("id")),
        image_urls=[
            url
            for url in (as_dict(image).get("full_path") for image in as_list(review.get("images")))
            if isinstance(url, str) and url
        ],
        created_at=_created_at(review),
        source_url=source_url,
        scraped_at=now,
    )


def extract_comments(
    payload: dict[str, Any], product_id: int, source_url: str, now: datetime
) -> list[Comment]:
    """The reviews of one page; an entry without an id raises ExtractionError."""
    data = payload.get("data")
    if data is None:
        return []
    if not isinstance(data, list):
        raise ExtractionError(
            "unexpected_shape", f"reviews of product {product_id}: 'data' is not a list"
        )
    return [extract_comment(as_dict(r), product_id, source_url, now) for r in data]
