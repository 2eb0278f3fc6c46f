"""The run report: what a run did, next to its feeds, and its verdict.

At the end of every run, ``<run dir>/report.json`` holds the items per type
(``scraped``: valid, hence written to the feeds; ``stored``: acknowledged by
MongoDB, empty without ``MONGO_URI``; ``rejected``, and by reason), the
failures by kind and reason (``withdrawn`` of them: listed ids that answer
404), the requests, retries and 429s, the duration, records per second and
peak memory (the process's peak RSS, in bytes); the log gets one human summary
line.

The verdict decides the exit status of ``scrapy crawl`` (see
:mod:`crawler.commands.crawl`; the statuses: docs/output.md). A run is broken
when

- it stopped early: by the sentence of the component that stopped it
  (:mod:`crawler.stopping`: the host or MongoDB cannot be reached, ...), else
  by its finish reason;
- its share of failed records that mean trouble (every failure but a 404 of a
  listed id, :func:`crawler.ledger.troubles`) is above
  ``REPORT_MAX_FAILURE_SHARE``;
- it stored nothing at all (and continued no ``JOBDIR`` job whose earlier
  parts did): the sentence says what the spider found (its
  ``nothing_found()``: the categories and what they held);
- it produced fewer than ``REPORT_MIN_ITEMS`` items;
- its valid items fell by more than ``REPORT_MAX_ITEM_DROP`` against the
  previous complete run of the same spider and scope
  (:mod:`crawler.report_history`);
- a field's coverage (share of non-empty values) is below its
  ``REPORT_MIN_COVERAGE``.

The report also holds the run's ``scope``, its field ``coverage``, its
``rate_samples`` (records done over time, from :mod:`.progress`) and the
``comparison`` with the previous complete run; ``report.html`` beside it shows
them (:mod:`crawler.report_html`).

Its problems are stored in the ``run/problems`` stat, which the command reads;
they are logged in one ERROR line, but for the sentence of a component that
stopped the run, which that component logged already.

Settings (their values and reasons: ``crawler/settings.py``):
- ``REPORT_ENABLED``: whether the report is written and the verdict given
- ``REPORT_MAX_FAILURE_SHARE``: the largest share of failed records a good run
  has (0: any failed record that means trouble breaks the run; 404s of listed
  ids never do)
- ``REPORT_MIN_ITEMS``: the fewest items a good run produces (0: no minimum)
- ``REPORT_MAX_ITEM_DROP``: the largest fall of valid items against the
  previous complete run (unset: no such rule)
- ``REPORT_MIN_COVERAGE``: ``{"<type>/<field>": share}``, the least coverage
  of each field named
- ``REPORT_FLAG_TOLERANCE``: a change against the previous run larger than this
  is flagged in report.html
"""

from __future__ import annotations

import logging
import resource
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler import ledger
from crawler import settings as defaults
from crawler.exceptions import ReportConfigError
from crawler.report_history import comparison, coverage_of, previous_report, scope_of
from crawler.run import run_dir
from crawler.stopping import STOPPED_BECAUSE

from .progress import Progress

if TYPE_CHECKING:
    from collections.abc import Mapping

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far (what ``memusage/max`` holds,
    but read now: MemoryUsage only samples it every 60 s)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # KB on Linux


def build_report(stats: dict[str, Any], spider: str, run_id: str) -> dict[str, Any]:
    """The report's content, from the crawl's stats."""
    start, finish = stats.get("start_time"), stats.get("finish_time")
    duration = (finish - start).total_seconds() if start and finish else None
    # per type from the validation pipeline's counts: no per-item signal handler
    scraped = ledger.valid_by_type(stats)
    rejected = ledger.rejected_by_type(stats)
    records = sum(scraped.values()) + sum(rejected.values())
    return {
        "spider": spider,
        "run_id": run_id,
        "finish_reason": stats.get("finish_reason"),
        "started_at": start,
        "finished_at": finish,
        "duration_seconds": duration,
        "items": {
            "scraped": scraped,
            "stored": ledger.stored_by_type(stats),
            "rejected": rejected,
            "rejected_by_reason": ledger.rejected_by_reason(stats),
        },
        "failures": {
            "count": ledger.failures(stats),
            "withdrawn": ledger.withdrawn(stats),
            "by_reason": ledger.failures_by_reason(stats),
        },
        "stopped_because": stats.get(STOPPED_BECAUSE),
        "resumed": ledger.resumed(stats),
        "requests": stats.get("downloader/request_count", 0),
        "responses": stats.get("downloader/response_count", 0),
        "retries": stats.get("retry/count", 0),
        "responses_429": stats.get("downloader/response_status_count/429", 0),
        "records_per_second": round(records / duration, 1) if duration else None,
        "peak_memory_bytes": stats.get("memusage/max"),
        "coverage": coverage_of(ledger.coverage_by_type(stats), scraped, rejected),
        "tracking": tracking_counts(stats),
    }


def tracking_counts(stats: dict[str, Any]) -> dict[str, Any]:
    """What changed (crawler/mongo/history.py, the track mode): new, changed (and
    per field), unchanged, withdrawn, relisted, details fetched (and why),
    listing pages read, history rows added."""
    counts = ledger.tracking(stats)
    details = ledger.grouped(counts, "details/")
    return {
        "new": counts.get("new", 0),
        "changed": counts.get("changed", 0),
        "changed_by_field": dict(sorted(ledger.grouped(counts, "changed/").items())),
        "unchanged": counts.get("unchanged", 0),
        "withdrawn": counts.get("withdrawn", 0),
        "relisted": counts.get("relisted", 0),
        "details_fetched": sum(details.values()),
        "details_by_reason": details,
        "listing_pages": counts.get("listing_pages", 0),
        "history_rows": counts.get("history_rows", 0),
    }


def tracked(report: dict[str, Any]) -> int:
    """Products a run compared with MongoDB (0: no tracking in this run)."""
    counts = report.get("tracking") or {}
    return sum(counts.get(k, 0) for k in ("new", "changed", "unchanged", "withdrawn", "relisted"))


def problems_of(
    report: dict[str, Any],
    max_failure_share: float,
    min_items: int,
    nothing_found: str | None = None,
    *,
    max_item_drop: float | None = None,
    min_coverage: Mapping[str, float] | None = None,
) -> list[str]:
    """Why this run is broken, one sentence each; empty for a good run.

    ``nothing_found`` is the spider's account of an empty run (what its
    categories held), used when the run stored nothing."""
    problems = []
    finished = report["finish_reason"] == "finished"
    if not finished:
        stopped = report.get("stopped_because")
        problems.append(
            stopped.rstrip(".") if stopped else f"the run stopped early ({report['finish_reason']})"
        )
    items = report["items"]
    records = sum(items["scraped"].values()) + sum(items["rejected"].values())
    failures = report["failures"]["count"]
    troubles = failures - report["failures"].get("withdrawn", 0)
    if troubles:
        share = troubles / (records + failures)
        if share > max_failure_share:
            problems.append(
                f"{troubles:,} records failed ({share:.1%} of {records + failures:,}, "
                f"more than the {max_failure_share:.1%} allowed)"
            )
    scraped = sum(items["scraped"].values())
    # a resumed job's earlier parts stored their items already
    # a track run of a day with no change stored no record, and saw every product
    seen = (report.get("tracking") or {}).get("unchanged", 0) + (report.get("tracking") or {}).get(
        "withdrawn", 0
    )
    if finished and not scraped and not report.get("resumed") and not seen:
        if nothing_found:
            problems.append(f"it stored nothing: {nothing_found.rstrip('.')}")
        else:
            problems.append(
                f"it stored nothing ({sum(items['rejected'].values()):,} items rejected, "
                f"{report['failures']['withdrawn']:,} ids answered 404, {troubles:,} records "
                "failed)"
            )
    elif scraped < min_items:
        problems.append(f"{scraped:,} items, fewer than the {min_items:,} required")
    problems.extend(history_problems(report, max_item_drop, min_coverage or {}))
    return problems


def history_problems(
    report: dict[str, Any], max_item_drop: float | None, min_coverage: Mapping[str, float]
) -> list[str]:
    """The rules of REPORT_MAX_ITEM_DROP and REPORT_MIN_COVERAGE, one sentence each."""
    problems = []
    compared = report.get("comparison")
    if max_item_drop is not None and compared:
        valid = compared["valid"]
        if valid["before"] and valid["now"] < valid["before"] * (1 - max_item_drop):
            drop = 1 - valid["now"] / valid["before"]
            problems.append(
                f"{valid['now']:,} valid items, {drop:.1%} fewer than the {valid['before']:,} "
                f"of the previous complete run {compared['run_id']} (more than the "
                f"{max_item_drop:.1%} allowed)"
            )
    coverage = report.get("coverage") or {}
    for key, least in sorted(min_coverage.items()):
        item_type, _, field = key.partition("/")
        fields = coverage.get(item_type)
        if fields is None:
            continue  # no item of the type: the counts say it
        if field not in fields:
            problems.append(
                f"REPORT_MIN_COVERAGE names {key}, but {field or '(nothing)'} is not a field of "
                f"the {item_type} items"
            )
        elif fields[field] < float(least):
            problems.append(
                f"{field} is filled in {fields[field]:.1%} of the {item_type} items, below the "
                f"{float(least):.1%} required"
            )
    return problems


#: plural names of item types (``<type>s`` when not here)
PLURALS = {
    "dashboardrow": "dashboard rows",
    # the tracking's updates of products (crawler/items.py STATE_ITEM_CLASSES)
    "productseen": "products seen",
    "reviewsread": "review counts read",
}
SINGULARS = {
    "dashboardrow": "dashboard row",
    "productseen": "product seen",
    "reviewsread": "review count read",
}


def counted(n: int, item_type: str) -> str:
    """``1 product``, ``1,843 products``."""
    if n == 1:
        return f"1 {SINGULARS.get(item_type, item_type)}"
    return f"{n:,} {PLURALS.get(item_type, item_type + 's')}"


def summary_line(spider: str, run_id: str, report: dict[str, Any], path: Any) -> str:
    """The report in one line, for the log."""
    items = report["items"]
    scraped = ", ".join(counted(n, t) for t, n in items["scraped"].items()) or "nothing"
    stored = "".join(f", {counted(n, t)} stored" for t, n in items["stored"].items())
    failures = report["failures"]
    withdrawn = failures["withdrawn"]
    troubles = failures["count"] - withdrawn
    return (
        f"Run {spider}/{run_id}: {scraped} scraped{stored}, "
        f"{sum(items['rejected'].values()):,} rejected, "
        + (f"{withdrawn:,} withdrawn (answered 404), " if withdrawn else "")
        + f"{troubles:,} failed, {report['requests']:,} requests "
        f"({report['retries']:,} retries, {report['responses_429']:,} answered 429) "
        f"in {report['duration_seconds'] or 0.0:.1f} s, {report['records_per_second']} "
        f"records/s, peak memory {(report['peak_memory_bytes'] or 0) / 2**20:.0f} MB. "
        + changes_sentence(report)
        + f"Report: {path}"
    )


def changes_sentence(report: dict[str, Any]) -> str:
    """``Changes: 3 new, 5 changed (price 4, review_count 1), ...`` ("" when untracked)."""
    counts = report.get("tracking") or {}
    if not tracked(report):
        return ""
    fields = ", ".join(f"{name} {n:,}" for name, n in counts["changed_by_field"].items())
    return (
        f"Changes: {counts['new']:,} new, {counts['changed']:,} changed"
        + (f" ({fields})" if fields else "")
        + f", {counts['unchanged']:,} unchanged, {counts['withdrawn']:,} withdrawn, "
        f"{counts['relisted']:,} relisted; {counts['details_fetched']:,} details fetched, "
        f"{counts['listing_pages']:,} listing pages read. "
    )


def read_limits(settings: BaseSettings) -> dict[str, Any]:
    """The ``REPORT_*`` limits as numbers, read before the crawl;
    :class:`ReportConfigError` names a setting that is not one."""

    def number(name: str, kind: type[float] | type[int], value: Any) -> Any:
        try:
            return kind(value)
        except (TypeError, ValueError):
            word = "a whole number" if kind is int else "a number"
            raise ReportConfigError(f"{name} must be {word}, not {value!r}.") from None

    def setting(name: str, kind: type[float] | type[int]) -> Any:
        return number(name, kind, settings.get(name, getattr(defaults, name)))

    drop = settings.get("REPORT_MAX_ITEM_DROP", defaults.REPORT_MAX_ITEM_DROP)
    try:
        coverage = settings.getdict("REPORT_MIN_COVERAGE", defaults.REPORT_MIN_COVERAGE)
    except ValueError:
        raise ReportConfigError(
            'REPORT_MIN_COVERAGE must be a JSON object such as {"product/price": 0.95}.'
        ) from None
    return {
        "max_failure_share": setting("REPORT_MAX_FAILURE_SHARE", float),
        "min_items": setting("REPORT_MIN_ITEMS", int),
        "max_item_drop": None
        if drop in (None, "")
        else number("REPORT_MAX_ITEM_DROP", float, drop),
        "min_coverage": {
            str(key): number(f"REPORT_MIN_COVERAGE[{key!r}]", float, share)
            for key, share in coverage.items()
        },
        "flag_tolerance": setting("REPORT_FLAG_TOLERANCE", float),
    }


class RunReport:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("REPORT_ENABLED", defaults.REPORT_ENABLED):
            raise NotConfigured("REPORT_ENABLED is off")
        self.crawler = crawler
        limits = read_limits(settings)
        self.max_failure_share = limits["max_failure_share"]
        self.min_items = limits["min_items"]
        self.max_item_drop = limits["max_item_drop"]
        self.min_coverage = limits["min_coverage"]
        self.flag_tolerance = limits["flag_tolerance"]
        self.worker = (
            settings.get("DISTRIBUTED_WORKER_ID") if settings.getbool("DISTRIBUTED") else None
        )
        #: when the crawl started (its components are built first): a component
        #: that takes long to open (a server out of reach) delays Scrapy's
        #: start_time, set once the spider is open, not the run
        self.created = datetime.now(UTC)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunReport:
        return cls(crawler)

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats
        values = dict(stats.get_stats())
        values.setdefault("finish_reason", reason)
        values.setdefault("finish_time", datetime.now(UTC))
        start = values.get("start_time")
        values["start_time"] = min(start, self.created) if start else self.created
        values["memusage/max"] = max(values.get("memusage/max") or 0, peak_rss_bytes())
        report = build_report(values, spider.name, spider.run_id)
        self.add_history(report, spider)
        nothing_found = getattr(spider, "nothing_found", None)
        problems = problems_of(
            report,
            self.max_failure_share,
            self.min_items,
            nothing_found() if callable(nothing_found) else None,
            max_item_drop=self.max_item_drop,
            min_coverage=self.min_coverage,
        )
        report["problems"] = problems
        stats.set_value("run/problems", problems)
        path = run_dir(spider) / "report.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        self.write_html(path.with_name("report.html"), report)
        logger.info("%s", summary_line(spider.name, spider.run_id, report, path))
        stopped = report["stopped_because"]
        # the sentence that stopped the run was logged by the component that stopped it
        unsaid = [p for p in problems if not stopped or p != stopped.rstrip(".")]
        if unsaid:
            logger.error("Run %s/%s is broken: %s.", spider.name, spider.run_id, "; ".join(unsaid))

    def add_history(self, report: dict[str, Any], spider: Any) -> None:
        """The run's scope, rate samples and comparison with the previous
        complete run."""
        report["scope"] = scope_of(getattr(spider, "args", None), self.worker)
        progress = self.crawler.get_extension(Progress)
        report["rate_samples"] = [list(p) for p in progress.points()] if progress else []
        # a resumed job's counts are its last part's: nothing to compare
        previous = None if report["resumed"] else previous_report(run_dir(spider).parent, report)
        report["comparison"] = (
            comparison(report, previous, self.flag_tolerance) if previous else None
        )

    def write_html(self, path: Any, report: dict[str, Any]) -> None:
        from crawler.report_html import render  # pygal: loaded at the run's end only

        try:
            path.write_text(render(report), encoding="utf-8")
        except OSError as exc:
            logger.error("Cannot write %s: %s.", path, exc.strerror or exc)
