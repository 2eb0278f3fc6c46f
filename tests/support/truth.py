"""Ground truth, as the tests compare crawls with it: what the simulator's
``/_sim/truth`` (:meth:`sim.testing.SimProcess.truth`) says a crawl must give."""

from __future__ import annotations


def categories(truth: dict) -> str:
    return ",".join(map(str, truth["categories"]))


def all_products(truth: dict) -> set[int]:
    """Listed products that have a detail: the valid and the invalid ones."""
    return set(truth["products"]["valid"]) | {int(i) for i in truth["products"]["invalid"]}


def valid_reviews(truth: dict, products: set[int] | None = None) -> list[int]:
    invalid = {int(i) for i in truth["reviews"]["invalid"]}
    return sorted(
        r
        for pid, ids in truth["reviews"]["by_product"].items()
        if products is None or int(pid) in products
        for r in ids
        if r not in invalid
    )


def valid_products(truth: dict) -> list[int]:
    return sorted(truth["products"]["valid"])


def valid_comments(truth: dict) -> list[int]:
    """The valid reviews of the valid products (comments reads the products
    collection, where only valid products are)."""
    products = set(truth["products"]["valid"])
    invalid = {int(i) for i in truth["reviews"]["invalid"]}
    return sorted(
        r
        for pid, ids in truth["reviews"]["by_product"].items()
        if int(pid) in products
        for r in ids
        if r not in invalid
    )
