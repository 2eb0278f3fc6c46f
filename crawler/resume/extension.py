"""ResumeJournal: the extension that keeps a JOBDIR job's journal and resumes
the job from it (the overview is in :mod:`crawler.resume`)."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from scrapy import signals
from scrapy.exceptions import CloseSpider, IgnoreRequest, NotConfigured
from scrapy.utils.job import job_dir
from scrapy.utils.request import request_from_dict

from crawler import ledger
from crawler.resume.journal import JOURNAL, JobState, frame, read_records
from crawler.resume.outputs import keep_done_records, repair_feeds
from crawler.settlement import Settlement

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)


class ResumeJournal:
    def __init__(self, crawler: Crawler) -> None:
        jobdir = job_dir(crawler.settings)
        if not jobdir:
            raise NotConfigured  # the normal case: no WARNING for it
        self.crawler = crawler
        self.jobdir = Path(jobdir)
        self.path = self.jobdir / JOURNAL
        self.interval = crawler.settings.getfloat("RESUME_CHECKPOINT_SECONDS", 2.0)
        self.fingerprint = crawler.request_fingerprinter.fingerprint
        # one of ours (crawler.spiders.base.MarketplaceSpider): run_id names its run folder
        spider: Any = crawler.spider
        assert spider is not None
        data = self.path.read_bytes() if self.path.exists() else b""
        self.past = JobState.replay(read_records(data)[0])
        #: the spider of the job, when the JOBDIR holds one of another spider
        self.mismatch = self.past.other_spider(spider.name)
        #: fingerprints done, or scheduled again, by earlier runs of the job
        self.known = set(self.past.done) | set(self.past.pending)
        self.carried: list[dict[str, Any]] = []
        if self.past.resumed_by(spider.name):
            # the run id is the journal's (crawler.run.resolve_run_id reads it)
            logger.info("Resuming job %s: run id %s.", jobdir, spider.run_id)
            # the feeds' files continued (the batch files numbered after theirs),
            # the failures and rejects of requests done kept
            spider.feed_batch_offset = repair_feeds(spider, crawler.settings)
            self.carried = keep_done_records(spider, crawler.settings, set(self.past.done.values()))
            shutil.rmtree(self.jobdir / "requests.queue", ignore_errors=True)
        self.past.run_id, self.past.spider = spider.run_id, spider.name
        self.fd = -1 if self.mismatch else self._rewrite(self.past)
        #: per fingerprint scheduled in this run: times scheduled, and its URL
        self.generation: dict[bytes, int] = {}
        self.urls: dict[bytes, str] = {}
        #: fingerprints that left the scheduler, with their generation then
        self.settlement: Settlement[tuple[bytes, int]] = Settlement(crawler)
        self.task: asyncio.Task[None] | None = None
        for handler, signal in (
            (self.spider_opened, signals.spider_opened),
            (self.spider_closed, signals.spider_closed),
            (self.request_scheduled, signals.request_scheduled),
            (self.request_received, signals.request_reached_downloader),
            (self.request_received, signals.response_received),
        ):
            crawler.signals.connect(handler, signal=signal)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @property
    def stats(self) -> StatsCollector:
        return self.crawler.stats

    # -- start --------------------------------------------------------------

    def _rewrite(self, state: JobState) -> int:
        """Write the state as a compact journal (atomically); open it to append."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as handle:
            handle.writelines(frame(r) for r in state.records())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def spider_opened(self, spider: Spider) -> None:
        if self.mismatch:
            logger.error(
                "JOBDIR %s holds a job of the %s spider, not of %s.",
                self.jobdir,
                self.mismatch,
                spider.name,
            )
            raise CloseSpider("jobdir_mismatch")
        engine = self.crawler.engine
        for record in self.carried:
            ledger.count_failure(self.stats, str(record.get("kind")), str(record.get("reason")))
        if self.carried:
            self.stats.set_value("resume/failures_carried", len(self.carried))
        for request_dict in self.past.pending.values():
            request = request_from_dict(request_dict, spider=spider)
            request.dont_filter = True
            engine.crawl(request)
        if self.past.pending or self.past.done:
            self.stats.set_value("resume/requeued", len(self.past.pending))
            logger.info(
                "Resuming job %s: %d requests done, %d scheduled again, %d failures kept.",
                self.jobdir,
                len(self.past.done),
                len(self.past.pending),
                len(self.carried),
            )
        self.task = asyncio.ensure_future(self._checkpoints())

    # -- the crawl ------------------------------------------------------------

    def request_scheduled(self, request: Request, spider: Spider) -> None:
        if self.fd < 0:
            return
        fp = self.fingerprint(request)
        if not request.dont_filter:
            if fp in self.known:
                self.stats.inc_value("resume/known_skipped")
                raise IgnoreRequest("done, or scheduled again, by an earlier run of the job")
            if fp in self.generation:
                return  # the duplicate filter drops it
        try:
            record = frame(("S", fp, request.to_dict(spider=spider)))
        except (ValueError, TypeError, AttributeError, pickle.PicklingError) as exc:
            self.stats.inc_value("resume/unserializable")
            logger.warning("Resume: cannot journal %s (%s): a kill would lose it.", request, exc)
            return
        os.write(self.fd, record)
        self.generation[fp] = self.generation.get(fp, 0) + 1
        self.urls[fp] = request.url

    def request_received(self, request: Request) -> None:
        fp = self.fingerprint(request)
        if fp in self.generation:
            self.settlement.hold((fp, self.generation[fp]), fp)

    # -- checkpoints ------------------------------------------------------------

    async def _checkpoints(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.checkpoint()
            except Exception:  # a boundary: a missed checkpoint only means more to redo
                logger.exception("Resume: the checkpoint failed; the next one tries again.")

    async def checkpoint(self) -> int:
        """Journal the requests done; return how many."""
        done = [
            (fp, self.urls[fp])
            for fp, generation in await self.settlement.checkpoint()
            if self.generation.get(fp) == generation  # not scheduled again since
        ]
        if done:
            os.write(self.fd, frame(("D", done)))
            self.stats.inc_value("resume/done", len(done))
        logger.debug(
            "Resume checkpoint: %d requests done, %d wait (%s items settled).",
            len(done),
            self.settlement.pending(),
            self.settlement.settled(),
        )
        return len(done)

    async def spider_closed(self, reason: str) -> None:
        if self.fd < 0:
            return
        if self.task is not None:
            self.task.cancel()
        await self.checkpoint()
        os.close(self.fd)
        self.fd = -1
        if reason != "finished":
            logger.info("Job %s stopped (%s): the same command resumes it.", self.jobdir, reason)
