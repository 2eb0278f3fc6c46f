"""The shared frontier in Redis: every change is one Lua script, so that a
worker killed at any moment leaves each request in exactly one place.

- the queue (``<prefix>:requests``): scrapy-redis' PriorityQueue layout, a
  sorted set of serialised requests scored by ``-priority``;
- the duplicate filter (``<prefix>:dupefilter``): a set of fingerprints. A
  request is added to it and queued in one step: a kill between the two
  cannot leave a request "seen" but never queued;
- per worker, the requests it took (``<prefix>:processing:<worker>``, a hash of
  request to score): :meth:`Frontier.pop` moves a request from the queue into
  it in one step; :meth:`Frontier.ack` removes requests done;
- per worker, a heartbeat (``<prefix>:alive:<worker>``) with a time to live.
  :meth:`Frontier.requeue_dead` puts the requests of a worker whose heartbeat
  expired back into the queue (any worker runs it).

The scripts touch keys derived from the prefix, so they need one Redis server,
not a Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis

    from crawler.distributed.config import CrawlKeys

# KEYS: queue, dupefilter. ARGV: fingerprint ("" = do not filter), score, request.
_PUSH = """
if ARGV[1] ~= '' and redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return 1
"""

# KEYS: queue, processing. ARGV: how many. The first requests of the queue,
# moved to processing.
_POP = """
local first = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local taken = {}
if #first == 0 then
  return taken
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #first / 2 - 1)
for i = 1, #first, 2 do
  redis.call('HSET', KEYS[2], first[i], first[i + 1])
  taken[#taken + 1] = first[i]
end
return taken
"""

# KEYS: workers, queue. ARGV: prefix, ids of workers to give up ("" = the dead ones).
# Every request a gone worker took goes back to the queue; the worker is forgotten.
_REQUEUE = """
local ids = {}
if #ARGV > 1 then
  for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    if redis.call('EXISTS', ARGV[1] .. ':alive:' .. id) == 0 then ids[#ids + 1] = id end
  end
end
local moved = 0
for _, id in ipairs(ids) do
  local processing = ARGV[1] .. ':processing:' .. id
  local entries = redis.call('HGETALL', processing)
  for i = 1, #entries, 2 do
    redis.call('ZADD', KEYS[2], entries[i + 1], entries[i])
    moved = moved + 1
  end
  redis.call('DEL', processing, ARGV[1] .. ':alive:' .. id)
  redis.call('SREM', KEYS[1], id)
end
return moved
"""

# KEYS: workers, queue, seed. ARGV: prefix, this worker.
# {queued requests, requests other workers hold, seed state}
_STATUS = """
local others = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id ~= ARGV[2] then
    others = others + redis.call('HLEN', ARGV[1] .. ':processing:' .. id)
  end
end
return {redis.call('ZCARD', KEYS[2]), others, redis.call('GET', KEYS[3]) or ''}
"""


@dataclass(frozen=True, slots=True)
class CrawlStatus:
    queued: int
    #: requests that other workers took and have not acknowledged
    held_by_others: int
    #: ``done``, the id of the worker seeding, or empty (not started)
    seed: str

    @property
    def complete(self) -> bool:
        return self.seed == "done" and not self.queued and not self.held_by_others


class Frontier:
    """The Redis side of one worker of one crawl (synchronous client: the
    Scrapy scheduler's interface is synchronous)."""

    def __init__(self, server: redis.Redis, keys: CrawlKeys, worker: str, heartbeat: float):
        self.server = server
        self.keys = keys
        self.worker = worker
        self.heartbeat_ms = max(1, int(heartbeat * 1000))
        self.processing = keys.processing(worker)
        self._push = server.register_script(_PUSH)
        self._pop = server.register_script(_POP)
        self._requeue = server.register_script(_REQUEUE)
        self._status = server.register_script(_STATUS)

    def join(self) -> None:
        """Register this worker and beat once."""
        with self.server.pipeline() as pipe:
            pipe.sadd(self.keys.workers, self.worker)
            pipe.set(self.keys.alive(self.worker), b"1", px=self.heartbeat_ms)
            pipe.execute()

    def beat(self) -> bool:
        """Renew the heartbeat; ``False`` when it had expired meanwhile (the
        worker was taken for gone and its requests queued again)."""
        with self.server.pipeline() as pipe:
            pipe.set(self.keys.alive(self.worker), b"1", px=self.heartbeat_ms, get=True)
            pipe.sadd(self.keys.workers, self.worker)
            previous, _ = pipe.execute()
        return previous is not None

    def leave(self) -> int:
        """Queue again what this worker still holds and forget it; return how
        many requests went back."""
        return int(
            self._requeue(
                keys=[self.keys.workers, self.keys.queue], args=[self.keys.prefix, self.worker]
            )
        )

    def push(self, requests: list[tuple[bytes, float, str | None]]) -> list[bool]:
        """Queue requests ``(data, score, fingerprint)`` (one round trip), each
        unless its fingerprint was seen; whether each was queued."""
        keys = [self.keys.queue, self.keys.dupefilter]
        with self.server.pipeline(transaction=False) as pipe:
            for data, score, fingerprint in requests:
                self._push(keys=keys, args=[fingerprint or "", repr(score), data], client=pipe)
            return [bool(queued) for queued in pipe.execute()]

    def pop(self, count: int) -> list[bytes]:
        """Take up to ``count`` requests from the queue's head into this worker's hands."""
        return list(self._pop(keys=[self.keys.queue, self.processing], args=[count]))

    def ack(self, entries: list[bytes]) -> None:
        if entries:
            self.server.hdel(self.processing, *entries)

    def requeue_dead(self) -> int:
        """Queue again the requests of workers whose heartbeat expired."""
        return int(
            self._requeue(keys=[self.keys.workers, self.keys.queue], args=[self.keys.prefix])
        )

    def status(self) -> CrawlStatus:
        queued, others, seed = self._status(
            keys=[self.keys.workers, self.keys.queue, self.keys.seed],
            args=[self.keys.prefix, self.worker],
        )
        return CrawlStatus(int(queued), int(others), seed.decode() if seed else "")

    def queued(self) -> int:
        return int(self.server.zcard(self.keys.queue))
