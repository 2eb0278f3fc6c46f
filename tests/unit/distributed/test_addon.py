"""The distributed add-on's configuration, without a crawl."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawler.distributed.addon import DistributedAddon
from crawler.distributed.config import DistributedConfig
from crawler.exceptions import DistributedConfigError
from crawler.redact import redact_url

# -- configuration --------------------------------------------------------------------


def test_the_addon_changes_nothing_when_off() -> None:
    crawler = get_crawler(settings_dict={"DISTRIBUTED": False})
    settings = Settings({"DISTRIBUTED": False})
    before = settings.copy_to_dict()
    with pytest.raises(NotConfigured):
        DistributedAddon(crawler).update_settings(settings)
    assert settings.copy_to_dict() == before


def test_the_addon_applies_the_profile() -> None:
    settings = Settings({"DISTRIBUTED": True, "THROTTLE_429_ENABLED": True})
    DistributedAddon(get_crawler()).update_settings(settings)
    assert settings["SCHEDULER"] == "crawler.distributed.scheduler.DistributedScheduler"
    assert settings.getbool("THROTTLE_429_ENABLED") is False
    assert settings["DISTRIBUTED_WORKER_ID"]


def test_the_addon_refuses_jobdir() -> None:
    settings = Settings({"DISTRIBUTED": True, "JOBDIR": "crawls/x"})
    with pytest.raises(DistributedConfigError, match="JOBDIR does not apply"):
        DistributedAddon(get_crawler()).update_settings(settings)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"REDIS_URL": "http://127.0.0.1:6379"}, "REDIS_URL must be a redis://"),
        ({"DISTRIBUTED_HEARTBEAT_SECONDS": 0}, "DISTRIBUTED_HEARTBEAT_SECONDS must be positive"),
        ({"DISTRIBUTED_RATE_LIMIT": -1}, "DISTRIBUTED_RATE_LIMIT must be 0"),
        ({"DISTRIBUTED_CRAWL": "a:b"}, "DISTRIBUTED_CRAWL must be a non-empty name"),
    ],
)
def test_bad_settings_are_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(DistributedConfigError, match=message):
        DistributedConfig.from_settings(Settings({"DISTRIBUTED": True, **values}))


def test_redis_passwords_are_not_logged() -> None:
    assert redact_url("redis://user:s3cret@host:6380/1") == "redis://user:***@host:6380/1"
    assert redact_url("redis://:s3cret@host/0") == "redis://:***@host/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
