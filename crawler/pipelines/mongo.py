"""MongoUpsertPipeline: items upserted into MongoDB in batches, through PyMongo's async client.

On when ``MONGO_URI`` is set. Each item becomes an upsert keyed by its natural
id (:func:`crawler.mongo.documents.upsert`); upserts are buffered and written with
one unordered ``bulk_write`` per collection when ``MONGO_BATCH_SIZE`` are
buffered, when the oldest has waited ``MONGO_FLUSH_SECONDS``, and at close.
The client is :class:`pymongo.AsyncMongoClient`: every read and write is
awaited on the crawl's event loop (Scrapy's asyncio reactor), no worker
thread. While one batch is being written the next one fills, and when it is
full ``process_item`` waits: a slow or absent server slows the crawl down
instead of growing memory (at most about two batches are held).

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

Products are tracked (:mod:`crawler.mongo.history`): each batch of products is
compared with the collection (one read per batch); a product whose
``TRACK_FIELDS`` changed gets a ``product_history`` row (written before the
product) and ``changed_at``; every product keeps ``price_min``/``price_max``;
the rows inserted are also written to ``changes-00001.jsonl`` in the run folder
(``CHANGES_FILE``). A spider that walked every listing of its categories
(``complete_walk()``) has the products of those categories it did not see
marked withdrawn at close; a spider with a ``state_key`` has its run in
``crawl_state``, advanced only by a run that finished with no failed record.
Counts: ``tracking/<new|changed|changed/<field>|unchanged|relisted|withdrawn>``.

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
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import orjson
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError
from scrapy import signals as scrapy_signals
from scrapy.exceptions import NotConfigured

from crawler import ledger, signals
from crawler import settings as defaults
from crawler.exceptions import MongoUnavailable
from crawler.failures import record_failure
from crawler.items import Product, item_type
from crawler.mongo import history
from crawler.mongo.collections import ensure_collections
from crawler.mongo.config import MongoConfig, is_transient, open_problem
from crawler.mongo.documents import document_fields, upsert
from crawler.run import run_dir
from crawler.stopping import stopping

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from pymongo import UpdateOne
    from pymongo.asynchronous.database import AsyncDatabase
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class Pending(NamedTuple):
    """A buffered upsert and what a failure record needs."""

    collection: str
    op: UpdateOne | None
    kind: str
    id: Any
    url: str | None
    #: a tracked product: its ``$set`` fields and seen-at (the op is planned at write)
    doc: tuple[dict[str, Any], datetime] | None = None


class MongoUpsertPipeline:
    def __init__(self, crawler: Crawler) -> None:
        config = MongoConfig.from_settings(crawler.settings)
        if config is None:
            raise NotConfigured("MONGO_URI is not set")
        self.crawler = crawler
        self.config = config
        self.client: AsyncMongoClient[Any] | None = None
        self._buffer: list[Pending] = []
        self._buffer_since = 0.0
        self._flushing: asyncio.Future[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self.tracked = tuple(crawler.settings.getlist("TRACK_FIELDS", defaults.TRACK_FIELDS))
        self.changes_path_setting: str = crawler.settings.get("CHANGES_FILE") or ""
        self._changes: IO[bytes] | None = None
        self.run_id = ""
        self.state_key: str | None = None
        self.detail_time = False
        self.started_at = datetime.now(UTC)
        crawler.signals.connect(self._spider_closed, signal=scrapy_signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MongoUpsertPipeline:
        return cls(crawler)

    @property
    def stats(self) -> Any:
        return self.crawler.stats

    # -- life cycle ---------------------------------------------------------

    async def open_spider(self) -> None:
        config = self.config
        self.client = self._connect()
        db = self.client[config.database]
        try:
            # once: a server that cannot be used now is a setup problem
            refused = await ensure_collections(db)
        except Exception as exc:  # a boundary: any error at open is one sentence
            reason, sentence = open_problem(config, exc)
            await self.client.close()
            self.client = None
            raise stopping(self.crawler, reason, sentence) from exc
        for sentence in refused:
            logger.warning("MongoDB at %s refused %s; going on without it.", config.where, sentence)
        spider = self.crawler.spider
        self.run_id = str(getattr(spider, "run_id", "") or "")
        self.state_key = getattr(spider, "state_key", None)
        self.detail_time = bool(getattr(spider, "refreshes_details", False))
        if self.state_key:
            self.started_at = await self._call(
                "read crawl_state",
                history.begin_run,
                db,
                self.state_key,
                self.run_id,
                datetime.now(UTC),
            )
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
        await self._delist()
        if self._changes is not None:
            self._changes.close()
            self._changes = None
        if self.client is not None:
            await self.client.close()
            self.client = None

    def _connect(self) -> AsyncMongoClient[Any]:
        """A client (it connects at its first operation, on the running loop)."""
        return AsyncMongoClient(self.config.uri, **self.config.client_options())

    async def _delist(self) -> None:
        """Mark withdrawn what a complete listing walk did not see."""
        spider = self.crawler.spider
        complete_walk = getattr(spider, "complete_walk", None)
        categories = complete_walk() if callable(complete_walk) else None
        if not categories or self.client is None:
            return
        if self.stats.get_value("mongo/failed_batches"):
            return  # products not written: what was seen is not all in the collection
        db = self.client[self.config.database]
        try:
            rows = await self._call(
                "mark withdrawn products",
                history.delist,
                db,
                list(categories),
                self.started_at,
                self.run_id,
                datetime.now(UTC),
            )
        except Exception as exc:  # a boundary: the next complete walk marks them
            logger.error(
                "MongoDB at %s: could not mark withdrawn products (%s).", self.config.where, exc
            )
            self.stats.inc_value("mongo/failed_batches")
            return
        if rows:
            self.stats.inc_value(ledger.TRACKING + "withdrawn", len(rows))
            self.stats.inc_value(ledger.TRACKING + "history_rows", len(rows))
            self._write_changes(rows)
        logger.info("Marked %d products withdrawn (not listed any more).", len(rows))

    async def _spider_closed(self, reason: str) -> None:
        """A complete run (finished, no failed record) advances ``crawl_state``."""
        if not self.state_key or reason != "finished":
            return
        if ledger.troubles(self.stats.get_stats()):
            return
        config = self.config
        client = self._connect()  # the pipeline's own is closed by now
        try:
            await history.complete_run(
                client[config.database],
                self.state_key or "",
                self.run_id,
                self.started_at,
                datetime.now(UTC),
            )
        except Exception as exc:  # a boundary: the state stays behind, never ahead
            logger.error("MongoDB at %s: could not advance crawl_state (%s).", config.where, exc)
        finally:
            await client.close()

    def _write_changes(self, records: list[dict[str, Any]]) -> None:
        spider = self.crawler.spider
        folder = self.run_id and self.crawler.settings.get("OUTPUT_DIR")
        if self._changes is None and not self.changes_path_setting and not folder:
            return  # no run folder (a pipeline driven without a spider of ours)
        if self._changes is None:
            path = (
                Path(self.changes_path_setting)
                if self.changes_path_setting
                else run_dir(spider) / "changes-00001.jsonl"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            self._changes = path.open("ab")
            logger.info("Changes are listed in %s", path)
        for record in records:
            self._changes.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self._changes.flush()

    # -- items --------------------------------------------------------------

    async def process_item(self, item: Any) -> Any:
        collection = getattr(type(item), "collection", None)
        if collection is None:
            return item
        if not self._buffer:
            self._buffer_since = time.monotonic()
        ident = getattr(item, type(item).key_field)
        url = getattr(item, "source_url", None)
        if type(item) is Product:
            _, fields, seen = document_fields(item)
            pending = Pending(collection, None, "product", ident, url, (fields, seen))
        else:
            pending = Pending(collection, upsert(item), item_type(item), ident, url)
        self._buffer.append(pending)
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

    def _db(self) -> AsyncDatabase[Any]:
        assert self.client is not None
        return self.client[self.config.database]

    async def _bulk_write(self, collection: str, ops: list[UpdateOne]) -> None:
        await self._db()[collection].bulk_write(ops, ordered=False)

    async def _read_existing(self, ids: list[Any]) -> dict[Any, dict[str, Any]]:
        """The stored state of a batch's products: one read per batch."""
        products = self._db()[Product.collection]
        cursor = products.find({"_id": {"$in": ids}}, history.projection(self.tracked))
        return {doc["_id"]: doc async for doc in cursor}

    async def _write_history(self, ops: list[UpdateOne]) -> set[Any]:
        """Insert the batch's history rows; the ids of those not there already."""
        result = await self._db()[history.HISTORY].bulk_write(ops, ordered=False)
        return set((result.upserted_ids or {}).values())

    async def _plan(self, collection: str, entries: list[Pending]) -> list[UpdateOne]:
        """The ops of a group; for tracked products, read, compare and write history first."""
        seen_only = sum(entry.kind == "productseen" for entry in entries)
        if seen_only:  # seen in a listing, unchanged: only last_seen_at moves
            self.stats.inc_value(ledger.TRACKING + "unchanged", seen_only)
        tracked = [entry for entry in entries if entry.doc is not None]
        if not tracked:
            return [entry.op for entry in entries if entry.op is not None]
        ids = [entry.id for entry in tracked]
        # the read is the first step of writing the group: its failure is the write's
        existing = await self._call(
            f"write {len(entries)} documents to {collection}", self._read_existing, ids
        )
        planned = history.Planned()
        ops: list[UpdateOne] = []
        for entry in entries:
            if entry.doc is None:
                assert entry.op is not None
                ops.append(entry.op)
                continue
            fields, seen = entry.doc
            history.plan_product(
                planned,
                entry.id,
                fields,
                seen,
                existing.get(entry.id),
                self.tracked,
                self.run_id,
                self.detail_time,
            )
            ops.append(planned.ops[-1])
        if planned.history:
            inserted = await self._call(
                f"write {len(planned.history)} documents to {history.HISTORY}",
                self._write_history,
                planned.history,
            )
            rows = [planned.records[key] for key in planned.records if key in inserted]
            if rows:
                self.stats.inc_value(ledger.TRACKING + "history_rows", len(rows))
                self._write_changes(rows)
        for name, count in planned.counts.items():
            if count:
                self.stats.inc_value(ledger.TRACKING + name, count)
        return ops

    async def _write_group(self, collection: str, entries: list[Pending]) -> None:
        try:
            await self._write_entries(collection, entries)
        finally:
            # stored or listed as failed: every entry of the group is settled
            self.crawler.signals.send_catch_log(signals.items_settled, count=len(entries))

    async def _write_entries(self, collection: str, entries: list[Pending]) -> None:
        what = f"write {len(entries)} documents to {collection}"
        try:
            ops = await self._plan(collection, entries)
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

    async def _call(self, what: str, func: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``await func(*args)``, retried with backoff while the error is
        transient. :class:`MongoUnavailable` when the retry budget is spent;
        other errors are raised as they come."""
        attempt = 0
        while True:
            try:
                return await func(*args)
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
        if not stored:
            return
        kinds = Counter(entry.kind for entry in entries)
        if len(kinds) == 1:
            ledger.count_stored(self.stats, entries[0].kind, stored)
            return
        failed = len(entries) - stored  # write errors: counted off the records' kind
        for kind, count in kinds.items():
            if kind == "product":
                count = max(0, count - failed)
            if count:
                ledger.count_stored(self.stats, kind, count)

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
