"""The ledger: every stats key of a record's fate, how it is built and how it
is read, in one place (as spidermon's stats manager owns its keys).

Keys:
- ``items/valid/<type>``: items that passed validation (so went to the feeds);
- ``items/rejected/<type>`` and ``items/rejected/<type>/<reason>``: invalid
  items, once each and once per reason;
- ``items/stored/<type>``: items the storage acknowledged;
- ``failures/count`` and ``failures/<kind>/<reason>``: records that failed for
  good (the failures file lists them); of them, those of a reason in
  :data:`WITHDRAWN_REASONS` (a listed id that answers 404: a withdrawn
  product) are the site's answer, not trouble: :func:`withdrawn` counts them,
  :func:`troubles` the others, which are what breaks a run;
- Scrapy's ``item_scraped_count`` and ``item_dropped_count``;
- read here, set by the resume journal: ``resume/requeued``, present when the
  run continued a ``JOBDIR`` job that had work done (:func:`resumed`);
- ``coverage/<type>/<field>``: of the items of a type the validation checked
  (valid and rejected), how many had the field non-empty (not absent, ``None``,
  ``""``, ``[]`` or ``{}``); set once when the validation closes, every field of
  the type's item class named (0 when always empty): the report's field
  coverage (:func:`coverage_by_type`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy.statscollectors import StatsCollector

FAILURES = "failures/count"
VALID = "items/valid/"
REJECTED = "items/rejected/"
STORED = "items/stored/"
FAILED = "failures/"
RESUMED = "resume/requeued"
COVERAGE = "coverage/"

#: daily tracking (crawler/mongo/history.py, the products spider's track mode):
#: tracking/new, tracking/changed, tracking/changed/<field>, tracking/unchanged,
#: tracking/relisted, tracking/withdrawn, tracking/history_rows (rows inserted),
#: tracking/details/<new|changed|relisted|refresh> (details fetched, and why),
#: tracking/listing_pages (listing pages read)
TRACKING = "tracking/"
#: failure reasons that are the site's answer, not trouble: a listed id that
#: answers 404 is a withdrawn product (the real API does this for a few percent
#: of what it lists). Recorded like any failure; they never break a run.
WITHDRAWN_REASONS = frozenset({"not_found"})


def is_withdrawn(reason: str) -> bool:
    return reason in WITHDRAWN_REASONS


#: kinds the failures file lists (for a retry run) that are not records: an
#: image that failed leaves its product scraped, so it is counted by reason but
#: not in ``failures/count`` (which the run's verdict reads)
NOT_RECORDS = frozenset({"image"})


def count_failure(stats: StatsCollector, kind: str, reason: str) -> None:
    if kind not in NOT_RECORDS:
        stats.inc_value(FAILURES)
    stats.inc_value(f"{FAILED}{kind}/{reason}")


def count_valid(stats: StatsCollector, item_type: str) -> None:
    stats.inc_value(f"{VALID}{item_type}")


def count_rejected(stats: StatsCollector, item_type: str, reasons: list[str]) -> None:
    stats.inc_value(f"{REJECTED}{item_type}")
    for reason in reasons:
        stats.inc_value(f"{REJECTED}{item_type}/{reason}")


def count_stored(stats: StatsCollector, item_type: str, count: int) -> None:
    stats.inc_value(f"{STORED}{item_type}", count)


def grouped(stats: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``{"a/b": 1, "a/c/d": 2}`` under ``a/`` as ``{"b": 1, "c/d": 2}``."""
    return {k[len(prefix) :]: v for k, v in sorted(stats.items()) if k.startswith(prefix)}


def valid_by_type(stats: Mapping[str, Any]) -> dict[str, int]:
    return grouped(stats, VALID)


def stored_by_type(stats: Mapping[str, Any]) -> dict[str, int]:
    return grouped(stats, STORED)


def rejected_by_type(stats: Mapping[str, Any]) -> dict[str, int]:
    return {k: v for k, v in grouped(stats, REJECTED).items() if "/" not in k}


def rejected_by_reason(stats: Mapping[str, Any]) -> dict[str, int]:
    """``{"<type>/<reason>": n}``."""
    return {k: v for k, v in grouped(stats, REJECTED).items() if "/" in k}


def failures(stats: Mapping[str, Any]) -> int:
    return int(stats.get(FAILURES, 0))


def failures_by_reason(stats: Mapping[str, Any]) -> dict[str, int]:
    """``{"<kind>/<reason>": n}``."""
    return {k: v for k, v in grouped(stats, FAILED).items() if k != "count"}


def withdrawn(stats: Mapping[str, Any]) -> int:
    """Failed records whose reason is in :data:`WITHDRAWN_REASONS` (404s)."""
    return sum(
        int(n)
        for key, n in failures_by_reason(stats).items()
        if is_withdrawn(key.rpartition("/")[2])
    )


def troubles(stats: Mapping[str, Any]) -> int:
    """Failed records that mean trouble (timeouts, 5xx out of retries,
    malformed bodies, storage errors): every failure but the withdrawn ones."""
    return failures(stats) - withdrawn(stats)


def resumed(stats: Mapping[str, Any]) -> bool:
    """Whether the run continued a ``JOBDIR`` job that had work done: its
    earlier parts' items are in the feeds already, not in this run's counts."""
    return RESUMED in stats


def records_done(stats: Mapping[str, Any]) -> int:
    """Records with a fate: scraped, dropped (rejected) or failed."""
    return (
        stats.get("item_scraped_count", 0)
        + stats.get("item_dropped_count", 0)
        + stats.get(FAILURES, 0)
    )


def set_coverage(stats: StatsCollector, item_type: str, non_empty: Mapping[str, int]) -> None:
    """The validation's count of non-empty values per field of ``item_type``."""
    for field, n in non_empty.items():
        stats.set_value(f"{COVERAGE}{item_type}/{field}", n)


def coverage_by_type(stats: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``{"<type>": {"<field>": non-empty count}}``."""
    found: dict[str, dict[str, int]] = {}
    for key, n in grouped(stats, COVERAGE).items():
        item_type, _, field = key.partition("/")
        found.setdefault(item_type, {})[field] = int(n)
    return found


def tracking(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The change counts of a run: ``{"new": 3, "changed": 2, "changed/price": 1, ...}``."""
    return grouped(stats, TRACKING)
