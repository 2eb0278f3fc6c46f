"""Texts of the simulated marketplace, each drawn from a seeded `random.Random`.

Product names, HTML descriptions (with <script>, <style>, entities, a table, an image and
sometimes an `onclick=`/`javascript:` link), specification groups (some with codes that
are hostile to MongoDB), review texts and reviewers.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from sim import words
from sim.taxonomy import Brand, Category
from sim.util import NOW, slugify, vn_datetime

CDN = "https://salt.tikicdn.com"
HOSTILE_ATTRIBUTES = (
    {"code": "$where", "name": "$where", "value": "1 == 1"},
    {"code": "a.b", "name": "Kích thước (D.R.C)", "value": "10.5 x 3.2 x 2 cm"},
    {"code": "", "name": "", "value": "<p>Đang cập nhật</p>"},
    {"code": "capacity.max", "name": "$Công suất tối đa", "value": "1.000 W"},
)


class ProductCore(NamedTuple):
    """What listings and the detail of one product must agree on."""

    name: str
    url_key: str
    sku: str
    spid: int
    seller: tuple[int, str, int]  # (seller id, name, store id)
    color: str
    origin: str
    day_ago_created: int
    images: tuple[str, ...]  # CDN paths under /ts/product/
    list_price: int
    favourite_count: int


def image_path(rng: random.Random) -> str:
    a, b, digest = rng.getrandbits(8), rng.getrandbits(8), rng.getrandbits(128)
    return f"ts/product/{a:02x}/{b:02x}/{digest:032x}.jpg"


def seller_of(rng: random.Random) -> tuple[int, str, int]:
    k = 0 if rng.random() < 0.3 else rng.randrange(1, len(words.SELLERS))
    return (
        1 if k == 0 else 100_000 + k * 7_919,
        words.SELLERS[k],
        1 if k == 0 else 50_000 + k * 13,
    )


def product_core(
    rng: random.Random, pid: int, cat: Category, brand: Brand, price: int
) -> ProductCore:
    model = rng.choice(words.MODEL_PREFIXES) + str(rng.randrange(2, 99))
    variant = rng.choice(words.SPEC_VARIANTS[cat.kind])
    suffix = rng.choice(words.NAME_SUFFIXES)
    if cat.kind == "book":
        name = f"{cat.noun} {rng.choice(words.BOOK_TITLES)} ({variant}) - {brand.name}"
    else:
        name = f"{cat.noun} {brand.name} {model} {variant} {suffix}".strip()
    discount = rng.choice([0, 0, 5, 10, 15, 20, 25, 30, 40])
    list_price = price if not discount else (price * 100 // (100 - discount)) // 1_000 * 1_000
    return ProductCore(
        name=name,
        url_key=f"{slugify(name)}-p{pid}",
        sku=str(rng.randrange(1_000_000_000_000, 9_999_999_999_999)),
        spid=pid + 1 + rng.randrange(3),
        seller=seller_of(rng),
        color=rng.choice(words.COLORS),
        origin=rng.choice(words.ORIGINS),
        day_ago_created=rng.randrange(3, 1_500),
        images=tuple(image_path(rng) for _ in range(rng.randrange(1, 6))),
        list_price=max(list_price, price),
        favourite_count=rng.randrange(0, 50),
    )


def image_urls(path: str) -> dict[str, object]:
    return {
        "base_url": f"{CDN}/{path}",
        "large_url": f"{CDN}/cache/w1200/{path}",
        "medium_url": f"{CDN}/cache/w300/{path}",
        "small_url": f"{CDN}/cache/w100/{path}",
        "thumbnail_url": f"{CDN}/cache/200x200/{path}",
        "is_gallery": True,
        "label": None,
        "position": None,
    }


def _entities(text: str) -> str:
    """Vietnamese letters of the extended block as numeric character references."""
    return "".join(f"&#{ord(ch)};" if ord(ch) >= 0x1E00 else ch for ch in text)


def description_html(rng: random.Random, core: ProductCore, brand_name: str) -> str:
    sentences = rng.sample(words.DESCRIPTION_SENTENCES, 4)
    rows = "".join(
        f"<tr><td>{k}</td><td>{v}</td></tr>"
        for k, v in (
            ("Thương hiệu", brand_name.replace("&", "&amp;")),
            ("Xuất xứ", core.origin),
            ("Màu sắc", core.color),
            ("Bảo hành", f"{rng.choice([6, 12, 24])} tháng"),
        )
    )
    parts = [
        "<style>.tk-desc table{border-collapse:collapse}.tk-desc td{border:1px solid #ddd;"
        "padding:4px}</style>",
        '<div class="tk-desc">',
        f"<h2>{core.name.replace('&', '&amp;')}</h2>",
        f"<p>{sentences[0]}&nbsp;{sentences[1]}</p>",
        f"<p>{_entities('Cảm ơn bạn đã tin tưởng, chất lượng đảm bảo')} &amp; giao nhanh 2h.</p>",
        f'<p><img src="{CDN}/ts/tmp/{core.images[0].rsplit("/", 1)[-1]}" alt="{core.color}" '
        'width="750" height="750" /></p>',
        f"<table><tbody>{rows}</tbody></table>",
        f"<ul><li>{sentences[2]}</li><li>{sentences[3]}</li></ul>",
        '<script type="text/javascript">window.dataLayer = window.dataLayer || [];'
        f'dataLayer.push({{"event": "desc_view", "sku": "{core.sku}"}});</script>',
    ]
    if rng.random() < 0.3:
        parts.append(
            '<p><a href="javascript:void(0)" onclick="alert(\'Khuyến mãi\')">'
            "Xem khuyến mãi &raquo;</a></p>"
        )
    parts.append("<p>Giá sản phẩm trên Tiki đã bao gồm thuế theo luật hiện hành.</p></div>")
    return "\n".join(parts)


def specifications(
    rng: random.Random, core: ProductCore, cat: Category, brand: Brand, hostile: bool
) -> list[dict[str, object]]:
    content = [
        {"code": "brand", "name": "Thương hiệu", "value": brand.name},
        {"code": "brand_country", "name": "Xuất xứ thương hiệu", "value": core.origin},
        {"code": "origin", "name": "Xuất xứ (Made in)", "value": rng.choice(words.ORIGINS)},
        {
            "code": "product_weight",
            "name": "Trọng lượng sản phẩm",
            "value": f"{rng.randrange(50, 5000)} g",
        },
        {
            "code": "dimensions",
            "name": "Kích thước",
            "value": "<p>{} x {} x {} cm</p>".format(*(rng.randrange(1, 60) for _ in range(3))),
        },
    ]
    if cat.kind == "book":
        content += [
            {"code": "publisher_vn", "name": "Công ty phát hành", "value": brand.name},
            {"code": "number_of_page", "name": "Số trang", "value": str(rng.randrange(80, 600))},
            {
                "code": "book_cover",
                "name": "Loại bìa",
                "value": rng.choice(["Bìa mềm", "Bìa cứng"]),
            },
        ]
    else:
        content.append(
            {
                "code": "included_accessories",
                "name": "Phụ kiện đi kèm",
                "value": "<ul><li>Sách hướng dẫn</li><li>Phiếu bảo hành</li></ul>",
            }
        )
    if hostile:
        content.extend(dict(attr) for attr in HOSTILE_ATTRIBUTES)
    operation = [
        {"code": "sku", "name": "SKU", "value": core.sku},
        {
            "code": "warranty_time_period",
            "name": "Thời gian bảo hành",
            "value": f"{rng.choice([6, 12, 24])} Tháng",
        },
        {
            "code": "warranty_type",
            "name": "Hình thức bảo hành",
            "value": rng.choice(words.WARRANTY_PLACES),
        },
    ]
    return [
        {"name": "Content", "attributes": content},
        {"name": "Operation", "attributes": operation},
    ]


def review_texts(rng: random.Random, rating: int) -> tuple[str, str]:
    bucket = "good" if rating >= 4 or rating in (0, 6) else "mid" if rating == 3 else "bad"
    pool = words.REVIEW_SENTENCES[bucket]
    content = " ".join(rng.sample(pool, rng.randrange(1, min(3, len(pool)) + 1)))
    return words.REVIEW_TITLES[rating], content


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(words.FAMILY)} {rng.choice(words.MIDDLE)} {rng.choice(words.GIVEN)}"


def reviewer(rng: random.Random, customer_id: int, created_at: int) -> dict[str, object] | None:
    if rng.random() < 0.08:
        return None
    full_name = person_name(rng)
    joined = created_at - rng.randrange(86_400, 6 * 365 * 86_400)
    purchased = rng.random() < 0.9
    return {
        "id": customer_id,
        "name": full_name,
        "full_name": full_name,
        "region": rng.choice(words.REGIONS) if rng.random() < 0.7 else None,
        "avatar_url": f"https://vcdn.tikicdn.com/cache/w100/ts/avatar/{rng.getrandbits(64):016x}.jpg"
        if rng.random() < 0.6
        else None,
        "created_time": vn_datetime(joined),
        "group_id": 1,
        "purchased": purchased,
        "purchased_at": created_at - rng.randrange(3_600, 30 * 86_400) if purchased else None,
        "total_review": rng.randrange(1, 60),
        "total_thank": rng.randrange(0, 40),
        "contribute_info": {
            "id": customer_id,
            "name": full_name,
            "summary": {
                "joined_time": f"Đã tham gia {max(1, (NOW - joined) // 86_400)} ngày",
                "total_review": rng.randrange(1, 60),
                "total_thank": rng.randrange(0, 40),
            },
        },
    }
