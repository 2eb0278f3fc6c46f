"""The living catalogue: simulated days (`POST /_sim/advance`) and what they changed.

Day 0 is the catalogue built from the seed, exactly. Each day advanced draws, from
`random.Random(mix(seed, day))` and the `day_*_share` knobs, among the valid products
still listed: products withdrawn (no longer listed, their detail answers 404), products
whose price changes (price, list price, discount), whose stock changes (quantity sold
rises, inventory status and stock quantity change), that get new reviews (newest
first: review count and rating change), and new products listed (valid, one category,
no reviews). The same seed and the same days give the same catalogue.

`changes(since_day)` is `GET /_sim/truth/changes`: per changed product the fields of the
API's listing and detail as `[value on since_day, value now]`, the products new and
withdrawn since then, and the ids of the reviews added since then.
"""

from __future__ import annotations

import random
from typing import Any

from sim.catalog import Catalog
from sim.payloads import Payloads
from sim.util import mix

_SALT_DAY = 31
#: the fields of a product the days change, by their API (and item) names
FIELDS = (
    "price",
    "list_price",
    "original_price",
    "discount",
    "discount_rate",
    "rating_average",
    "review_count",
    "quantity_sold",
    "inventory_status",
    "stock_qty",
)
_DISCOUNTS = (0, 5, 10, 15, 20, 25, 30, 40)


class Living:
    def __init__(self, catalog: Catalog, payloads: Payloads) -> None:
        self.catalog = catalog
        self.payloads = payloads
        self.day = 0
        #: per day advanced (index day - 1): before/after snapshots, new, withdrawn, reviews
        self._log: list[dict[str, Any]] = []

    def rewind(self) -> None:
        self.day = 0
        self._log.clear()
        self.catalog.rewind()
        self.payloads.clear()

    def snapshot(self, i: int) -> dict[str, object]:
        item = self.payloads.listing_item(i)
        detail = self.payloads.detail(i)
        sold = item["quantity_sold"]
        stock = detail.get("stock_item")
        return {
            "price": item["price"],
            "list_price": item["list_price"],
            "original_price": item["original_price"],
            "discount": item["discount"],
            "discount_rate": item["discount_rate"],
            "rating_average": item["rating_average"],
            "review_count": item["review_count"],
            "quantity_sold": sold["value"] if isinstance(sold, dict) else None,
            "inventory_status": detail["inventory_status"],
            "stock_qty": stock.get("qty") if isinstance(stock, dict) else None,
        }

    def advance(self, days: int, knobs: dict[str, Any]) -> dict[str, object]:
        for _ in range(days):
            self._one_day(knobs)
        return {"day": self.day}

    def _one_day(self, knobs: dict[str, Any]) -> None:
        cat = self.catalog
        self.day += 1
        rng = random.Random(mix(cat.seed, self.day, _SALT_DAY))
        eligible = [
            i for i in range(cat.count) if cat.status_code(i) == 0 and not cat.is_withdrawn(i)
        ]

        def share(name: str, pool: list[int]) -> list[int]:
            k = min(len(pool), round(len(pool) * float(knobs[name])))
            return sorted(rng.sample(pool, k))

        withdrawn = share("day_withdrawn_share", eligible)
        gone = set(withdrawn)
        listed = [i for i in eligible if i not in gone]
        priced = share("day_price_share", listed)
        stocked = share("day_stock_share", listed)
        reviewed = share("day_review_share", listed)
        touched = sorted(set(priced) | set(stocked) | set(reviewed))
        before = {cat.pid(i): self.snapshot(i) for i in touched}
        for i in priced:
            self._change_price(rng, i)
        for i in stocked:
            self._change_stock(rng, i)
        reviews: dict[str, list[int]] = {}
        for i in reviewed:
            added = [cat.add_new_review(i).id for _ in range(1 + rng.randrange(3))]
            reviews[str(cat.pid(i))] = added
        for i in withdrawn:
            cat.withdraw(i)
        new = [cat.add_product(rng) for _ in range(round(len(eligible) * knobs["day_new_share"]))]
        self.payloads.clear()
        after = {cat.pid(i): self.snapshot(i) for i in touched}
        self._log.append(
            {
                "before": before,
                "after": after,
                "new": [cat.pid(i) for i in new],
                "withdrawn": [cat.pid(i) for i in withdrawn],
                "reviews": reviews,
            }
        )

    def _change_price(self, rng: random.Random, i: int) -> None:
        cat = self.catalog
        old = cat.price(i)
        list_price = self.payloads.core(i).list_price
        if rng.random() < 0.3:  # the list price moves too
            list_price = max(1_000, list_price * rng.randrange(90, 111) // 100 // 1_000 * 1_000)
        current = round(100 * (list_price - old) / list_price)
        discount = rng.choice([d for d in _DISCOUNTS if d != current])
        price = max(1_000, list_price * (100 - discount) // 100 // 1_000 * 1_000)
        if price == old:
            price += 1_000
        cat.set_price(i, price, max(list_price, price))

    def _change_stock(self, rng: random.Random, i: int) -> None:
        cat = self.catalog
        status = self.payloads.detail(i)["inventory_status"]
        sold = cat.sold(i) + 1 + rng.randrange(20)
        if status == "available" and rng.random() < 0.4:
            cat.set_stock(i, "out_of_stock", 0, sold)
        else:
            cat.set_stock(i, "available", 1 + rng.randrange(500), sold)

    def changes(self, since_day: int) -> dict[str, object]:
        since_day = max(0, min(since_day, self.day))
        changed: dict[str, dict[str, list[object]]] = {}
        first: dict[int, dict[str, object]] = {}
        last: dict[int, dict[str, object]] = {}
        new: list[int] = []
        withdrawn: list[int] = []
        new_reviews: dict[str, list[int]] = {}
        for entry in self._log[since_day:]:
            for pid, snap in entry["before"].items():
                first.setdefault(pid, snap)
            last.update(entry["after"])
            new.extend(entry["new"])
            withdrawn.extend(entry["withdrawn"])
            for pid, ids in entry["reviews"].items():
                new_reviews.setdefault(pid, []).extend(ids)
        gone, fresh = set(withdrawn), set(new)
        for pid in sorted(first):
            if pid in gone or pid in fresh:
                continue
            diff = {
                name: [first[pid][name], last[pid][name]]
                for name in FIELDS
                if first[pid][name] != last[pid][name]
            }
            if diff:
                changed[str(pid)] = diff
        return {
            "since_day": since_day,
            "day": self.day,
            "changed": changed,
            "new": sorted(fresh - gone),
            "withdrawn": sorted(gone - fresh),
            "new_reviews": {
                pid: ids for pid, ids in sorted(new_reviews.items()) if int(pid) not in gone
            },
        }
