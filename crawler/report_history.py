"""A run against the ones before it: its scope, the previous complete run of
the same spider and scope, and what changed (plain functions on report dicts).

- The scope is what a run was asked to cover: the spider's parsed ``-a``
  arguments (categories, brands, the ids of an ids file, the dashboard's
  chunks), long lists as their count and a digest; not how it ran (the
  dashboard's ``parallel``). A distributed worker's adds its worker id, since
  a worker covers its share only.
- The previous complete run is the newest run folder of the same spider
  (``<OUTPUT_DIR>/<spider>/*/report.json``), started before this one, whose
  report says finished, not broken and not resumed (a resumed job's counts are
  its last part's), with the same scope.
- The comparison: each item type's valid count and each field's coverage, now
  and then, with the change; a change of more than the tolerance is flagged
  (counts: relative; coverage: points of share).
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

#: spider arguments that say how a run goes, not what it covers
NOT_SCOPE = frozenset({"parallel"})
#: a list longer than this (an ids file's ids) is kept as its count and digest
LONGEST_LISTED = 20


def scope_of(args: Any, worker: str | None = None) -> dict[str, Any]:
    """The scope of a run from its spider's parsed arguments (a dataclass, or
    ``None`` for a spider without arguments)."""
    scope: dict[str, Any] = {}
    if dataclasses.is_dataclass(args) and not isinstance(args, type):
        for field in dataclasses.fields(args):
            if field.name in NOT_SCOPE:
                continue
            value = orjson.loads(orjson.dumps(getattr(args, field.name)))
            if isinstance(value, list) and len(value) > LONGEST_LISTED:
                digest = hashlib.sha256(orjson.dumps(value)).hexdigest()[:16]
                value = {"count": len(value), "sha256": digest}
            scope[field.name] = value
    if worker:
        scope["worker"] = worker
    return scope


def _started(report: dict[str, Any]) -> datetime | None:
    value = report.get("started_at")
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def is_complete(report: Any) -> bool:
    """Finished, not broken, and its counts the whole run's (not resumed)."""
    return (
        isinstance(report, dict)
        and report.get("finish_reason") == "finished"
        and not report.get("problems")
        and not report.get("resumed")
    )


def previous_report(spider_dir: Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """The newest complete run of ``spider_dir`` (``<OUTPUT_DIR>/<spider>``)
    started before ``report``'s, with its scope; ``None`` when there is none."""
    started = _started(report)
    if started is None:
        return None
    best: dict[str, Any] | None = None
    best_started: datetime | None = None
    for path in spider_dir.glob("*/report.json"):
        if path.parent.name == report.get("run_id"):
            continue
        try:
            other = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # a folder being written, or not a report
        if not is_complete(other) or other.get("scope") != report.get("scope"):
            continue
        other_started = _started(other)
        if other_started is None or other_started >= started:
            continue
        if best_started is None or other_started > best_started:
            best, best_started = other, other_started
    return best


def coverage_shares(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{"<type>": {"<field>": share of non-empty values}}`` of a report."""
    return report.get("coverage") or {}


def _change(now: float, before: float) -> float | None:
    return (now - before) / before if before else None


def comparison(
    report: dict[str, Any], previous: dict[str, Any], tolerance: float
) -> dict[str, Any]:
    """What changed since ``previous``: valid items per type and in all, each
    field's coverage; ``flagged`` where it moved more than ``tolerance``."""
    now_items = report["items"]["scraped"]
    before_items = previous.get("items", {}).get("scraped", {})
    items = []
    for item_type in sorted(set(now_items) | set(before_items)):
        now, before = now_items.get(item_type, 0), before_items.get(item_type, 0)
        change = _change(now, before)
        flagged = abs(change) > tolerance if change is not None else now != before
        items.append(
            {"type": item_type, "now": now, "before": before, "change": change, "flagged": flagged}
        )
    now_cov, before_cov = coverage_shares(report), coverage_shares(previous)
    coverage = []
    for item_type in sorted(set(now_cov) & set(before_cov)):
        fields = now_cov[item_type]
        for field in sorted(set(fields) | set(before_cov[item_type])):
            now_share = fields.get(field, 0.0)
            before_share = before_cov[item_type].get(field, 0.0)
            delta = round(now_share - before_share, 4)
            coverage.append(
                {
                    "type": item_type,
                    "field": field,
                    "now": now_share,
                    "before": before_share,
                    "change": delta,
                    "flagged": abs(delta) > tolerance,
                }
            )
    valid_now, valid_before = sum(now_items.values()), sum(before_items.values())
    return {
        "run_id": previous.get("run_id"),
        "started_at": previous.get("started_at"),
        "tolerance": tolerance,
        "valid": {
            "now": valid_now,
            "before": valid_before,
            "change": _change(valid_now, valid_before),
        },
        "items": items,
        "coverage": coverage,
    }


def coverage_of(
    non_empty: dict[str, dict[str, int]], scraped: dict[str, int], rejected: dict[str, int]
) -> dict[str, dict[str, float]]:
    """Shares of non-empty values per field, of the items validated (valid and
    rejected) of each type."""
    shares = {}
    for item_type, fields in sorted(non_empty.items()):
        records = scraped.get(item_type, 0) + rejected.get(item_type, 0)
        if records:
            shares[item_type] = {f: round(n / records, 4) for f, n in sorted(fields.items())}
    return shares
