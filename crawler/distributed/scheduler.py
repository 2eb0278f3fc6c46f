"""DistributedScheduler: scrapy-redis' scheduler and duplicate filter, made
safe for workers that die and for Scrapy 2.19.

scrapy-redis 0.9.1 pops a request off the shared queue and forgets it: a worker
killed with requests in flight loses them for good (they are in the duplicate
filter, so nobody schedules them again). Its first worker to close also wipes
the queue unless ``SCHEDULER_PERSIST``. This subclass keeps scrapy-redis'
queue layout (:class:`scrapy_redis.queue.PriorityQueue`, pickled requests) and
duplicate filter (:class:`scrapy_redis.dupefilter.RFPDupeFilter`), persists
always, and changes how requests move (:mod:`crawler.distributed.frontier`):

- a request taken by a worker moves, in one step, into the worker's
  processing hash (eight at a time: one round trip); the worker acknowledges
  it (removes it) once it is done: its callback ran, what it yielded is
  queued, and its items are in the feed files (flushed) and, with MongoDB on,
  stored. Every ``DISTRIBUTED_ACK_SECONDS``;
- the requests a callback yields go to Redis together, before the next
  request is taken and before any acknowledgement;
- every worker renews a heartbeat and, in the same beat, puts back into the
  queue what workers whose heartbeat expired held: a worker SIGKILLed loses
  nothing, its requests are done again by the others (or by a new worker);
- a worker closes only when the whole crawl is done: the seed is done, the
  queue is empty and no other worker holds a request (``spider_idle``);
  meanwhile it looks at the queue every ``DISTRIBUTED_POLL_SECONDS``;
- a worker that closes (finished, Ctrl-C, CloseSpider) puts back what it did
  not finish;
- each worker writes its feeds into a folder of its own:
  ``<OUTPUT_DIR>/<spider>/<run_id>-<worker id>/``.

Stats: ``distributed/acked``, ``distributed/requeued`` (requests of gone
workers this worker put back), ``distributed/returned`` (its own, at close),
``distributed/heartbeat_lost``, ``scheduler/enqueued/redis``,
``scheduler/dequeued/redis``, ``dupefilter/filtered``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

import redis
from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy_redis import picklecompat
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from crawler.distributed.config import DistributedConfig
from crawler.distributed.frontier import Frontier
from crawler.redact import redact_url
from crawler.settlement import Settlement
from crawler.stopping import stopping

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

_NONCE = 8  # random bytes before each queued request: no two entries are equal
#: requests taken from Redis at once (one round trip); they wait in this worker
_POP_BATCH = 8


class ReliableQueue(PriorityQueue):
    """scrapy-redis' priority queue whose pop hands the request to a worker
    (:meth:`Frontier.pop`) instead of deleting it."""

    def __init__(self, server: Any, spider: Spider, key: str, frontier: Frontier) -> None:
        super().__init__(server, spider, key, serializer=picklecompat)
        self.frontier = frontier

    def _encode_request(self, request: Request) -> bytes:
        return os.urandom(_NONCE) + super()._encode_request(request)

    def _decode_request(self, encoded_request: bytes) -> Request:
        return super()._decode_request(encoded_request[_NONCE:])

    def push_many(self, requests: list[tuple[Request, str | None]]) -> list[bool]:
        """Queue requests with their fingerprints (``None``: not filtered)."""
        return self.frontier.push(
            [(self._encode_request(r), -r.priority, fp) for r, fp in requests]
        )

    def pop_many(self, count: int) -> list[tuple[bytes, Request]]:
        return [(entry, self._decode_request(entry)) for entry in self.frontier.pop(count)]


class DistributedScheduler(Scheduler):
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.config = config = DistributedConfig.from_settings(crawler.settings)
        spider = crawler.spider
        assert spider is not None
        server = config.client()  # connects on first use, in open()
        #: whether open() reached Redis (close() has nothing to hand back otherwise)
        self.opened = False
        self.unreachable = ""
        self.keys = config.keys(spider.name)
        self.frontier = Frontier(server, self.keys, config.worker_id, config.heartbeat)
        dupefilter = RFPDupeFilter(
            server, key=self.keys.dupefilter, debug=crawler.settings.getbool("DUPEFILTER_DEBUG")
        )
        super().__init__(
            server=server,
            persist=True,
            queue_key=self.keys.queue,
            dupefilter=dupefilter,
            dupefilter_key=self.keys.dupefilter,
            serializer=picklecompat,
        )
        self.stats = crawler.stats
        self.fingerprint = crawler.request_fingerprinter.fingerprint
        #: requests scheduled but not queued yet (retries waiting out their backoff)
        self.scheduling: weakref.WeakSet[Request] = weakref.WeakSet()
        #: requests this worker took and has not acknowledged, by Redis entry
        self.settlement: Settlement[bytes] = Settlement(crawler, busy=lambda: self.scheduling)
        #: requests yielded, sent to Redis together (before the next pop or ack)
        self.outbox: list[tuple[Request, str | None]] = []
        #: requests taken from Redis (in this worker's hash), not handed out yet
        self.inbox: deque[tuple[bytes, Request]] = deque()
        self.starved = False
        self.tasks: list[asyncio.Task[None]] = []
        crawler.signals.connect(self.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DistributedScheduler:
        return cls(crawler)

    # -- life cycle ----------------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        try:
            self.server.ping()
        except redis.RedisError as exc:
            # stopped from spider_opened, once the rest has opened (a CloseSpider
            # raised here would leave the scraper unopened, and its close failing)
            self.unreachable = (
                f"Redis at {redact_url(self.config.redis_url)} cannot be reached "
                f"({str(exc).rstrip('.') or type(exc).__name__}); check REDIS_URL and that "
                "the server is up."
            )
            self.crawler.signals.connect(self._stop_unreachable, signal=signals.spider_opened)
            return
        self.opened = True
        self.queue = ReliableQueue(self.server, spider, self.queue_key, self.frontier)
        self.frontier.join()
        requeued = self.frontier.requeue_dead()
        if requeued:
            self.stats.inc_value("distributed/requeued", requeued)
        logger.info(
            "Worker %s of crawl %s on Redis %s: %d requests queued.",
            self.config.worker_id,
            self.keys.prefix,
            redact_url(self.config.redis_url),
            self.frontier.queued(),
        )
        self.tasks = [
            asyncio.ensure_future(self._every(self.config.heartbeat / 3, self.beat)),
            asyncio.ensure_future(self._every(self.config.ack_interval, self.checkpoint)),
            asyncio.ensure_future(self._every(self.config.poll_interval, self.poll)),
        ]

    def _stop_unreachable(self) -> None:
        raise stopping(self.crawler, "redis_unavailable", self.unreachable)

    def close(self, reason: str) -> None:
        if not self.opened:
            self.server.close()
            return
        for task in self.tasks:
            task.cancel()
        # the scraper has closed: pipelines flushed (MongoDB's last batch stored)
        self.flush()
        self.settlement.settle()
        self._ack(self.settlement.done())
        returned = self.frontier.leave()
        if returned:
            self.stats.inc_value("distributed/returned", returned)
            logger.info(
                "Worker %s put %d unfinished requests back into the queue.",
                self.config.worker_id,
                returned,
            )
        self.server.close()

    async def _every(self, interval: float, step: Any) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = step()
                if asyncio.iscoroutine(result):
                    await result
            except redis.RedisError:  # a boundary: the next round tries again
                logger.warning("Redis error in %s; trying again.", step.__name__, exc_info=True)

    # -- the queue -------------------------------------------------------------

    def request_scheduled(self, request: Request) -> None:
        self.scheduling.add(request)

    def enqueue_request(self, request: Request) -> bool:
        """Hold the request for the next round trip to Redis: the requests a
        callback yields go together. A duplicate is known only then, so this
        always says queued (no ``request_dropped`` signal for duplicates); the
        duplicates are counted and logged."""
        self.scheduling.discard(request)
        fingerprint = None if request.dont_filter else self.df.request_fingerprint(request)
        self.outbox.append((request, fingerprint))
        return True

    def flush(self) -> None:
        """Send the held requests to Redis (overrides scrapy-redis' flush, which
        wipes the queue: this scheduler never does)."""
        if not self.outbox:
            return
        outbox, self.outbox = self.outbox, []
        for (request, _), queued in zip(outbox, self.queue.push_many(outbox), strict=True):
            if queued:
                self.stats.inc_value("scheduler/enqueued/redis")
            else:
                self.df.log(request, self.spider)
                self.stats.inc_value("dupefilter/filtered")

    def next_request(self) -> Request | None:
        self.flush()
        if not self.inbox:
            self.inbox.extend(self.queue.pop_many(_POP_BATCH))
        if not self.inbox:
            self.starved = True
            return None
        self.starved = False
        entry, request = self.inbox.popleft()
        self.settlement.hold(entry, self.fingerprint(request))
        self.stats.inc_value("scheduler/dequeued/redis")
        return request

    def has_pending_requests(self) -> bool:
        return bool(self.inbox or self.outbox) or len(self.queue) > 0

    # -- the other workers -------------------------------------------------------

    def beat(self) -> None:
        if not self.frontier.beat():
            # taken for gone (a stall longer than the heartbeat): what it holds
            # is done again by others; duplicates, nothing lost
            self.stats.inc_value("distributed/heartbeat_lost")
            logger.warning(
                "Worker %s missed its heartbeat; its requests were queued again.",
                self.config.worker_id,
            )
        requeued = self.frontier.requeue_dead()
        if requeued:
            self.stats.inc_value("distributed/requeued", requeued)
            logger.info("Put %d requests of gone workers back into the queue.", requeued)

    def poll(self) -> None:
        """Ask the engine for requests again while this worker has none:
        other workers queue requests at any time."""
        slot = getattr(self.crawler.engine, "_slot", None)  # no public hook for this
        if self.starved and slot is not None:
            slot.nextcall.schedule()

    def spider_idle(self) -> None:
        self.beat()
        status = self.frontier.status()
        if not status.complete:
            raise DontCloseSpider

    # -- acknowledgements ------------------------------------------------------------

    def _ack(self, done: list[bytes]) -> int:
        self.frontier.ack(done)
        if done:
            self.stats.inc_value("distributed/acked", len(done))
        return len(done)

    async def checkpoint(self) -> int:
        """Acknowledge the requests done; return how many."""
        self.flush()  # what they yielded is queued before they are acknowledged
        return self._ack(await self.settlement.checkpoint())
