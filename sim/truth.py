"""Ground truth of the simulator's current state, served at `GET /_sim/truth`.

Shape (ids are ints in lists; dict keys are strings):
  seed, day (the simulated day, sim.living), size {products, categories, brands},
  categories [ids],
  brands {ids, by_category {cid: [bids]}},
  products {listed, valid, invalid {id: reason}, not_found, withdrawn (since day 0),
            redirected {id: {kind, status, location[, to]}}},
  reviews {total, by_product {pid: [review ids]}, invalid {review id: reason}}
          (reviews=0: only total; reviews=counts: total and count_by_product {pid: n}),
  totals {categories, brands, listed, listing_entries, valid, invalid, invalid_by_reason,
          not_found, reviews, reviews_invalid, reviews_new, redirected}.
`products.redirected` and `totals.redirected` (the products whose detail redirects, from
the redirect_* knobs, sim/redirects.py) are added by the server, which knows the knobs.
`product_ids` restricts the reviews part to those products; totals stay global.
"""

from __future__ import annotations

from sim.catalog import INVALID_REASONS, NOT_FOUND, Catalog

REVIEW_INVALID_REASON = "rating_out_of_range"


class Truth:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._invalid_reviews_total: int | None = None  # generated reviews never change

    def build(
        self, reviews: str = "1", product_ids: set[int] | None = None, day: int = 0
    ) -> dict[str, object]:
        cat = self.catalog
        listed = [i for i in range(cat.count) if not cat.is_withdrawn(i)]
        withdrawn = [cat.pid(i) for i in range(cat.count) if cat.is_withdrawn(i)]
        n = len(listed)
        pids = [cat.pid(i) for i in listed]
        status = [cat.status_code(i) for i in listed]
        by_category = {
            str(c.id): sorted(b.id for b, _ in cat.brands_in_category(c.index))
            for c in cat.categories
        }
        brand_ids = sorted({bid for bids in by_category.values() for bid in bids})
        invalid = {str(pids[i]): INVALID_REASONS[status[i] - 2] for i in range(n) if status[i] >= 2}
        valid = [pids[i] for i in range(n) if status[i] == 0]
        not_found = [pids[i] for i in range(n) if status[i] == NOT_FOUND]
        reasons = dict.fromkeys(INVALID_REASONS, 0)
        for reason in invalid.values():
            reasons[reason] += 1
        if self._invalid_reviews_total is None:  # day 0's: new products have no invalid review
            self._invalid_reviews_total = sum(
                cat.invalid_review_count(i) for i in range(cat.size.products)
            )
        return {
            "seed": cat.seed,
            "day": day,
            "size": {"products": n, "categories": cat.size.categories, "brands": cat.size.brands},
            "categories": [c.id for c in cat.categories],
            "brands": {"ids": brand_ids, "by_category": by_category},
            "products": {
                "listed": pids,
                "valid": valid,
                "invalid": invalid,
                "not_found": not_found,
                "withdrawn": withdrawn,
            },
            "reviews": self._reviews(reviews, product_ids, listed),
            "totals": {
                "categories": len(cat.categories),
                "brands": len(brand_ids),
                "listed": n,
                "withdrawn": len(withdrawn),
                "listing_entries": cat.listing_entries(),
                "valid": len(valid),
                "invalid": len(invalid),
                "invalid_by_reason": reasons,
                "not_found": len(not_found),
                "reviews": cat.review_grand_total(),
                "reviews_invalid": self._invalid_reviews_total,
                "reviews_new": cat.new_review_total(),
            },
        }

    def _reviews(
        self,
        mode: str,
        product_ids: set[int] | None,
        listed: list[int],
    ) -> dict[str, object]:
        cat = self.catalog
        if product_ids is None:
            selected = [i for i in listed if not cat.is_not_found(i)]
        else:
            found = (cat.index_of(pid) for pid in product_ids)
            selected = sorted(i for i in found if i is not None and not cat.is_not_found(i))
        part: dict[str, object] = {"total": sum(cat.review_total(i) for i in selected)}
        if mode == "counts":
            part["count_by_product"] = {
                str(cat.pid(i)): cat.review_total(i) for i in selected if cat.review_total(i)
            }
        elif mode != "0":
            by_product: dict[str, list[int]] = {}
            invalid: dict[str, str] = {}
            for i in selected:
                ids, bad = cat.review_ids(i)
                if ids:
                    by_product[str(cat.pid(i))] = ids
                    invalid.update((str(rid), REVIEW_INVALID_REASON) for rid in bad)
            part["by_product"] = by_product
            part["invalid"] = invalid
        return part
