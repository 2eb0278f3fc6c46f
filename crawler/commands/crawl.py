"""``scrapy crawl``, as Scrapy's, plus:

- spider arguments, and settings that cannot go together (``DISTRIBUTED``
  with ``JOBDIR``, a bad ``DISTRIBUTED_*`` value), are checked before the crawl
  starts: a problem is one sentence on stderr and exit status 2, not a
  traceback;
- the exit status tells the run's outcome, for cron, Scrapyd and CI users:
  0 for a good run, 1 for a broken one: the run report's verdict
  (:mod:`crawler.extensions.report`: stopped early, failed records that mean
  trouble, nothing stored; a listed id that answers 404 is a withdrawn product,
  never trouble). The table of statuses: docs/output.md.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from scrapy.commands import crawl
from scrapy.exceptions import UsageError

from crawler import ledger
from crawler.distributed.addon import check_settings
from crawler.exceptions import DistributedConfigError, ReportConfigError, SpiderArgumentError
from crawler.extensions.report import read_limits
from crawler.spiders.base import PARSED_ARGUMENTS

if TYPE_CHECKING:
    import argparse


def exit_status(stats: dict[str, Any]) -> int:
    """0 for a good run, 1 for a broken one."""
    if "run/problems" in stats:  # the run report's verdict
        return 1 if stats["run/problems"] else 0
    if stats.get("finish_reason") != "finished":
        return 1
    # without the report (REPORT_ENABLED off): any failure that means trouble
    return 1 if ledger.troubles(stats) else 0


class Command(crawl.Command):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)
            return
        assert self.crawler_process is not None
        try:
            spidercls = self.crawler_process.spider_loader.load(args[0])
        except KeyError:
            raise UsageError(f"Spider not found: {args[0]}", print_help=False) from None
        assert self.settings is not None
        try:
            check_settings(self.settings)
            read_limits(self.settings)
        except (DistributedConfigError, ReportConfigError) as exc:
            print(f"Error: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        spargs = dict(opts.spargs)
        parse = getattr(spidercls, "parse_arguments", None)
        if parse is not None:
            try:
                # parsed once, here: the spider gets them as they are
                spargs[PARSED_ARGUMENTS] = parse(opts.spargs, self.settings)
            except SpiderArgumentError as exc:
                print(f"Error: {exc}", file=sys.stderr)
                self.exitcode = 2
                return
        crawler = self._create_crawler(spidercls)
        self.crawler_process.crawl(crawler, **spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif crawler.stats is not None:
            self.exitcode = exit_status(crawler.stats.get_stats())
