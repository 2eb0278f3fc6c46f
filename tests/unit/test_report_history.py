"""The run's scope, the previous complete run, the comparison, the two rules
that read them (REPORT_MAX_ITEM_DROP, REPORT_MIN_COVERAGE) and the rate
samples: plain functions on report dicts and files in a temporary folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from crawler.args import Chunk, DashboardArgs, ProductsArgs
from crawler.extensions.progress import MAX_SAMPLES, RateSamples
from crawler.extensions.report import build_report, problems_of
from crawler.report_history import comparison, coverage_of, previous_report, scope_of

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def report(run_id: str, hours: int, valid: int, **extra: Any) -> dict[str, Any]:
    stats = {
        "start_time": START + timedelta(hours=hours),
        "finish_time": START + timedelta(hours=hours, seconds=10),
        "finish_reason": "finished",
        "items/valid/product": valid,
        "items/rejected/product": 0,
        "coverage/product/name": valid,
        "coverage/product/price": valid // 2,
    }
    built = build_report(stats, "products", run_id)
    built["scope"] = {"categories": [1, 2]}
    built["problems"] = []
    built.update(extra)
    return built


def write(folder: Path, built: dict[str, Any]) -> None:
    path = folder / built["run_id"] / "report.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(orjson.dumps(built))


def test_the_scope_is_what_the_arguments_cover() -> None:
    assert scope_of(ProductsArgs(categories=(1, 2), brands=(5,))) == {
        "categories": [1, 2],
        "brands": [5],
        "ids": [],
        # a track run is compared with track runs
        "mode": "full",
        "refresh_days": 7,
    }
    many = scope_of(ProductsArgs(ids=tuple(range(1, 1001))))
    assert many["ids"]["count"] == 1000 and len(many["ids"]["sha256"]) == 16
    assert many != scope_of(ProductsArgs(ids=tuple(range(2, 1002))))
    # how the dashboard is read (pages at a time) is not what it covers
    chunk = Chunk("orders", START.date(), START.date())
    assert scope_of(DashboardArgs((chunk,), parallel=3)) == scope_of(DashboardArgs((chunk,)))
    assert scope_of(None) == {}
    assert scope_of(None, worker="w1") == {"worker": "w1"}


def test_the_previous_complete_run_is_the_newest_earlier_one_of_the_scope(
    tmp_path: Path,
) -> None:
    write(tmp_path, report("old", 0, 100))
    write(tmp_path, report("good", 1, 120))
    write(tmp_path, report("broken", 2, 10, problems=["it stopped"]))
    write(tmp_path, report("resumed", 3, 10, resumed=True))
    write(tmp_path, report("stopped", 4, 10, finish_reason="shutdown"))
    write(tmp_path, report("other-scope", 5, 10, scope={"categories": [3]}))
    write(tmp_path, report("later", 9, 10))
    (tmp_path / "half-written").mkdir()
    (tmp_path / "half-written" / "report.json").write_bytes(b"{")
    current = report("now", 6, 90)
    found = previous_report(tmp_path, current)
    assert found is not None and found["run_id"] == "good"
    assert previous_report(tmp_path, report("first", -1, 90)) is None


def test_the_comparison_flags_what_moved_beyond_the_tolerance() -> None:
    before, now = report("a", 0, 100), report("b", 1, 75)
    now["coverage"]["product"]["price"] = 0.5  # same share
    now["coverage"]["product"]["name"] = 0.9  # 10 points down
    compared = comparison(now, before, 0.05)
    assert compared["run_id"] == "a"
    assert compared["valid"] == {"now": 75, "before": 100, "change": -0.25}
    assert compared["items"] == [
        {"type": "product", "now": 75, "before": 100, "change": -0.25, "flagged": True}
    ]
    flagged = {c["field"]: (c["change"], c["flagged"]) for c in compared["coverage"]}
    assert flagged == {"name": (-0.1, True), "price": (0.0, False)}
    assert comparison(report("c", 2, 98), before, 0.05)["items"][0]["flagged"] is False


def test_the_item_drop_and_coverage_rules_are_one_sentence_each() -> None:
    before, now = report("a", 0, 100), report("b", 1, 75)
    now["comparison"] = comparison(now, before, 0.05)
    assert problems_of(now, 0.0, 0) == []  # no rule set: only a flag
    assert problems_of(now, 0.0, 0, max_item_drop=0.2) == [
        "75 valid items, 25.0% fewer than the 100 of the previous complete run a "
        "(more than the 20.0% allowed)"
    ]
    assert problems_of(now, 0.0, 0, max_item_drop=0.3) == []
    assert problems_of(now, 0.0, 0, min_coverage={"product/price": 0.6}) == [
        "price is filled in 49.3% of the product items, below the 60.0% required"
    ]
    assert problems_of(now, 0.0, 0, min_coverage={"product/prise": 0.6}) == [
        "REPORT_MIN_COVERAGE names product/prise, but prise is not a field of the product items"
    ]
    # a type the run has no item of: the counts say enough
    assert problems_of(now, 0.0, 0, min_coverage={"comment/rating": 0.6}) == []


def test_coverage_shares_are_of_the_validated_items() -> None:
    shares = coverage_of({"product": {"name": 3, "price": 0}}, {"product": 3}, {"product": 1})
    assert shares == {"product": {"name": 0.75, "price": 0.0}}
    assert coverage_of({"comment": {"id": 0}}, {}, {}) == {}


@pytest.mark.parametrize("seconds", [10, MAX_SAMPLES * 7])
def test_rate_samples_stay_few_over_any_run(seconds: int) -> None:
    samples = RateSamples(1.0)
    for second in range(seconds + 1):
        samples.add(float(second), second * 10)
    assert 2 <= len(samples.points) <= MAX_SAMPLES
    assert samples.points[0] == (0.0, 0)
    steps = {b[0] - a[0] for a, b in zip(samples.points, samples.points[1:], strict=False)}
    assert steps == {samples.step}  # evenly spaced
