"""MongoUpsertPipeline: items upserted into MongoDB in batches, off the reactor thread.

On when ``MONGO_URI`` is set. Each item becomes an upsert keyed by its natural
id (:func:`crawler.mongo.documents.upsert`); upserts are buffered and written with
one unordered ``bulk_write`` per collection when ``MONGO_BATCH_SIZE`` are
buffered, when the oldest has waited ``MONGO_FLUSH_SECONDS``, and at close.
``bulk_write`` runs in a worker thread; while one batch is being written the
next one fills, and when it is full ``process_item`` waits: a slow or absent
server slows the crawl down instead of growing memory (at most about two
batches are held).

At open the collections get their indexes and a ``$jsonSchema`` validator
(:mod:`crawler.mongo.collections`), idempotently; what the server refuses (no rights,
no support) is a WARNING, and the run goes on. That first contact is tried
once, not through the retry budget (which is for outages during a crawl): a
server that cannot be reached within ``MONGO_TIMEOUT_SECONDS`` closes the
spider (``mongo_unavailable``), credentials or rights refused close it at once
(``mongo_auth_failed``), each with one ERROR sentence
(:func:`crawler.mongo.config.open_problem`) and exit status 1.

The pipeline is listed in ``ITEM_PIPELINES`` by :class:`MongoAddon` (``ADDONS``)
only when ``MONGO_URI`` is set: a run without MongoDB logs nothing about it.

A batch that meets a connection error or a server shutting down is kept and
retried, the waits doubling from ``MONGO_RETRY_BACKOFF`` up to
``MONGO_RETRY_BACKOFF_MAX`` (``mongo/retries``); after ``MONGO_RETRY_TIMES``
retries it is given up (``mongo/failed_batches``) and each of its items is sent
as :data:`crawler.signals.record_failed` with reason ``mongo_unavailable``, so
it lands in the failures file and the run exits with status 1. A document the
server refuses (``mongo/write_errors/<code>``) is recorded the same way with
reason ``mongo_write_error_<code>`` and the server's message. Stored items are
counted under ``items/stored/<type>``.

Settings:
- ``MONGO_URI`` (default: the ``MONGO_URI`` environment variable; logged
  without its password)
- ``MONGO_DATABASE`` (default ``marketplace``)
- ``MONGO_BATCH_SIZE`` (500), ``MONGO_FLUSH_SECONDS`` (5)
- ``MONGO_RETRY_TIMES`` (6), ``MONGO_RETRY_BACKOFF`` (0.5 s),
  ``MONGO_RETRY_BACKOFF_MAX`` (30 s)
- ``MONGO_TIMEOUT_SECONDS`` (10: server selection and connect),
  ``MONGO_SOCKET_TIMEOUT_SECONDS`` (60: one write)
- ``MONGO_JOURNAL`` (true: write concern ``j``, stored means journaled)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, NamedTuple

from pymongo import MongoClient
from pymongo.errors import BulkWriteError
from scrapy.exceptions import NotConfigured

from crawler import ledger, signals
from crawler.exceptions import MongoUnavailable
from crawler.failures import record_failure
from crawler.items import item_type
from crawler.mongo.collections import setup_collections
from crawler.mongo.config import MongoConfig, is_transient, open_problem
from crawler.mongo.documents import upsert
from crawler.stopping import stopping

if TYPE_CHECKING:
    from pymongo import UpdateOne
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class Pending(NamedTuple):
    """A buffered upsert and what a failure record needs."""

    collection: str
    op: UpdateOne
    kind: str
    id: Any
    url: str | None


class MongoUpsertPipeline:
    def __init__(self, crawler: Crawler) -> None:
        config = MongoConfig.from_settings(crawler.settings)
        if config is None:
            raise NotConfigured("MONGO_URI is not set")
        self.crawler = crawler
        self.config = config
        self.client: MongoClient[Any] | None = None
        self._buffer: list[Pending] = []
        self._buffer_since = 0.0
        self._flushing: asyncio.Future[None] | None = None
        self._timer: asyncio.Task[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MongoUpsertPipeline:
        return cls(crawler)

    @property
    def stats(self) -> Any:
        return self.crawler.stats

    # -- life cycle ---------------------------------------------------------

    async def open_spider(self) -> None:
        config = self.config
        self.client = MongoClient(config.uri, **config.client_options())
        db = self.client[config.database]
        try:
            # once: a server that cannot be used now is a setup problem
            refused = await asyncio.to_thread(setup_collections, db)
        except Exception as exc:  # a boundary: any error at open is one sentence
            reason, sentence = open_problem(config, exc)
            await asyncio.to_thread(self.client.close)
            self.client = None
            raise stopping(self.crawler, reason, sentence) from exc
        for sentence in refused:
            logger.warning("MongoDB at %s refused %s; going on without it.", config.where, sentence)
        logger.info(
            "Upserting items into MongoDB at %s in batches of %d.", config.where, config.batch_size
        )
        self._timer = asyncio.ensure_future(self._flush_when_due())
        self.crawler.signals.send_catch_log(signals.storage_opened, name="mongodb")

    async def close_spider(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        while self._buffer or self._busy():
            if self._busy():
                await asyncio.shield(self._flushing)  # type: ignore[arg-type]
            else:
                self._start_flush()
        if self.client is not None:
            await asyncio.to_thread(self.client.close)

    # -- items --------------------------------------------------------------

    async def process_item(self, item: Any) -> Any:
        collection = getattr(type(item), "collection", None)
        if collection is None:
            return item
        if not self._buffer:
            self._buffer_since = time.monotonic()
        ident = getattr(item, type(item).key_field)
        url = getattr(item, "source_url", None)
        self._buffer.append(Pending(collection, upsert(item), item_type(item), ident, url))
        while len(self._buffer) >= self.config.batch_size:
            if self._busy():  # back-pressure: wait for the write in flight
                await asyncio.shield(self._flushing)  # type: ignore[arg-type]
            else:
                self._start_flush()
        return item

    def _busy(self) -> bool:
        return self._flushing is not None and not self._flushing.done()

    def _start_flush(self) -> None:
        batch, self._buffer = self._buffer, []
        self._flushing = asyncio.ensure_future(self._write_batch(batch))

    async def _flush_when_due(self) -> None:
        tick = min(self.config.flush_seconds, 1.0)
        while True:
            await asyncio.sleep(tick)
            due = time.monotonic() - self._buffer_since >= self.config.flush_seconds
            if self._buffer and due and not self._busy():
                self._start_flush()

    # -- writing ------------------------------------------------------------

    async def _write_batch(self, batch: list[Pending]) -> None:
        groups: dict[str, list[Pending]] = defaultdict(list)
        for pending in batch:
            groups[pending.collection].append(pending)
        for collection, entries in groups.items():
            await self._write_group(collection, entries)

    def _bulk_write(self, collection: str, ops: list[UpdateOne]) -> None:
        assert self.client is not None
        self.client[self.config.database][collection].bulk_write(ops, ordered=False)

    async def _write_group(self, collection: str, entries: list[Pending]) -> None:
        try:
            await self._write_entries(collection, entries)
        finally:
            # stored or listed as failed: every entry of the group is settled
            self.crawler.signals.send_catch_log(signals.items_settled, count=len(entries))

    async def _write_entries(self, collection: str, entries: list[Pending]) -> None:
        ops = [entry.op for entry in entries]
        what = f"write {len(ops)} documents to {collection}"
        try:
            await self._call(what, self._bulk_write, collection, ops)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            self._report_write_errors(collection, entries, errors)
            self.stats.inc_value("mongo/batches")
            self._count_stored(entries, len(entries) - len(errors))
            return
        except MongoUnavailable as exc:
            self._give_up(entries, "mongo_unavailable", str(exc))
            return
        except Exception as exc:  # a boundary: an error that is not retried fails the batch
            logger.exception("MongoDB at %s: could not %s.", self.config.where, what)
            self._give_up(entries, "mongo_error", f"{type(exc).__name__}: {exc}")
            return
        self.stats.inc_value("mongo/batches")
        self._count_stored(entries, len(entries))

    async def _call(self, what: str, func: Any, *args: Any) -> Any:
        """``func(*args)`` in a worker thread, retried with backoff while the
        error is transient. :class:`MongoUnavailable` when the retry budget is
        spent; other errors are raised as they come."""
        attempt = 0
        while True:
            try:
                return await asyncio.to_thread(func, *args)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                attempt += 1
                error = f"{type(exc).__name__}: {exc}"
                if attempt > self.config.retry_times:
                    raise MongoUnavailable(
                        f"could not {what} in {attempt} attempts: {error}"
                    ) from exc
                delay = self.config.backoff(attempt)
                self.stats.inc_value("mongo/retries")
                logger.warning(
                    "MongoDB at %s: could not %s (%s); retry %d of %d in %.1f s.",
                    self.config.where,
                    what,
                    error,
                    attempt,
                    self.config.retry_times,
                    delay,
                )
                await asyncio.sleep(delay)

    def _count_stored(self, entries: list[Pending], stored: int) -> None:
        if stored:
            ledger.count_stored(self.stats, entries[0].kind, stored)

    def _report_write_errors(
        self, collection: str, entries: list[Pending], errors: list[dict[str, Any]]
    ) -> None:
        for error in errors:
            entry = entries[error["index"]]
            code = error.get("code", "unknown")
            message = str(error.get("errmsg", "no message"))
            if error.get("errInfo"):
                message = f"{message}: {error['errInfo']}"
            self.stats.inc_value(f"mongo/write_errors/{code}")
            logger.warning(
                "MongoDB refused %s %s in %s (code %s): %s",
                entry.kind,
                entry.id,
                collection,
                code,
                message,
            )
            self._record_failed(entry, f"mongo_write_error_{code}", message)

    def _give_up(self, entries: list[Pending], reason: str, message: str) -> None:
        self.stats.inc_value("mongo/failed_batches")
        logger.error(
            "MongoDB at %s: gave up %d %s documents (%s: %s); they are listed in the "
            "failures file.",
            self.config.where,
            len(entries),
            entries[0].collection,
            reason,
            message,
        )
        for entry in entries:
            self._record_failed(entry, reason, message)

    def _record_failed(self, entry: Pending, reason: str, message: str) -> None:
        record_failure(
            self.crawler,
            kind=entry.kind,
            record_id=entry.id,
            url=entry.url,
            reason=reason,
            message=message,
            attempts=self.config.retry_times + 1 if reason == "mongo_unavailable" else 1,
            log=False,  # logged per batch (_give_up) or per write error
        )


class MongoAddon:
    """Lists :class:`MongoUpsertPipeline` in ``ITEM_PIPELINES`` (at 300, after
    cleaning and validation) when ``MONGO_URI`` is set, and not otherwise: the
    pipeline would disable itself on every run without MongoDB, and Scrapy
    logs a WARNING for each component that does so with a reason. A pipeline
    listed by hand (``ITEM_PIPELINES``) is kept where it is."""

    priority = 300

    def update_settings(self, settings: Any) -> None:
        if not (settings.get("MONGO_URI") or "").strip():
            return
        settings.setdefault_in_component_priority_dict(
            "ITEM_PIPELINES", MongoUpsertPipeline, self.priority
        )
