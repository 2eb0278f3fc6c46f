"""The daily scheduler's options and its view of Scrapyd's jobs, without a server
(crawler/scrapyd/daily.py)."""

from __future__ import annotations

import threading
from zoneinfo import ZoneInfo

import pytest

from crawler.exceptions import DailyConfigError
from crawler.scrapyd.daily import DailyConfig, DailyRun, ScrapydApi


def scheduler_config(*argv: str, **environ: str) -> DailyConfig:
    return DailyConfig.from_args(list(argv), environ)


def test_scheduler_options() -> None:
    config = scheduler_config(
        "--at",
        "02:30:15",
        "--timezone",
        "Asia/Ho_Chi_Minh",
        "--setting",
        "MONGO_DATABASE=m",
        "--setting",
        "CATEGORIES=1,2",
        SCRAPYD_URL="http://10.0.0.5:6800",
        SCRAPYD_USERNAME="ops",
        SCRAPYD_PASSWORD="s3cret",
    )
    assert (config.at.hour, config.at.minute, config.at.second) == (2, 30, 15)
    assert config.timezone == ZoneInfo("Asia/Ho_Chi_Minh")
    assert config.url == "http://10.0.0.5:6800/"
    assert config.settings == (("MONGO_DATABASE", "m"), ("CATEGORIES", "1,2"))
    assert config.spiders == ("products", "comments")
    assert "s3cret" not in repr(config)
    defaults = scheduler_config()
    assert (defaults.url, defaults.at.isoformat(), defaults.timezone.key) == (
        "http://127.0.0.1:6800/",
        "02:00:00",
        "UTC",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--setting", "MONGO_URI=mongodb://db:27017"],
            "--setting MONGO_URI: settings sent to schedule.json are shown by listjobs.json and "
            "written to Scrapyd's log; give MONGO_URI to Scrapyd's environment instead.",
        ),
        (
            ["--setting", "PROXY=http://me:pw@proxy:8080"],
            "--setting PROXY: settings sent to schedule.json are shown by listjobs.json and "
            "written to Scrapyd's log; give PROXY to Scrapyd's environment instead.",
        ),
        (["--setting", "LOG_LEVEL"], "--setting: 'LOG_LEVEL' is not NAME=VALUE."),
        (["--at", "26:00"], "--at: '26:00' is not a time of day (HH:MM or HH:MM:SS)."),
        (
            ["--timezone", "Mars/Olympus"],
            "--timezone: 'Mars/Olympus' is not an IANA time zone (e.g. UTC, Asia/Ho_Chi_Minh).",
        ),
        (["--spiders", " , "], "--spiders: name at least one spider."),
    ],
)
def test_scheduler_refuses_bad_options(argv: list[str], message: str) -> None:
    with pytest.raises(DailyConfigError) as info:
        scheduler_config(*argv)
    assert str(info.value) == message


def test_a_run_is_going_while_a_job_of_the_chain_is_pending_or_running() -> None:
    daily = DailyRun(
        scheduler_config(), ScrapydApi("http://127.0.0.1:1/", "", ""), threading.Event()
    )
    jobs = {
        "pending": [{"id": "c1", "spider": "comments"}],
        "running": [{"id": "b1", "spider": "brands"}, {"id": "p1", "spider": "products"}],
        "finished": [{"id": "p0", "spider": "products"}],
    }
    assert daily.going(jobs) == ["comments job c1 is pending", "products job p1 is running"]
    assert daily.going({"pending": [], "running": jobs["running"][:1], "finished": []}) == []


def test_track_runs_products_in_track_mode_then_new_comments() -> None:
    config = scheduler_config("--track", "--refresh-days", "5")
    assert (config.track, config.refresh_days) == (True, 5)
    daily = DailyRun(config, ScrapydApi(config.url, "", ""), threading.Event())
    assert daily.arguments("products") == [("mode", "track"), ("refresh_days", "5")]
    assert daily.arguments("comments") == [("mode", "new")]
    plain = DailyRun(scheduler_config(), ScrapydApi(config.url, "", ""), threading.Event())
    assert plain.arguments("products") == []
    with pytest.raises(DailyConfigError, match="--refresh-days"):
        scheduler_config("--refresh-days", "5")
