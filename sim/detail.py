"""Product detail documents (`GET /api/v2/products/{id}`).

About 70 top-level keys with the real types: `categories` one object, `breadcrumbs` a list,
`current_seller.product_id` a string, `brand` missing or null for a few products, and for
invalid products exactly one defect of their reason (see `sim.catalog.INVALID_REASONS`).
"""

from __future__ import annotations

import random

from sim import words
from sim.catalog import FLAG_HOSTILE_SPECS, FLAG_NO_BRAND, Catalog
from sim.content import CDN, ProductCore, description_html, image_urls, specifications
from sim.util import mix, sold_text

_SALT_DETAIL = 22


def product_detail(cat: Catalog, core: ProductCore, i: int) -> dict[str, object]:
    """The detail document of product index i (~70 keys), with its invalid reason's defect."""
    pid, price = cat.pid(i), cat.price(i)
    rng = random.Random(mix(cat.seed, pid, _SALT_DETAIL))
    brand, primary = cat.brand_of(i), cat.categories_of(i)[0]
    summary, sold = cat.review_summary(i), cat.sold(i)
    seller_id, seller_name, store_id = core.seller
    url_path = f"{core.url_key}.html?spid={core.spid}"
    in_stock = rng.random() >= 0.05
    configurable = pid % 3 == 0
    variants = (
        [
            {
                "id": core.spid + 10 + k,
                "child_id": core.spid + 10 + k,
                "sku": f"{core.sku}{k}",
                "name": f"{core.name} - {color}",
                "price": price,
                "option1": color,
                "inventory_status": "available",
                "selected": k == 0,
                "thumbnail_url": f"{CDN}/cache/280x280/{core.images[k % len(core.images)]}",
                "images": [{"large_url": f"{CDN}/cache/w1200/{core.images[k % len(core.images)]}"}],
                "seller": {"id": seller_id, "name": seller_name},
            }
            for k, color in enumerate(rng.sample(words.COLORS, rng.randrange(2, 5)))
        ]
        if configurable
        else []
    )
    body: dict[str, object] = {
        "id": pid,
        "master_id": pid,
        "sku": core.sku,
        "name": core.name,
        "url_key": core.url_key,
        "url_path": url_path,
        "short_url": f"https://tiki.vn/product-p{pid}.html?spid={core.spid}",
        "type": "configurable" if configurable else "simple",
        "book_cover": None,
        "short_description": f"{core.name}. Xuất xứ {core.origin}. Màu {core.color}.",
        "price": price,
        "list_price": core.list_price,
        "original_price": core.list_price,
        "badges": [],
        "badges_new": [{"placement": "top_left", "code": "tikinow", "type": "icon_badge"}],
        "badges_v3": [],
        "discount": core.list_price - price,
        "discount_rate": round(100 * (core.list_price - price) / core.list_price),
        "rating_average": summary.average,
        "review_count": summary.total,
        "review_text": f"({summary.total})",
        "favourite_count": core.favourite_count,
        "thumbnail_url": f"{CDN}/cache/280x280/{core.images[0]}",
        "has_ebook": False,
        "inventory_status": "available" if in_stock else "out_of_stock",
        "inventory_type": "backorder",
        "productset_group_name": primary.name,
        "is_fresh": False,
        "seller": None,
        "is_flower": False,
        "has_buynow": False,
        "is_gift_card": False,
        "salable_type": "",
        "data_version": 5,
        "day_ago_created": core.day_ago_created,
        "all_time_quantity_sold": sold,
        "meta_title": f"{core.name} | Tiki",
        "meta_description": f"Mua online {core.name} giá tốt",
        "meta_keywords": "",
        "is_baby_milk": False,
        "is_acoholic_drink": False,
        "description": description_html(rng, core, brand.name),
        "images": [image_urls(path) for path in core.images],
        "warranty_policy": "Bảo hành chính hãng",
        "brand": {"id": brand.id, "name": brand.name, "slug": brand.slug},
        "current_seller": {
            "id": seller_id,
            "sku": core.sku,
            "name": seller_name,
            "link": f"https://tiki.vn/cua-hang/seller-{seller_id}",
            "logo": f"{CDN}/ts/seller/{store_id:x}.png",
            "price": price,
            "product_id": str(core.spid),
            "store_id": store_id,
            "is_best_store": seller_id == 1,
            "is_offline_installment_supported": None,
        },
        "other_sellers": [],
        "specifications": specifications(
            rng, core, primary, brand, cat.has_flag(i, FLAG_HOSTILE_SPECS)
        ),
        "product_links": [],
        "gift_item_title": "",
        "services_and_promotions": [],
        "promotions": [],
        "stock_item": {
            "qty": rng.randrange(1, 500) if in_stock else 0,
            "min_sale_qty": 1,
            "max_sale_qty": rng.choice([5, 10, 99]),
            "preorder_date": None,
        },
        "quantity_sold": {"text": sold_text(sold), "value": sold} if sold else None,
        "categories": {"id": primary.id, "name": primary.name, "is_leaf": True},
        "breadcrumbs": [
            {
                "url": f"/{primary.root_url_key}/c{primary.root_id}",
                "name": primary.root_name,
                "category_id": primary.root_id,
            },
            {
                "url": f"/{primary.url_key}/c{primary.id}",
                "name": primary.name,
                "category_id": primary.id,
            },
            {"url": f"/{url_path}", "name": core.name, "category_id": 0},
        ],
        "installment_info_v2": [],
        "is_seller_in_chat_whitelist": True,
        "inventory": {"product_virtual_type": None, "fulfillment_type": "dropship"},
        "warranty_info": [
            {
                "name": "Thời gian bảo hành",
                "value": f"{rng.choice([6, 12, 24])} Tháng",
                "url": None,
            },
            {
                "name": "Hình thức bảo hành",
                "value": rng.choice(words.WARRANTY_PLACES),
                "url": None,
            },
            {
                "name": "Hướng dẫn bảo hành",
                "value": "Xem chi tiết",
                "url": "https://hotro.tiki.vn/s/article/chinh-sach-bao-hanh-tai-tiki",
            },
        ],
        "return_and_exchange_policy": "Đổi trả trong<br><b>30 ngày</b><br>nếu sp lỗi",
        "is_tier_pricing_available": False,
        "is_tier_pricing_eligible": False,
        "benefits": [
            {"icon": f"{CDN}/ts/upload/c5/37/ee.png", "text": "Được đồng kiểm khi nhận hàng"}
        ],
        "return_policy": {"title": "Đổi trả miễn phí 30 ngày", "body": []},
        "configurable_options": [
            {
                "code": "option1",
                "name": "Màu",
                "position": 0,
                "show_preview_image": True,
                "values": [{"label": v["option1"]} for v in variants],
            }
        ]
        if configurable
        else [],
        "configurable_products": variants,
        "highlight": {"items": [core.origin, core.color]},
        "video_url": None,
        "add_on_title": [],
        "add_on": None,
        "deal_specs": None,
        "asa_cashback_widget": None,
        "website_info": {"title": "Tiki"},
        "tracking_info": {
            "amplitude": {
                "is_hero": False,
                "seller_type": "OFFICIAL_STORE",
                "origin": core.origin,
            }
        },
    }
    stock = cat.stock_override(i)
    if stock is not None:  # a simulated day changed it (sim.living)
        body["inventory_status"] = stock[0]
        body["stock_item"]["qty"] = stock[1]  # type: ignore[index]
    if cat.has_flag(i, FLAG_NO_BRAND):
        if pid % 2:
            body["brand"] = None
        else:
            del body["brand"]
    reason = cat.invalid_reason(i)
    if reason == "price_missing":
        del body["price"]
    elif reason == "price_negative":
        body["price"] = -price
    elif reason == "price_wrong_type":
        body["price"] = "Liên hệ"
    elif reason == "name_empty":
        body["name"] = "" if pid % 2 else "   "
    return body
