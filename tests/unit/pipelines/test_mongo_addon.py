"""MongoAddon lists the MongoDB pipeline only when MONGO_URI is set, so that a
run without MongoDB logs no "Disabled" WARNING (issue 12, item 4)."""

from __future__ import annotations

import logging

import pytest
from scrapy.utils.test import get_crawler

from crawler.pipelines.mongo import MongoAddon, MongoUpsertPipeline
from crawler.settings import ADDONS, ITEM_PIPELINES


def pipelines(settings: dict) -> dict:
    crawler = get_crawler(
        settings_dict={"ADDONS": ADDONS, "ITEM_PIPELINES": ITEM_PIPELINES, **settings}
    )
    crawler._apply_settings()
    return crawler.settings.getwithbase("ITEM_PIPELINES")


def test_listed_only_with_mongo_uri(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert MongoUpsertPipeline not in pipelines({"MONGO_URI": ""})
    assert not [r for r in caplog.records if "MongoUpsertPipeline" in r.getMessage()]
    assert pipelines({"MONGO_URI": "mongodb://127.0.0.1:1"})[MongoUpsertPipeline] == (
        MongoAddon.priority
    )


def test_a_pipeline_listed_by_hand_keeps_its_place() -> None:
    listed = {**ITEM_PIPELINES, "crawler.pipelines.mongo.MongoUpsertPipeline": 900}
    found = pipelines({"MONGO_URI": "mongodb://127.0.0.1:1", "ITEM_PIPELINES": listed})
    assert found["crawler.pipelines.mongo.MongoUpsertPipeline"] == 900
    assert MongoUpsertPipeline not in found
