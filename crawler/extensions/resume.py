"""ResumeJournal: a JOBDIR job resumes exactly after Ctrl-C, SIGTERM or SIGKILL.

Scrapy's JOBDIR keeps the scheduler's queue and the seen fingerprints, but the
queue's state is written only at a clean stop and requests in flight are in
neither (scrapy#2399): a killed job loses them for good (they are "seen"), and
a resumed run appends to the batch files it already wrote, after a torn last
line. With ``JOBDIR`` set, this extension keeps ``<JOBDIR>/resume.journal``,
an append-only log written with one unbuffered ``write`` per record (each
length-prefixed and checksummed; a record cut by a kill is dropped):

- ``S``: a request was scheduled (its fingerprint and the request), written
  before the scheduler and its duplicate filter see it;
- ``D``: requests are done: their callbacks ran, what they yielded is
  scheduled (so in the journal), and their items are stored: every
  ``RESUME_CHECKPOINT_SECONDS`` the feed files are flushed and, with MongoDB
  on, the requests wait until the items scraped before them are settled by
  the storage (:class:`crawler.settlement.Settlement`, which listens to the
  storage's signals).

A job whose journal exists resumes:

- with the journal's run id, so its files stay in one run folder;
- Scrapy's queue (``requests.queue``) is discarded and every request scheduled
  and not done is scheduled again (``dont_filter``): queued, in flight, or a
  retry waiting at the stop. A request of the job done or scheduled again is
  not scheduled a second time when the spider yields it again (``start()``
  runs again; a listing page done again yields its products again);
- each feed loses a line cut short by the kill; an item whose key the feed
  holds already is not written again (``resume/feed_skipped/<feed>``); new
  batch files are numbered after the existing ones. Only local JSON Lines
  feeds that are appended to are continued: one given with ``-O`` or in
  another format holds this run's items only (a WARNING says so);
- the failures and rejects files keep the records of requests that are done;
  the others are made again, or recovered, by this run. The failures kept are
  counted in this run's stats, so the exit status reflects the whole job.

Settings: ``JOBDIR`` (Scrapy's; off without it), ``RESUME_CHECKPOINT_SECONDS``
(2). Stats: ``resume/requeued``, ``resume/known_skipped``, ``resume/done``,
``resume/feed_skipped/<feed>``, ``resume/failures_carried``,
``resume/unserializable``.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import pickle
import re
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from scrapy import signals
from scrapy.exceptions import CloseSpider, IgnoreRequest, NotConfigured
from scrapy.utils.conf import feed_complete_default_values_from_settings
from scrapy.utils.job import job_dir
from scrapy.utils.misc import load_object
from scrapy.utils.request import request_from_dict

from crawler.run import run_dir
from crawler.settlement import Settlement, feed_exporter

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_FRAME = struct.Struct(">II")  # payload length, CRC-32 of the payload
_BATCH_ID = re.compile(r"%\(batch_id\)[-#0 +]*\d*d")
_BATCH, _ANY = "\x00", "\x01"  # stand-ins while a feed URI template is filled in
#: feed formats whose files a resumed run continues
_LINES_FORMATS = frozenset({"jsonlines", "jl"})


# -- the journal file -------------------------------------------------------------


def frame(record: tuple[Any, ...]) -> bytes:
    payload = pickle.dumps(record, protocol=4)
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def read_records(data: bytes) -> tuple[list[tuple[Any, ...]], int]:
    """The records of a journal, and the length of its intact part."""
    records, pos = [], 0
    while pos + _FRAME.size <= len(data):
        size, crc = _FRAME.unpack_from(data, pos)
        payload = data[pos + _FRAME.size : pos + _FRAME.size + size]
        if len(payload) < size or zlib.crc32(payload) != crc:
            break
        records.append(pickle.loads(payload))  # our own file, as Scrapy's queues
        pos += _FRAME.size + size
    return records, pos


@dataclass
class JobState:
    """What a journal says: the run, the requests to do and the ones done."""

    run_id: str | None = None
    spider: str | None = None
    pending: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    done: dict[bytes, str] = field(default_factory=dict)

    @classmethod
    def replay(cls, records: list[tuple[Any, ...]]) -> JobState:
        state = cls()
        for record in records:
            if record[0] == "run":
                state.run_id, state.spider = record[1]["run_id"], record[1]["spider"]
            elif record[0] == "S":
                state.pending[record[1]] = record[2]
                state.done.pop(record[1], None)
            elif record[0] == "D":
                for fp, url in record[1]:
                    state.pending.pop(fp, None)
                    state.done[fp] = url
        return state

    def records(self) -> Iterator[tuple[Any, ...]]:
        """The same state as a compact journal."""
        yield ("run", {"run_id": self.run_id, "spider": self.spider})
        if self.done:
            yield ("D", list(self.done.items()))
        for fp, request in self.pending.items():
            yield ("S", fp, request)


# -- the run's files ----------------------------------------------------------------


def cut_torn_line(path: Path) -> int:
    """Truncate a JSON Lines file after its last complete line; bytes cut."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with path.open("r+b") as handle:
            handle.truncate(keep)
    return len(data) - keep


def keep_lines(path: Path, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Rewrite a JSON Lines file with the records ``keep`` accepts (a torn
    last line is dropped); return them."""
    kept = []
    for line in path.read_bytes().split(b"\n"):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if keep(record):
            kept.append(record)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in kept))
    os.replace(tmp, path)
    return kept


def feed_files(template: str, uri_params: dict[str, Any]) -> tuple[list[Path], re.Pattern[str]]:
    """The local files a feed URI template has produced, and a pattern whose
    group 1 is a file's batch number."""
    marked = _BATCH_ID.sub("%(_batch)s", template)
    marked = marked.replace("%(batch_time)s", "%(_any)s").replace("%(time)s", "%(_any)s")
    path = marked % {**uri_params, "_batch": _BATCH, "_any": _ANY}
    path = path.removeprefix("file://")
    if "://" in path:  # remote storage: not resumable here
        return [], re.compile(r"(?!)")
    pattern = re.compile(re.escape(path).replace(_BATCH, r"(\d+)").replace(_ANY, ".*") + r"\Z")
    found = glob.glob(glob.escape(path).replace(_BATCH, "*").replace(_ANY, "*"))
    return sorted(Path(p) for p in found if pattern.match(p)), pattern


class KnownKeysFilter:
    """A feed's item filter that also refuses items the feed holds already."""

    def __init__(self, inner: Any, key_field: str, keys: set[Any], on_skip: Callable[[], None]):
        self.inner, self.key_field, self.keys, self.on_skip = inner, key_field, keys, on_skip

    def accepts(self, item: Any) -> bool:
        if not self.inner.accepts(item):
            return False
        if getattr(item, self.key_field, None) in self.keys:
            self.on_skip()
            return False
        return True


# -- the extension --------------------------------------------------------------------


class ResumeJournal:
    def __init__(self, crawler: Crawler) -> None:
        jobdir = job_dir(crawler.settings)
        if not jobdir:
            raise NotConfigured("no JOBDIR")
        self.crawler = crawler
        self.jobdir = Path(jobdir)
        self.path = self.jobdir / "resume.journal"
        self.interval = crawler.settings.getfloat("RESUME_CHECKPOINT_SECONDS", 2.0)
        self.fingerprint = crawler.request_fingerprinter.fingerprint
        spider = crawler.spider
        assert spider is not None
        data = self.path.read_bytes() if self.path.exists() else b""
        self.past = JobState.replay(read_records(data)[0])
        #: the spider of the job, when the JOBDIR holds one of another spider
        self.mismatch = self.past.spider if self.past.spider not in (None, spider.name) else None
        #: fingerprints done, or scheduled again, by earlier runs of the job
        self.known = set(self.past.done) | set(self.past.pending)
        self.feed_keys: dict[str, tuple[str, set[Any]]] = {}
        self.carried: list[dict[str, Any]] = []
        if self.past.run_id and not self.mismatch:
            if spider.run_id != self.past.run_id:
                logger.info("Resuming job %s: run id %s.", jobdir, self.past.run_id)
            spider.run_id = self.past.run_id
            self._repair_outputs(spider)
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
    def from_crawler(cls, crawler: Crawler) -> ResumeJournal:
        return cls(crawler)

    @property
    def stats(self) -> Any:
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

    def _repair_outputs(self, spider: Spider) -> None:
        settings = self.crawler.settings
        # the parameters the feed exporter fills a URI template with
        params = {name: getattr(spider, name) for name in dir(spider)}
        params["batch_id"] = 1
        batches = [0]
        for template, options in settings.getdict("FEEDS").items():
            options = feed_complete_default_values_from_settings(options, settings, str(template))
            files, pattern = feed_files(
                str(template), load_object(options["uri_params"])(dict(params), spider)
            )
            if files and (options.get("overwrite") or options["format"] not in _LINES_FORMATS):
                # "-O" truncates the file when the run opens it, and a JSON array
                # or a CSV file cannot be continued after a kill
                logger.warning(
                    "Resume: the feed %s is not resumable (only JSON Lines feeds "
                    "that are appended to are); it holds the items of this run "
                    "only.",
                    template,
                )
                continue
            classes = [load_object(c) for c in options.get("item_classes") or ()]
            key_field = getattr(classes[0], "key_field", None) if len(classes) == 1 else None
            keys: set[Any] = set()
            for path in files:
                if cut_torn_line(path):
                    logger.info("Resume: cut a line torn by the stop from %s.", path)
                match = pattern.match(str(path))
                if match and match.groups():  # a template with %(batch_id)d
                    batches.append(int(match.group(1)))
                if key_field:
                    keys.update(
                        orjson.loads(line).get(key_field) for line in path.read_bytes().splitlines()
                    )
            if key_field:
                self.feed_keys[str(template)] = (key_field, keys)
        spider.feed_batch_offset = max(batches)  # type: ignore[attr-defined]
        done_urls = set(self.past.done.values())
        outputs = (("FAILURES_FILE", "failures.jsonl"), ("REJECTS_FILE", "rejects.jsonl"))
        for setting, name in outputs:
            path = Path(settings.get(setting) or run_dir(spider) / name)
            if path.exists():
                kept = keep_lines(path, lambda r: r.get("url") is None or r["url"] in done_urls)
                if name == "failures.jsonl":
                    self.carried = kept

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
        self._wrap_feed_filters()
        for record in self.carried:
            self.stats.inc_value("failures/count")
            self.stats.inc_value(f"failures/{record.get('kind')}/{record.get('reason')}")
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

    def _wrap_feed_filters(self) -> None:
        exporter = feed_exporter(self.crawler)
        if exporter is None:
            return
        for template, (key_field, keys) in self.feed_keys.items():
            if template not in exporter.filters or not keys:
                continue
            stat = f"resume/feed_skipped/{Path(template).stem.split('-')[0]}"
            wrapped = KnownKeysFilter(
                exporter.filters[template],
                key_field,
                keys,
                lambda stat=stat: self.stats.inc_value(stat),
            )
            exporter.filters[template] = wrapped
            for slot in exporter.slots:
                if slot.uri_template == template:
                    slot.filter = wrapped

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
