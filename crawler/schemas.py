"""The JSON Schema of each item type: what a valid brand, product, comment or
dashboard row is. The validation pipeline checks items against them
(:mod:`crawler.pipelines.validate`), and the MongoDB collections get them as
``$jsonSchema`` validators (:mod:`crawler.mongo.collections`)."""

from __future__ import annotations

from typing import Any

from crawler.items import Brand, Comment, DashboardRow, Product

_ID = {"type": "integer", "minimum": 1}
_COUNT = {"type": "integer", "minimum": 0}
_MONEY = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_NAME = {"type": "string", "minLength": 1, "pattern": r"\S"}
_URL = {"type": "string", "minLength": 1}
_TIME = {"type": "string", "format": "date-time"}
_URLS = {"type": "array", "items": {"type": "string"}}
_IDS = {"type": "array", "items": _ID}
#: stored images (crawler/pipelines/images.py): a stored one has a path, a
#: failed one its reason
_IMAGES = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["url", "status"],
        "properties": {
            "url": _URL,
            "path": _URL,
            "checksum": _TEXT,
            "width": _COUNT,
            "height": _COUNT,
            "status": {"enum": ["downloaded", "uptodate", "cached", "failed"]},
            "reason": _TEXT,
        },
    },
}


def object_schema(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


BRAND_SCHEMA = object_schema(
    ["id", "name", "source_url", "scraped_at"],
    {
        "id": _ID,
        "name": _NAME,
        "slug": _TEXT,
        "category_ids": _IDS,
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)
PRODUCT_SCHEMA = object_schema(
    ["id", "name", "price", "source_url", "scraped_at"],
    {
        "id": _ID,
        "master_id": _ID,
        "sku": _TEXT,
        "name": _NAME,
        "url_key": _TEXT,
        "url": _TEXT,
        "type": _TEXT,
        "short_description": _TEXT,
        "description_html": _TEXT,
        "description_text": _TEXT,
        "price": _MONEY,
        "list_price": _MONEY,
        "original_price": _MONEY,
        "discount": {"type": "integer"},
        "discount_rate": {"type": "integer", "minimum": 0, "maximum": 100},
        "rating_average": {"type": "number", "minimum": 0, "maximum": 5},
        "review_count": _COUNT,
        "all_time_quantity_sold": _COUNT,
        "quantity_sold": _COUNT,
        "inventory_status": _TEXT,
        "brand_id": _ID,
        "brand_name": _TEXT,
        "brand_slug": _TEXT,
        "category_id": _ID,
        "category_name": _TEXT,
        "breadcrumbs": {
            "type": "array",
            "items": object_schema(
                ["name", "url"],
                {"category_id": {"type": ["integer", "null"]}, "name": _TEXT, "url": _TEXT},
            ),
        },
        "seller_id": _ID,
        "seller_name": _TEXT,
        "seller_product_id": _TEXT,
        "specifications": {
            "type": "array",
            "items": object_schema(
                ["group", "code", "name", "value"],
                {"group": _TEXT, "code": _TEXT, "name": _TEXT, "value": _TEXT},
            ),
        },
        "image_urls": _URLS,
        "images": _IMAGES,
        "thumbnail_url": _TEXT,
        "variant_ids": _IDS,
        "stock_qty": _COUNT,
        "day_ago_created": _COUNT,
        "source_url": _URL,
        "redirected_from": _URL,
        "scraped_at": _TIME,
    },
)
COMMENT_SCHEMA = object_schema(
    ["id", "product_id", "rating", "source_url", "scraped_at"],
    {
        "id": _ID,
        "product_id": _ID,
        "title": _TEXT,
        "content": _TEXT,
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "status": _TEXT,
        "thank_count": _COUNT,
        "comment_count": _COUNT,
        "customer_id": _ID,
        "author_name": _TEXT,
        "purchased": {"type": "boolean"},
        "seller_id": _ID,
        "image_urls": _URLS,
        "images": _IMAGES,
        "created_at": _TIME,
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)
DASHBOARD_ROW_SCHEMA = object_schema(
    ["key", "report", "day", "source_url", "scraped_at"],
    {
        "key": {"type": "string", "minLength": 1},
        "report": {"type": "string", "minLength": 1},
        "day": {"type": "string", "format": "date"},
        "values": {"type": "object"},
        "source_url": _URL,
        "scraped_at": _TIME,
    },
)

#: item class -> JSON Schema of its JSON form (also the source of the MongoDB
#: collection validators, see :func:`crawler.mongo.collections.collection_validator`)
SCHEMAS: dict[type, dict[str, Any]] = {
    Brand: BRAND_SCHEMA,
    Product: PRODUCT_SCHEMA,
    Comment: COMMENT_SCHEMA,
    DashboardRow: DASHBOARD_ROW_SCHEMA,
}
