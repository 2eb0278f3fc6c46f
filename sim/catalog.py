"""Deterministic catalogue index of the simulated marketplace (the facts `sim.truth` serves).

The index (each product's categories, brand, price, sales, review count and status) is
built once at start-up from `random.Random(seed)` into compact `array`s; bodies of
products and reviews are generated on request from (seed, id) by `sim.content` and
`sim.payloads`. Per-review facts (rating, photos, time, validity) are cheap hashes of
(seed, product id, position), so a product's histogram needs no stored reviews.
Each category has a pool of brands; a product takes its brand from its first category's
pool and its other categories (up to two) among those whose pool holds that brand, so
categories differ in their brand filters.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass
from typing import NamedTuple

from sim.taxonomy import Brand, Category, make_brands, make_categories
from sim.util import NOW, mix, splitmix


@dataclass(frozen=True)
class Size:
    products: int
    categories: int
    brands: int


PRESETS = {
    "tiny": Size(200, 3, 6),
    "small": Size(2_000, 12, 60),
    "medium": Size(20_000, 40, 300),  # the benchmarks' day (bench/bench_tracking.py)
    "large": Size(20_000, 40, 300),
    "huge": Size(200_000, 150, 1_500),
}
MAX_PRODUCTS = 2_000_000
MAX_CATEGORIES = 20_000
MAX_BRANDS = 60_000

NOT_FOUND = 1
INVALID_REASONS = ("price_missing", "price_negative", "name_empty", "price_wrong_type")
FLAG_STR_ID = 1  # the listing item's `id` is a string
FLAG_NO_BRAND = 2  # the detail's `brand` is missing or null
FLAG_HOSTILE_SPECS = 4  # specification codes/names such as "$where", "a.b", ""

NOT_FOUND_SHARE = 0.03
INVALID_SHARE = 0.05
FLAG_SHARES = ((FLAG_STR_ID, 0.05), (FLAG_NO_BRAND, 0.05), (FLAG_HOSTILE_SPECS, 0.03))
REVIEW_INVALID_MODULUS = 97  # review j is invalid when j % 97 == product's residue (~1%)

PID_STRIDE = 997
REVIEW_ID_BASE = 1_000_000
REVIEW_SLOTS = 512  # review ids per product; more than the 400 reviews generated at most
NEW_REVIEW_ID_BASE = 2_000_000_000
NEW_REVIEW_SPACING = 600  # seconds between reviews added at run time, all after NOW
SORTS = ("default", "top_seller", "newest", "price,asc", "price,desc")
NONE16 = 0xFFFF
_CACHE_LIMIT = 50_000

_SALT_RATING, _SALT_INVALID, _SALT_TIME, _SALT_ORDER, _SALT_NEW = 11, 12, 13, 14, 15


class ReviewRef(NamedTuple):
    """The hashed facts of one review; `key` seeds the generation of its texts."""

    id: int
    created_at: int
    rating: int
    photos: int
    key: int


@dataclass(frozen=True)
class ReviewSummary:
    counts: tuple[int, ...]  # index = rating 0..6 (0 and 6 are invalid ratings)
    photo_reviews: int
    photo_total: int

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def average(self) -> float:
        rated = sum(self.counts[1:6])
        score = sum(star * self.counts[star] for star in range(1, 6))
        return round(score / rated, 1) if rated else 0


def _rating_of(h: int) -> int:
    x = h % 100
    return 5 if x < 52 else 4 if x < 74 else 3 if x < 84 else 2 if x < 90 else 1


def _photos_of(h: int) -> int:
    return 1 + (h >> 16) % 3 if (h >> 8) % 100 < 15 else 0


def _review_facts(h_base: int, residue: int, j: int) -> tuple[int, int, int]:
    """(hash, rating, photo count) of the j-th generated review of a product."""
    h = splitmix(h_base ^ j)
    rating = (0 if h & 1 else 6) if j % REVIEW_INVALID_MODULUS == residue else _rating_of(h)
    return h, rating, _photos_of(h)


class Catalog:
    def __init__(self, seed: int, size: Size) -> None:
        self.seed = seed
        self.size = size
        rng = random.Random(seed)
        self.categories = make_categories(rng, size.categories)
        self.brands = make_brands(rng, size.brands)
        self.category_by_id = {c.id: c for c in self.categories}
        self._make_products(rng, size)
        self._n0 = size.products
        self._sold0 = array("I", self._sold)
        self._members0 = [array("I", m) for m in self._members]
        #: the living catalogue (sim.living): what simulated days changed
        self._price_over: dict[int, int] = {}
        self._list_price_over: dict[int, int] = {}
        self._stock_over: dict[int, tuple[str, int]] = {}
        self._withdrawn: set[int] = set()
        self._new_reviews: dict[int, list[ReviewRef]] = {}
        self._new_seq = 0
        self._listing_cache: dict[tuple[int, frozenset[int] | None, str], array[int]] = {}
        self._brand_cache: dict[int, list[tuple[int, int]]] = {}
        self._summary_cache: dict[int, ReviewSummary] = {}

    # -- construction --------------------------------------------------------------
    def _make_products(self, rng: random.Random, size: Size) -> None:
        n, c, b = size.products, size.categories, size.brands
        pool_size = min(max(3, 3 * b // c), max(1, 2 * b // 3))
        pools = [rng.sample(range(b), pool_size) for _ in range(c)]
        pooled_in: list[list[int]] = [[] for _ in range(b)]  # brand -> categories
        for cat, pool in enumerate(pools):
            for brand_index in pool:
                pooled_in[brand_index].append(cat)
        price_bases = [cat.price_base for cat in self.categories]
        self._pid_base = 10_000_000 + rng.randrange(40_000_000)
        off, brand, cat2, cat3 = array("H"), array("H"), array("H"), array("H")
        cat1, price, sold, nrev = array("H"), array("I"), array("I"), array("H")
        members = [array("I") for _ in range(c)]
        rand, randrange = rng.random, rng.randrange
        for i in range(n):
            c1 = int(c * rand() ** 1.3)
            pool = pools[c1]
            b1 = pool[int(len(pool) * rand() ** 2)]
            others = [cat for cat in pooled_in[b1] if cat != c1]
            r = rand()
            ncat = min(1 + len(others), 1 if r >= 0.45 else 2 if r >= 0.12 else 3)
            c2 = c3 = NONE16
            if ncat >= 2:
                c2 = others.pop(randrange(len(others)))
                members[c2].append(i)
            if ncat == 3:
                c3 = others[randrange(len(others))]
                members[c3].append(i)
            members[c1].append(i)
            r = rand()
            reviews = (
                0 if r < 0.5 else 100 + randrange(301) if r >= 0.98 else 1 + int(29 * rand() ** 1.5)
            )
            off.append(randrange(PID_STRIDE))
            brand.append(b1)
            cat1.append(c1)
            cat2.append(c2)
            cat3.append(c3)
            price.append(
                max(1_000, int(price_bases[c1] * (0.25 + 2.75 * rand() ** 2)) // 1_000 * 1_000)
            )
            sold.append(reviews * (2 + randrange(15)) + randrange(40) if rand() < 0.85 else 0)
            nrev.append(reviews)
        self._off, self._brand, self._price, self._sold, self._nrev = off, brand, price, sold, nrev
        self._cats = (cat1, cat2, cat3)
        self._members = members
        self._status = status = bytearray(n)
        for i in rng.sample(range(n), round(n * NOT_FOUND_SHARE)):
            status[i] = NOT_FOUND
            nrev[i] = 0
        with_detail = [i for i in range(n) if not status[i]]
        for k, i in enumerate(rng.sample(with_detail, round(len(with_detail) * INVALID_SHARE))):
            status[i] = 2 + k % len(INVALID_REASONS)
        self._flags = flags = bytearray(n)
        for flag, share in FLAG_SHARES:
            for i in rng.sample(range(n), round(n * share)):
                flags[i] |= flag

    # -- products ------------------------------------------------------------------
    def pid(self, i: int) -> int:
        return self._pid_base + i * PID_STRIDE + self._off[i]

    @property
    def count(self) -> int:
        """Products ever listed: the catalogue's, and those new on a simulated day."""
        return len(self._off)

    def index_of(self, pid: int) -> int | None:
        i, rest = divmod(pid - self._pid_base, PID_STRIDE)
        if 0 <= i < len(self._off) and self._off[i] == rest:
            return i
        return None

    def is_not_found(self, i: int) -> bool:
        return self._status[i] == NOT_FOUND or i in self._withdrawn

    def is_withdrawn(self, i: int) -> bool:
        return i in self._withdrawn

    def invalid_reason(self, i: int) -> str | None:
        status = self._status[i]
        return INVALID_REASONS[status - 2] if status >= 2 else None

    def has_flag(self, i: int, flag: int) -> bool:
        return bool(self._flags[i] & flag)

    def brand_of(self, i: int) -> Brand:
        return self.brands[self._brand[i]]

    def categories_of(self, i: int) -> list[Category]:
        return [self.categories[c[i]] for c in self._cats if c[i] != NONE16]

    def price(self, i: int) -> int:
        return self._price_over.get(i, self._price[i])

    def base_price(self, i: int) -> int:
        """The price of day 0 (a product's core texts are drawn with it)."""
        return self._price[i]

    def list_price_override(self, i: int) -> int | None:
        return self._list_price_over.get(i)

    def stock_override(self, i: int) -> tuple[str, int] | None:
        """(inventory status, stock quantity) a simulated day set, or None."""
        return self._stock_over.get(i)

    # -- the living catalogue (driven by sim.living) ---------------------------------
    def set_price(self, i: int, price: int, list_price: int) -> None:
        self._price_over[i] = price
        self._list_price_over[i] = list_price

    def set_stock(self, i: int, status: str, qty: int, sold: int) -> None:
        self._stock_over[i] = (status, qty)
        self._sold[i] = sold

    def withdraw(self, i: int) -> None:
        self._withdrawn.add(i)
        for members in self._members:
            if i in members:
                members.remove(i)
        self.clear_caches()

    def add_product(self, rng: random.Random) -> int:
        """A product listed from now on, in one category; its index."""
        i = len(self._off)
        c1 = rng.randrange(len(self.categories))
        members = self._members[c1]
        b1 = self._brand[members[rng.randrange(len(members))]] if members else 0
        base = self.categories[c1].price_base
        self._off.append(rng.randrange(PID_STRIDE))
        self._brand.append(b1)
        self._cats[0].append(c1)
        self._cats[1].append(NONE16)
        self._cats[2].append(NONE16)
        self._price.append(
            max(1_000, int(base * (0.25 + 2.75 * rng.random() ** 2)) // 1_000 * 1_000)
        )
        self._sold.append(0)
        self._nrev.append(0)
        self._status.append(0)
        self._flags.append(0)
        members.append(i)
        self.clear_caches()
        return i

    def clear_caches(self) -> None:
        self._listing_cache.clear()
        self._brand_cache.clear()

    def rewind(self) -> None:
        """Back to day 0: the catalogue as built from the seed."""
        n0 = self._n0
        for arr in (self._off, self._brand, self._price, self._nrev, *self._cats):
            del arr[n0:]
        del self._status[n0:]
        del self._flags[n0:]
        self._members = [array("I", m) for m in self._members0]
        self._sold = array("I", self._sold0)
        self.drop_new_reviews()
        self._price_over.clear()
        self._list_price_over.clear()
        self._stock_over.clear()
        self._withdrawn.clear()
        self._summary_cache.clear()
        self.clear_caches()

    def sold(self, i: int) -> int:
        return self._sold[i]

    # -- listings ------------------------------------------------------------------
    def _sorted_members(self, cat: int, sort: str) -> array[int]:
        members = self._members[cat]
        if sort == "top_seller":
            keyed = sorted(members, key=lambda i: (-self._sold[i], i))
        elif sort == "newest":
            keyed = sorted(members, reverse=True)
        elif sort == "price,asc":
            keyed = sorted(members, key=lambda i: (self.price(i), i))
        elif sort == "price,desc":
            keyed = sorted(members, key=lambda i: (-self.price(i), i))
        else:
            h = mix(self.seed, self.categories[cat].id, _SALT_ORDER)
            keyed = sorted(members, key=lambda i: splitmix(h ^ i))
        return array("I", keyed)

    def listing(self, cat: int, brands: frozenset[int] | None, sort: str) -> array[int]:
        """Product indexes of a category (optionally of some brand indexes), in a stable order."""
        if sort not in SORTS:
            sort = "default"
        key = (cat, brands, sort)
        found = self._listing_cache.get(key)
        if found is None:
            if brands is None:
                found = self._sorted_members(cat, sort)
            else:
                brand = self._brand
                found = array("I", (i for i in self.listing(cat, None, sort) if brand[i] in brands))
            if len(self._listing_cache) > _CACHE_LIMIT:
                self._listing_cache.clear()
            self._listing_cache[key] = found
        return found

    def brands_in_category(self, cat: int) -> list[tuple[Brand, int]]:
        """(brand, product count) of every brand with products in the category, biggest first."""
        found = self._brand_cache.get(cat)
        if found is None:
            counts: dict[int, int] = {}
            for i in self._members[cat]:
                counts[self._brand[i]] = counts.get(self._brand[i], 0) + 1
            found = sorted(counts.items(), key=lambda kv: (-kv[1], self.brands[kv[0]].id))
            self._brand_cache[cat] = found
        return [(self.brands[b], count) for b, count in found]

    # -- reviews -------------------------------------------------------------------
    def review_total(self, i: int) -> int:
        return self._nrev[i] + len(self._new_reviews.get(i, ()))

    def _invalid_residue(self, pid: int) -> int:
        return mix(self.seed, pid, _SALT_INVALID) % REVIEW_INVALID_MODULUS

    def _review_params(self, i: int) -> tuple[int, int, int, int]:
        """(hash base, invalid residue, first timestamp, time step) of product index i."""
        pid = self.pid(i)
        first = NOW - 30 * 86_400 - mix(self.seed, pid, _SALT_TIME) % (4 * 365 * 86_400)
        step = (NOW - first) // (self._nrev[i] + 1)
        return mix(self.seed, pid, _SALT_RATING), self._invalid_residue(pid), first, step

    def base_review(self, i: int, j: int) -> ReviewRef:
        """The j-th oldest generated review of product index i."""
        h_base, residue, first, step = self._review_params(i)
        h, rating, photos = _review_facts(h_base, residue, j)
        created = first + j * step + (h >> 24) % step
        return ReviewRef(REVIEW_ID_BASE + i * REVIEW_SLOTS + j, created, rating, photos, h)

    def review_summary(self, i: int) -> ReviewSummary:
        base = self._summary_cache.get(i)
        if base is None:
            counts, photo_reviews, photo_total = [0] * 7, 0, 0
            h_base, residue, _, _ = self._review_params(i)
            for j in range(self._nrev[i]):
                _, rating, photos = _review_facts(h_base, residue, j)
                counts[rating] += 1
                photo_reviews += photos > 0
                photo_total += photos
            if len(self._summary_cache) > _CACHE_LIMIT:
                self._summary_cache.clear()
            base = self._summary_cache[i] = ReviewSummary(tuple(counts), photo_reviews, photo_total)
        new = self._new_reviews.get(i)
        if not new:
            return base
        counts = list(base.counts)
        for ref in new:
            counts[ref.rating] += 1
        return ReviewSummary(
            tuple(counts),
            base.photo_reviews + sum(r.photos > 0 for r in new),
            base.photo_total + sum(r.photos for r in new),
        )

    def reviews_page(self, i: int, start: int, stop: int) -> list[ReviewRef]:
        """Reviews at positions [start, stop) counted from the newest."""
        new = self._new_reviews.get(i, [])
        n, k = self._nrev[i], len(new)
        out = []
        for p in range(max(0, start), min(stop, n + k)):
            out.append(new[k - 1 - p] if p < k else self.base_review(i, n - 1 - (p - k)))
        return out

    def add_new_review(self, i: int) -> ReviewRef:
        """A review arriving now: the newest of product index i (always valid)."""
        self._new_seq += 1
        seq = self._new_seq
        h = mix(self.seed, seq, _SALT_NEW)
        ref = ReviewRef(
            NEW_REVIEW_ID_BASE + seq,
            NOW + seq * NEW_REVIEW_SPACING,
            _rating_of(h),
            _photos_of(h),
            h,
        )
        self._new_reviews.setdefault(i, []).append(ref)
        return ref

    def drop_new_reviews(self) -> None:
        self._new_reviews.clear()
        self._new_seq = 0

    # -- facts for the ground truth (sim.truth) -------------------------------------
    def status_code(self, i: int) -> int:
        """0 valid, 1 not found, 2.. the invalid reasons in INVALID_REASONS order."""
        return self._status[i]

    def invalid_review_count(self, i: int) -> int:
        """Generated reviews of product index i with a rating out of range (closed form)."""
        n, residue = self._nrev[i], self._invalid_residue(self.pid(i))
        return 0 if residue >= n else (n - 1 - residue) // REVIEW_INVALID_MODULUS + 1

    def review_ids(self, i: int) -> tuple[list[int], list[int]]:
        """(all review ids, invalid review ids) of product index i, in the current state."""
        first, n = REVIEW_ID_BASE + i * REVIEW_SLOTS, self._nrev[i]
        ids = list(range(first, first + n))
        residue = self._invalid_residue(self.pid(i))
        invalid = [first + j for j in range(residue, n, REVIEW_INVALID_MODULUS)]
        ids.extend(ref.id for ref in self._new_reviews.get(i, ()))
        return ids, invalid

    def listing_entries(self) -> int:
        """(category, product) pairs: the number of listing rows over all categories."""
        return sum(len(m) for m in self._members)

    def new_review_total(self) -> int:
        return sum(len(v) for v in self._new_reviews.values())

    def review_grand_total(self) -> int:
        return sum(self._nrev) + self.new_review_total()
