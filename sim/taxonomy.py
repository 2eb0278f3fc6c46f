"""Categories and brands of the simulated marketplace, drawn from `random.Random(seed)`.

Categories are leaves under Tiki-like roots (names, price level and kind from `sim.words`);
brands are real names first, then made-up Vietnamese-sounding ones. Ids are realistic
unique ints; slugs are unique ASCII url keys.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sim import words
from sim.util import slugify


@dataclass(frozen=True)
class Category:
    index: int
    id: int
    name: str
    url_key: str
    noun: str
    price_base: int
    kind: str
    root_id: int
    root_name: str
    root_url_key: str


@dataclass(frozen=True)
class Brand:
    index: int
    id: int
    name: str
    slug: str


def make_categories(rng: random.Random, count: int) -> list[Category]:
    leaves = [(root, leaf) for root in words.ROOTS for leaf in root[3]]
    rng.shuffle(leaves)
    reserved = {root[0] for root in words.ROOTS}
    ids = [i for i in rng.sample(range(1_000, 100_000), count + len(reserved)) if i not in reserved]
    names: set[str] = set()
    out = []
    for k in range(count):
        (root_id, root_name, root_key, _), (name, noun, price, kind) = leaves[k % len(leaves)]
        if k >= len(leaves):
            quals = words.LEAF_QUALIFIERS
            name = f"{name} {quals[(k // len(leaves) - 1) % len(quals)]}"
        if name in names:
            name = f"{name} {k}"
        names.add(name)
        out.append(
            Category(
                k, ids[k], name, slugify(name), noun, price, kind, root_id, root_name, root_key
            )
        )
    return out


def make_brands(rng: random.Random, count: int) -> list[Brand]:
    names = list(words.BRANDS)
    rng.shuffle(names)
    names = names[:count]
    seen = set(names)
    syl = words.SYLLABLES
    while len(names) < count:
        name = (
            rng.choice(syl)
            + rng.choice(syl).lower()
            + rng.choice(["", "", " Việt", " Home", " Pro"])
        )
        if len(names) > 2_000:  # the syllable combinations run out near 2,900
            name = f"{name} {len(names)}"
        if name not in seen:
            seen.add(name)
            names.append(name)
    ids = rng.sample(range(10_000, 1_000_000), count)
    slugs: set[str] = set()
    out = []
    for k, name in enumerate(names):
        slug = slugify(name) or f"brand-{ids[k]}"
        if slug in slugs:
            slug = f"{slug}-{k}"
        slugs.add(slug)
        out.append(Brand(k, ids[k], name, slug))
    return out
