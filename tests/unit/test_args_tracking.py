"""The tracking modes' arguments: products -a mode=track, comments -a mode=new."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from crawler.args import CommentsArgs, ProductsArgs
from crawler.exceptions import SpiderArgumentError
from crawler.spiders.comments import CommentsSpider
from crawler.spiders.products import ProductsSpider

MONGO = {"CATEGORIES": "1789", "MONGO_URI": "mongodb://127.0.0.1:27017", "TRACK_REFRESH_DAYS": 7}


def test_track_mode_and_refresh_days() -> None:
    args = ProductsArgs.from_kwargs({"mode": "track", "refresh_days": "3"}, Settings(MONGO))
    assert (args.mode, args.refresh_days, args.categories) == ("track", 3, (1789,))
    assert ProductsArgs.from_kwargs({"mode": "track"}, Settings(MONGO)).refresh_days == 7
    assert ProductsArgs.from_kwargs({}, Settings(MONGO)).mode == "full"


@pytest.mark.parametrize(
    ("kwargs", "settings", "sentence"),
    [
        (
            {"mode": "track"},
            {"CATEGORIES": "1789"},
            "mode=track compares the listings with MongoDB: set MONGO_URI.",
        ),
        (
            {"mode": "daily"},
            MONGO,
            "mode: 'daily' is not a mode of the products spider (its modes: full, track).",
        ),
        ({"refresh_days": "3"}, MONGO, "refresh_days applies to -a mode=track only."),
        (
            {"mode": "track", "refresh_days": "0"},
            MONGO,
            "refresh_days: must be at least 1, got 0.",
        ),
    ],
)
def test_products_mode_problems_are_one_sentence(
    kwargs: dict[str, str], settings: dict[str, object], sentence: str
) -> None:
    assert ProductsSpider.check_arguments(kwargs, Settings(settings)) == sentence


def test_new_reviews_mode_needs_mongodb_and_no_ids() -> None:
    assert CommentsArgs.from_kwargs({"mode": "new"}, Settings(MONGO)).mode == "new"
    assert CommentsSpider.check_arguments({"mode": "new"}, Settings({})) == (
        "mode=new reads the review counts from MongoDB: set MONGO_URI."
    )
    with pytest.raises(SpiderArgumentError, match="without product_ids or ids_file"):
        CommentsArgs.from_kwargs({"mode": "new", "product_ids": "1"}, Settings(MONGO))
