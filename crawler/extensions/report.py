"""The run report: what a run did, next to its feeds, and its verdict.

At the end of every run, ``<run dir>/report.json`` holds the items per type
(``scraped``: valid, hence written to the feeds; ``stored``: acknowledged by
MongoDB, empty without ``MONGO_URI``; ``rejected``, and by reason), the
failures by kind and reason, the requests, retries and 429s, the duration,
records per second and peak memory (the process's peak RSS, in bytes); the log
gets a short human summary.

The verdict decides the exit status of ``scrapy crawl`` (see
:mod:`crawler.commands.crawl`): a run is broken when it did not finish, when
its share of failed records is above ``REPORT_MAX_FAILURE_SHARE`` or when it
produced fewer than ``REPORT_MIN_ITEMS`` items. Its problems are stored in the
``run/problems`` stat, which the command reads.

Settings (their values and reasons: ``crawler/settings.py``):
- ``REPORT_ENABLED``: whether the report is written and the verdict given
- ``REPORT_MAX_FAILURE_SHARE``: the largest share of failed records a good run
  has (0: any failed record breaks the run; e.g. ``0.01`` where the site
  always has some stale ids)
- ``REPORT_MIN_ITEMS``: the fewest items a good run produces (0: no minimum)
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
from crawler.run import run_dir

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

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
            "by_reason": ledger.failures_by_reason(stats),
        },
        "requests": stats.get("downloader/request_count", 0),
        "responses": stats.get("downloader/response_count", 0),
        "retries": stats.get("retry/count", 0),
        "responses_429": stats.get("downloader/response_status_count/429", 0),
        "records_per_second": round(records / duration, 1) if duration else None,
        "peak_memory_bytes": stats.get("memusage/max"),
    }


def problems_of(report: dict[str, Any], max_failure_share: float, min_items: int) -> list[str]:
    """Why this run is broken, one sentence each; empty for a good run."""
    problems = []
    if report["finish_reason"] != "finished":
        problems.append(f"the run stopped early ({report['finish_reason']})")
    items = report["items"]
    records = sum(items["scraped"].values()) + sum(items["rejected"].values())
    failures = report["failures"]["count"]
    if failures:
        share = failures / (records + failures)
        if share > max_failure_share:
            problems.append(
                f"{failures} records failed ({share:.1%} of {records + failures}, "
                f"more than the {max_failure_share:.1%} allowed)"
            )
    scraped = sum(items["scraped"].values())
    if scraped < min_items:
        problems.append(f"{scraped} items, fewer than the {min_items} required")
    return problems


class RunReport:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("REPORT_ENABLED", defaults.REPORT_ENABLED):
            raise NotConfigured("REPORT_ENABLED is off")
        self.crawler = crawler
        self.max_failure_share = settings.getfloat(
            "REPORT_MAX_FAILURE_SHARE", defaults.REPORT_MAX_FAILURE_SHARE
        )
        self.min_items = settings.getint("REPORT_MIN_ITEMS", defaults.REPORT_MIN_ITEMS)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RunReport:
        return cls(crawler)

    def spider_closed(self, spider: Any, reason: str) -> None:
        stats = self.crawler.stats
        values = dict(stats.get_stats())
        values.setdefault("finish_reason", reason)
        values.setdefault("finish_time", datetime.now(UTC))
        values["memusage/max"] = max(values.get("memusage/max") or 0, peak_rss_bytes())
        report = build_report(values, spider.name, spider.run_id)
        problems = problems_of(report, self.max_failure_share, self.min_items)
        report["problems"] = problems
        stats.set_value("run/problems", problems)
        path = run_dir(spider) / "report.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        items = report["items"]
        logger.info(
            "Run %s/%s: %s scraped%s, %s rejected, %d failed, %d requests (%d retries, "
            "%d answered 429) in %.1f s, %s records/s, peak memory %.0f MB. Report: %s",
            spider.name,
            spider.run_id,
            ", ".join(f"{n} {t}" for t, n in items["scraped"].items()) or "nothing",
            "".join(f", {n} {t} stored" for t, n in items["stored"].items()),
            sum(items["rejected"].values()),
            report["failures"]["count"],
            report["requests"],
            report["retries"],
            report["responses_429"],
            report["duration_seconds"] or 0.0,
            report["records_per_second"],
            (report["peak_memory_bytes"] or 0) / 2**20,
            path,
        )
        if problems:
            logger.error(
                "Run %s/%s is broken: %s.", spider.name, spider.run_id, "; ".join(problems)
            )
