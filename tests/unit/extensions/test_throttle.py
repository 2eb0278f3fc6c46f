"""RateLimitThrottle: the 429 rate rule on hand-made response sequences (an
injected clock, no crawler) and the delay it sets on a real download slot (the
crawl against a rate-limited simulator is in tests/crawl/test_throttle.py)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from scrapy import Spider
from scrapy.core.downloader import Slot
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.settings import Settings, default_settings
from scrapy.utils.misc import build_from_crawler
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler

from crawler.extensions.throttle import RateLimitThrottle, SlotRate, ThrottleConfig

KEY = "api.example"


def rate_rule(**overrides: float) -> SlotRate:
    params: dict[str, float] = {
        "backoff": 0.9,
        "window": 2.0,
        "recovery": 0.02,
        "min_rate": 1 / 30,
        **overrides,
    }
    return SlotRate(**params)


def admit(rate: SlotRate, times: list[float]) -> None:
    """200s that took no time, arriving at ``times``."""
    for t in times:
        assert rate.observe(t, t, 200) is False


# -- the 429 rule ----------------------------------------------------------------


def test_no_429_no_limit() -> None:
    rate = rate_rule()
    admit(rate, [k / 8 for k in range(100)])
    assert rate.rate == 0.0
    assert rate.current(12.5) == 0.0 and rate.interval(12.5) == 0.0


def test_a_429_drops_to_the_backoff_share_of_what_the_site_admitted() -> None:
    rate = rate_rule()
    admit(rate, [k / 8 for k in range(32)])  # 8 per second from t=0 to 3.875
    assert rate.observe(4.0, 3.9, 429) is True
    # the window (2 s] holds the 200s of t = 2.125 .. 3.875: 15 of them
    assert rate.rate == 0.9 * 15 / 2.0
    assert rate.decreased_at == 4.0
    assert rate.interval(4.0) == 1 / 6.75


def test_a_burst_after_a_slow_phase_is_measured_over_its_last_second() -> None:
    rate = rate_rule()
    admit(rate, [float(t) for t in range(10)])  # one listing page a second
    admit(rate, [10.0 + k / 100 for k in range(30)])  # then 30 details within 0.3 s
    rate.observe(10.35, 10.3, 429)
    # the window (8.35, 10.35] averages 31 over 2 s; its last second holds the 30
    assert rate.rate == 0.9 * 30


def test_429s_of_requests_sent_before_the_decrease_change_nothing() -> None:
    rate = rate_rule()
    admit(rate, [k / 8 for k in range(32)])
    rate.observe(4.0, 3.9, 429)
    # in flight when the rate dropped: the same event
    assert rate.observe(4.05, 3.95, 429) is False
    assert rate.observe(4.1, 3.99, 429) is False
    assert (rate.rate, rate.decreased_at) == (6.75, 4.0)


def test_a_429_sent_after_the_decrease_drops_again_from_the_lower_of_both() -> None:
    rate = rate_rule()
    admit(rate, [k / 8 for k in range(32)])
    rate.observe(4.0, 3.9, 429)
    # 200s at 4 per second after the decrease: the site admits less than 6.75/s
    admit(rate, [4.0 + k / 4 for k in range(1, 9)])  # 4.25 .. 6.0
    assert rate.observe(6.1, 6.05, 429) is True
    # window (4.1, 6.1]: the 8 200s of 4.25 .. 6.0
    assert rate.rate == pytest.approx(0.9 * 8 / 2.0)
    # an estimate above the current rate is capped by it: the rule never raises on a 429
    fast = rate_rule()
    admit(fast, [k / 100 for k in range(300)])  # 100/s
    fast.observe(3.0, 3.0, 429)
    assert fast.rate == pytest.approx(0.9 * 199 / 2)  # the 200s of 1.01 .. 2.99
    admit(fast, [3.0 + k / 200 for k in range(1, 400)])  # then 200/s admitted
    fast.observe(5.0, 5.0, 429)
    current_before = 0.9 * 199 / 2 * 1.02**2.0
    assert fast.rate == pytest.approx(0.9 * current_before)


def test_a_first_burst_counts_as_one_second_at_least() -> None:
    rate = rate_rule()
    admit(rate, [k / 200 for k in range(20)])  # 20 answers within 0.1 s
    rate.observe(0.1, 0.1, 429)
    assert rate.rate == pytest.approx(0.9 * 20 / 1.0)


def test_nothing_admitted_halves_what_was_sent_down_to_the_floor() -> None:
    rate = rate_rule()
    rate.observe(0.0, 0.0, 429)  # a 429 first: one response over (at least) 1 s
    assert rate.rate == 0.9 * 0.5 * 1 / 1.0
    # another 429, sent after that decrease: half of the 2 sent, capped by the current rate
    assert rate.observe(0.25, 0.25, 429) is True
    assert rate.rate == pytest.approx(0.9 * 0.45 * 1.02**0.25)
    floor = rate_rule(min_rate=2.0)
    floor.observe(0.0, 0.0, 429)
    assert floor.rate == 2.0


def test_recovery_grows_by_its_share_per_second_then_lets_go() -> None:
    rate = rate_rule()
    admit(rate, [k / 8 for k in range(32)])
    rate.observe(4.0, 3.9, 429)
    assert rate.current(14.0) == pytest.approx(6.75 * 1.02**10)
    assert rate.current(4.0 + 100) == pytest.approx(6.75 * 1.02**100)
    # a thousandfold after ln 1000 / ln 1.02 = 348.8 s: no limit any more
    after = 4.0 + math.log(1000) / math.log(1.02) + 0.1
    assert rate.current(after) == 0.0
    assert rate.rate == 0.0 and rate.interval(after) == 0.0


# -- configuration ---------------------------------------------------------------


def config(**settings: Any) -> ThrottleConfig:
    return ThrottleConfig.from_settings(get_crawler(settings_dict=settings).settings)


def test_project_defaults() -> None:
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    cfg = ThrottleConfig.from_settings(settings)
    assert (cfg.limit_429, cfg.backoff, cfg.window, cfg.recovery) == (True, 0.9, 2.0, 0.02)
    # the latency rule does not cap a site at the project's concurrency
    assert not cfg.latency_applies(settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
    assert cfg.latency_applies(settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") + 1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"THROTTLE_429_BACKOFF": 1.0}, "THROTTLE_429_BACKOFF must be between 0 and 1, got 1.0."),
        ({"THROTTLE_429_BACKOFF": 0}, "THROTTLE_429_BACKOFF must be between 0 and 1, got 0.0."),
        (
            {"THROTTLE_429_WINDOW": 0},
            "THROTTLE_429_WINDOW and THROTTLE_429_RECOVERY must be positive, got 0.0 and 0.02.",
        ),
        (
            {"THROTTLE_429_RECOVERY": -1},
            "THROTTLE_429_WINDOW and THROTTLE_429_RECOVERY must be positive, got 2.0 and -1.0.",
        ),
    ],
)
def test_bad_settings_are_one_sentence(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        config(**settings)
    assert str(error.value) == message


# -- the delay of a slot -----------------------------------------------------------


def throttle(**settings: Any) -> RateLimitThrottle:
    crawler = get_crawler(settings_dict={"AUTOTHROTTLE_ENABLED": True, **settings})
    return build_from_crawler(RateLimitThrottle, crawler)


def response(status: int) -> Response:
    return Response(f"https://{KEY}/api/v2/products/1", status=status)


def test_target_at_the_slot_concurrency_sets_no_latency_delay() -> None:
    ext = throttle(AUTOTHROTTLE_TARGET_CONCURRENCY=16)
    slot = Slot(16, 0.25, 0.5)  # AUTOTHROTTLE_START_DELAY 0.25
    ext.adjust(KEY, slot, 0.1, response(200), now=1.0)
    assert (slot.delay, slot.jitter) == (0.0, 0.5)
    ext.adjust(KEY, slot, 2.5, response(200), now=2.0)  # slow: the cap paces it
    assert slot.delay == 0.0


def test_the_start_delay_comes_with_the_latency_rule_only() -> None:
    at_cap = throttle(AUTOTHROTTLE_TARGET_CONCURRENCY=16, CONCURRENT_REQUESTS_PER_DOMAIN=16)
    assert at_cap._start_delay() == 0.0
    below = throttle(
        AUTOTHROTTLE_TARGET_CONCURRENCY=4,
        CONCURRENT_REQUESTS_PER_DOMAIN=16,
        AUTOTHROTTLE_START_DELAY=0.25,
    )
    assert below._start_delay() == 0.25


def test_target_below_the_slot_concurrency_is_autothrottle() -> None:
    ext = throttle(AUTOTHROTTLE_TARGET_CONCURRENCY=4)
    slot = Slot(16, 0.25, 0.5)
    ext.adjust(KEY, slot, 0.1, response(200), now=1.0)
    assert slot.delay == (0.25 + 0.1 / 4) / 2  # AutoThrottle: halfway to latency / target
    ext.adjust(KEY, slot, 2.0, response(200), now=2.0)
    assert slot.delay == 2.0 / 4  # a larger target delay is taken at once
    assert slot.jitter == 0.5


def feed(ext: RateLimitThrottle, slot: Slot, t0: float, per_second: int, seconds: float) -> float:
    """200s at ``per_second`` for ``seconds`` from ``t0``; the last time."""
    t = t0
    for k in range(int(per_second * seconds)):
        t = t0 + k / per_second
        ext.adjust(KEY, slot, 0.02, response(200), now=t)
    return t


def test_a_429_sets_an_even_delay_above_the_latency_rule_then_recovers() -> None:
    ext = throttle(AUTOTHROTTLE_TARGET_CONCURRENCY=4, CONCURRENT_REQUESTS_PER_DOMAIN=16)
    slot = Slot(16, 0.25, 0.5)
    t = feed(ext, slot, 0.0, 40, 3.0)
    latency_delay = slot.delay
    assert latency_delay == pytest.approx(0.02 / 4, rel=1e-3)
    ext.adjust(KEY, slot, 0.001, response(429), now=t + 0.01)
    rate = ext.states[KEY].rate.rate
    assert rate == pytest.approx(0.9 * 40)  # 80 200s in the last 2 s
    assert (slot.delay, slot.jitter) == (1 / rate, 0.0)
    stats = ext.crawler.stats
    assert stats.get_value("throttle/429_responses") == 1
    assert stats.get_value("throttle/429_decreases") == 1
    assert stats.get_value(f"throttle/rate/{KEY}") == round(rate, 2)
    # 10 s without a 429: 2% more per second
    ext.adjust(KEY, slot, 0.02, response(200), now=t + 10.01)
    assert slot.delay == pytest.approx(1 / (rate * 1.02**10))
    # long after: unlimited, the latency rule and its jitter again
    ext.adjust(KEY, slot, 0.02, response(200), now=t + 400)
    assert (slot.delay, slot.jitter) == (pytest.approx(latency_delay, rel=1e-3), 0.5)


def test_429_rule_off_leaves_autothrottle_alone() -> None:
    ext = throttle(THROTTLE_429_ENABLED=False, AUTOTHROTTLE_TARGET_CONCURRENCY=16)
    slot = Slot(16, 0.25, 0.5)
    t = feed(ext, slot, 0.0, 40, 3.0)
    ext.adjust(KEY, slot, 0.001, response(429), now=t + 0.01)
    assert (slot.delay, slot.jitter) == (0.0, 0.5)
    assert ext.crawler.stats.get_value("throttle/429_responses") == 1
    assert ext.crawler.stats.get_value("throttle/429_decreases") is None


# -- the target concurrency: set, or the per-domain cap at run time ----------------


def project_throttle(**cmdline: Any) -> RateLimitThrottle:
    """The throttle of a crawl with the project's settings and ``-s`` values."""
    settings = get_project_settings()
    settings.setdict(cmdline, priority="cmdline")
    return build_from_crawler(RateLimitThrottle, Crawler(Spider, settings))


@pytest.mark.parametrize("concurrency", [16, 64])
def test_an_unset_target_is_the_per_domain_cap_of_the_run(concurrency: int) -> None:
    # -s CONCURRENT_REQUESTS_PER_DOMAIN=64 alone (16: the project's)
    ext = project_throttle(
        CONCURRENT_REQUESTS_PER_DOMAIN=concurrency, CONCURRENT_REQUESTS=2 * concurrency
    )
    assert ext.config.target_concurrency == ext.target_concurrency == concurrency
    assert not ext.config.latency_applies(concurrency)
    assert ext._start_delay() == 0.0
    # the latency rule leaves the pacing to the cap, fast site or slow
    slot = Slot(concurrency, 0.25, 0.5)
    ext.adjust(KEY, slot, 0.1, response(200), now=1.0)
    assert (slot.delay, slot.jitter) == (0.0, 0.5)
    ext.adjust(KEY, slot, 2.5, response(200), now=2.0)
    assert slot.delay == 0.0


def test_a_target_that_is_set_is_kept() -> None:
    ext = project_throttle(CONCURRENT_REQUESTS_PER_DOMAIN=64, AUTOTHROTTLE_TARGET_CONCURRENCY=4)
    assert ext.config.target_concurrency == ext.target_concurrency == 4.0
    assert ext.config.latency_applies(64)
    assert ext._start_delay() == 0.25  # AUTOTHROTTLE_START_DELAY, with the latency rule
    slot = Slot(64, 0.25, 0.5)
    ext.adjust(KEY, slot, 0.1, response(200), now=1.0)
    assert slot.delay == (0.25 + 0.1 / 4) / 2  # AutoThrottle's rule, target 4
    # also where it is Scrapy's default value, set on purpose
    assert config(AUTOTHROTTLE_TARGET_CONCURRENCY=1.0).target_concurrency == 1.0
    assert config(CONCURRENT_REQUESTS_PER_DOMAIN=8).target_concurrency == 8.0


def test_settings_that_lack_ours_get_the_project_defaults() -> None:
    from crawler import settings as defaults

    cfg = ThrottleConfig.from_settings(Settings())  # Scrapy's defaults only
    assert (cfg.limit_429, cfg.backoff, cfg.window, cfg.recovery) == (
        defaults.THROTTLE_429_ENABLED,
        defaults.THROTTLE_429_BACKOFF,
        defaults.THROTTLE_429_WINDOW,
        defaults.THROTTLE_429_RECOVERY,
    )
    assert cfg.target_concurrency == default_settings.CONCURRENT_REQUESTS_PER_DOMAIN
