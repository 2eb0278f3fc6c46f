"""JSON documents of the three API endpoints, built on request from the catalogue.

Every body is a pure function of (seed, size, request parameters) except for reviews that
arrived at run time through the `new_review_every` knob.
"""

from __future__ import annotations

import random

from sim.catalog import FLAG_STR_ID, SORTS, Catalog, ReviewRef
from sim.content import CDN, ProductCore, product_core, review_texts, reviewer
from sim.detail import product_detail
from sim.taxonomy import Category
from sim.util import NOW, format_vnd, mix, sold_text, vn_datetime

LISTING_LIMIT, LISTING_MAX_LIMIT = 40, 100
REVIEW_LIMIT, REVIEW_MAX_LIMIT = 5, 20
_CORE_CACHE_LIMIT = 100_000
_SALT_CORE = 21
_CURRENT_DATE = vn_datetime(NOW)

LISTING_SORT_OPTIONS = [
    {"query_value": "default", "display_value": "Phổ biến"},
    {"query_value": "top_seller", "display_value": "Bán chạy"},
    {"query_value": "newest", "display_value": "Hàng mới"},
    {"query_value": "price,asc", "display_value": "Giá thấp đến cao"},
    {"query_value": "price,desc", "display_value": "Giá cao đến thấp"},
]
REVIEW_SORT_OPTIONS = [
    {"id": "score|desc,id|all_stars", "label": "Hữu ích"},
    {"id": "id|desc", "label": "Mới nhất"},
    {"id": "stars|5", "label": "5 sao"},
    {"id": "stars|1", "label": "1 sao"},
]


def _paging(total: int, per_page: int, page: int) -> dict[str, int]:
    return {
        "total": total,
        "per_page": per_page,
        "current_page": page,
        "last_page": max(1, -(-total // per_page)),
    }


class Payloads:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._cores: dict[int, ProductCore] = {}

    def clear(self) -> None:
        """Forget the cached cores (the living catalogue changed, sim.living)."""
        self._cores.clear()

    def core(self, i: int) -> ProductCore:
        found = self._cores.get(i)
        if found is None:
            cat = self.catalog
            rng = random.Random(mix(cat.seed, cat.pid(i), _SALT_CORE))
            found = product_core(
                rng, cat.pid(i), cat.categories_of(i)[0], cat.brand_of(i), cat.base_price(i)
            )
            if len(self._cores) > _CORE_CACHE_LIMIT:
                self._cores.clear()
            self._cores[i] = found
        list_price = self.catalog.list_price_override(i)
        if list_price is not None:  # a simulated day changed it (sim.living)
            found = found._replace(list_price=list_price)
        return found

    # -- listings ------------------------------------------------------------------
    def listing(
        self,
        category_id: int,
        brand_ids: list[int],
        page: int,
        limit: int,
        sort: str,
        aggregations: bool,
    ) -> dict[str, object]:
        cat = self.catalog
        category = cat.category_by_id.get(category_id)
        limit = LISTING_LIMIT if limit < 1 else min(limit, LISTING_MAX_LIMIT)
        page = max(1, page)
        if category is None:
            items: list[int] = []
        else:
            wanted = None
            if brand_ids:
                index_by_id = {b.id: b.index for b, _ in cat.brands_in_category(category.index)}
                wanted = frozenset(index_by_id[b] for b in brand_ids if b in index_by_id)
            items = list(cat.listing(category.index, wanted, sort))
        body: dict[str, object] = {
            "data": [self.listing_item(i) for i in items[(page - 1) * limit : page * limit]],
            "paging": _paging(len(items), limit, page),
            "sort_options": [
                dict(opt, selected=opt["query_value"] == (sort if sort in SORTS else "default"))
                for opt in LISTING_SORT_OPTIONS
            ],
            "version": "v2",
            "tracking_info": {"amplitude": {"is_authentic": 0, "category_id": category_id}},
        }
        if aggregations:
            body["filters"] = self._filters(category) if category else []
        return body

    def _filters(self, category: Category) -> list[dict[str, object]]:
        cat = self.catalog
        members = cat.listing(category.index, None, "default")
        prices = [cat.price(i) for i in members] or [0]
        low, high = min(prices), max(prices)
        step = max(1_000, (high - low) // 4 // 1_000 * 1_000)
        bounds = [low + k * step for k in range(4)] + [high]
        return [
            {
                "query_name": "brand",
                "display_name": "Thương hiệu",
                "multi_select": True,
                "collapsed": 5,
                "values": [
                    {
                        "display_value": b.name,
                        "query_value": str(b.id),
                        "url_key": b.slug,
                        "count": n,
                    }
                    for b, n in cat.brands_in_category(category.index)
                ],
            },
            {
                "query_name": "price",
                "display_name": "Giá",
                "multi_select": False,
                "min": low,
                "max": high,
                "values": [
                    {
                        "display_value": f"{format_vnd(bounds[k])} - {format_vnd(bounds[k + 1])}",
                        "query_value": f"{bounds[k]},{bounds[k + 1]}",
                    }
                    for k in range(4)
                ],
            },
            {
                "query_name": "rating",
                "display_name": "Đánh giá",
                "multi_select": False,
                "values": [
                    {"display_value": f"từ {s} sao", "query_value": str(s)} for s in (5, 4, 3)
                ],
            },
        ]

    def listing_item(self, i: int) -> dict[str, object]:
        cat = self.catalog
        core, pid, price = self.core(i), cat.pid(i), cat.price(i)
        primary = cat.categories_of(i)[0]
        summary, sold = cat.review_summary(i), cat.sold(i)
        return {
            "id": str(pid) if cat.has_flag(i, FLAG_STR_ID) else pid,
            "sku": core.sku,
            "name": core.name,
            "url_key": core.url_key,
            "url_path": f"{core.url_key}.html?spid={core.spid}",
            "type": "configurable" if pid % 3 == 0 else "simple",
            "author_name": "",
            "book_cover": None,
            "brand_name": cat.brand_of(i).name,
            "short_description": "",
            "price": price,
            "list_price": core.list_price,
            "original_price": core.list_price,
            "badges": [],
            "badges_new": [{"placement": "top_left", "code": "tikinow", "type": "icon_badge"}],
            "discount": core.list_price - price,
            "discount_rate": round(100 * (core.list_price - price) / core.list_price),
            "rating_average": summary.average,
            "review_count": summary.total,
            "order_count": sold,
            "favourite_count": core.favourite_count,
            "thumbnail_url": f"{CDN}/cache/280x280/{core.images[0]}",
            "thumbnail_width": 280,
            "thumbnail_height": 280,
            "freegift_items": [],
            "has_ebook": False,
            "inventory_status": stock[0] if (stock := cat.stock_override(i)) else "available",
            "is_visible": True,
            "productset_id": 0,
            "productset_group_name": "",
            "seller": "",
            "is_flower": False,
            "has_buynow": False,
            "is_gift_card": False,
            "salable_type": "",
            "inventory": {"product_virtual_type": None, "fulfillment_type": "tiki_delivery"},
            "url_attendant_input_form": "",
            "master_id": pid,
            "data_version": 5,
            "day_ago_created": core.day_ago_created,
            "availability": 1,
            "primary_category_path": f"1/2/{primary.root_id}/{primary.id}",
            "primary_category_name": primary.name,
            "product_reco_score": 0,
            "seller_id": core.seller[0],
            "seller_product_id": core.spid,
            "seller_product_sku": core.sku,
            "quantity_sold": {"text": sold_text(sold), "value": sold} if sold else None,
            "video_url": "",
            "tiki_verified": 1 if core.seller[0] == 1 else 0,
            "tiki_hero": 0,
            "upsell_partner_product": False,
            "is_high_price_penalty": False,
            "origin": core.origin,
            "impression_info": [
                {"impression_id": f"{pid:x}", "metadata": {"delivery_info_badge_text": ""}}
            ],
            "visible_impression_info": {
                "amplitude": {
                    "category_l1_name": primary.root_name,
                    "category_l2_name": primary.name,
                }
            },
        }

    # -- product detail ------------------------------------------------------------
    def detail(self, i: int) -> dict[str, object]:
        return product_detail(self.catalog, self.core(i), i)

    # -- reviews -------------------------------------------------------------------
    def reviews(self, i: int | None, page: int, limit: int) -> dict[str, object]:
        """Reviews of product index i (None: unknown or not-found product, an empty list)."""
        cat = self.catalog
        limit = REVIEW_LIMIT if limit < 1 else min(limit, REVIEW_MAX_LIMIT)
        page = max(1, page)
        if i is None:
            counts, total, average, photos = [0] * 7, 0, 0.0, (0, 0)
            refs: list[ReviewRef] = []
        else:
            summary = cat.review_summary(i)
            counts, total, average = list(summary.counts), summary.total, summary.average
            photos = (summary.photo_reviews, summary.photo_total)
            refs = cat.reviews_page(i, (page - 1) * limit, page * limit)
        rated = sum(counts[1:6])
        paging = _paging(total, limit, page)
        start = (page - 1) * limit
        paging["from"] = start + 1 if refs else 0
        paging["to"] = start + len(refs) if refs else 0
        return {
            "stars": {
                str(s): {
                    "count": counts[s],
                    "percent": round(100 * counts[s] / rated) if rated else 0,
                }
                for s in range(1, 6)
            },
            "rating_average": average,
            "reviews_count": total,
            "review_photo": {"total": photos[0], "total_photo": photos[1]},
            "data": [self.review(i, ref) for ref in refs] if i is not None else [],
            "paging": paging,
            "sort_options": REVIEW_SORT_OPTIONS,
        }

    def review(self, i: int, ref: ReviewRef) -> dict[str, object]:
        cat = self.catalog
        core, pid = self.core(i), cat.pid(i)
        rng = random.Random(ref.key)
        title, content = review_texts(rng, ref.rating)
        customer_id = 1_000_000 + rng.randrange(30_000_000)
        waited = rng.randrange(3_600, 10 * 86_400)
        delivered = ref.created_at - waited
        seller_id, seller_name, store_id = core.seller
        return {
            "id": ref.id,
            "title": title,
            "content": content,
            "status": "approved",
            "thank_count": rng.randrange(0, 12),
            "score": round(rng.random() * 5, 4),
            "new_score": round(rng.random() * 5, 4),
            "customer_id": customer_id,
            "comment_count": rng.randrange(0, 3),
            "rating": ref.rating,
            "images": [
                {
                    "id": ref.id * 10 + k,
                    "status": "approved",
                    "full_path": f"{CDN}/ts/review/{ref.key >> (k * 8) & 0xFFFFFFFF:08x}.jpg",
                }
                for k in range(ref.photos)
            ],
            "thanked": False,
            "created_at": ref.created_at,
            "created_by": reviewer(rng, customer_id, ref.created_at),
            "suggestions": [],
            "seller": {
                "id": seller_id,
                "name": seller_name,
                "logo": f"{CDN}/ts/seller/{store_id:x}.png",
            },
            "product_id": pid,
            "spid": core.spid,
            "timeline": {
                "review_created_date": vn_datetime(ref.created_at),
                "delivery_date": vn_datetime(delivered),
                "current_date": _CURRENT_DATE,
                "content": f"Đã dùng {max(1, waited // 86_400)} ngày",
                "explain": f"Đã đăng sau {max(1, waited // 3_600)} giờ kể từ khi nhận hàng",
            },
            "vote_attributes": {"agree": [], "disagree": []},
            "attributes": [],
            "product_attributes": [f"Màu: {core.color}"],
            "is_photo": ref.photos > 0,
            "delivery_rating": [],
        }
