"""The typed configuration of distributed crawling, the Redis keys of one
crawl, and the Redis clients.

Settings (their values and reasons: ``crawler/settings.py``, whose values are
also the defaults of settings objects that lack them, as in unit tests):

- ``DISTRIBUTED``: this process is one worker of a Redis-backed crawl;
- ``REDIS_URL`` (from the environment): the shared Redis; a password in it is
  never logged;
- ``DISTRIBUTED_CRAWL`` (from the environment): the name of the crawl the
  workers share (its keys are ``<spider>:<crawl>:*``);
- ``DISTRIBUTED_WORKER_ID``: this worker's name, unique; empty:
  ``<host>-<pid>`` (:func:`default_worker_id`);
- ``DISTRIBUTED_HEARTBEAT_SECONDS``: a worker silent this long is gone, and
  its requests in flight are queued again;
- ``DISTRIBUTED_ACK_SECONDS``: how often requests done are acknowledged
  (their items in the feeds and, with MongoDB, stored);
- ``DISTRIBUTED_POLL_SECONDS``: how often a worker without work looks at the
  shared queue;
- ``DISTRIBUTED_RATE_LIMIT``: requests per second to the site, all workers
  together (0: none); 429s lower it for all of them (``THROTTLE_429_*``, and
  ``AUTOTHROTTLE_MAX_DELAY`` for the lowest rate).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crawler import settings as defaults
from crawler.exceptions import DistributedConfigError
from crawler.redact import redact_url

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from scrapy.settings import BaseSettings

#: redis-py's defaults wait forever; a worker must notice a lost Redis
_CLIENT_OPTIONS: dict[str, Any] = {"socket_timeout": 30, "socket_connect_timeout": 10}


def default_worker_id() -> str:
    """This worker's name when ``DISTRIBUTED_WORKER_ID`` is empty."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class DistributedConfig:
    """The settings of distributed crawling, read once; a bad one raises
    :class:`~crawler.exceptions.DistributedConfigError` naming it."""

    enabled: bool
    redis_url: str
    crawl: str
    worker_id: str
    heartbeat: float
    ack_interval: float
    poll_interval: float
    rate_limit: float
    backoff: float
    window: float
    recovery: float
    max_delay: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> DistributedConfig:
        config = cls(
            enabled=settings.getbool("DISTRIBUTED"),
            redis_url=settings.get("REDIS_URL") or defaults.REDIS_URL,
            crawl=str(settings.get("DISTRIBUTED_CRAWL") or defaults.DISTRIBUTED_CRAWL),
            worker_id=str(settings.get("DISTRIBUTED_WORKER_ID") or default_worker_id()),
            heartbeat=settings.getfloat(
                "DISTRIBUTED_HEARTBEAT_SECONDS", defaults.DISTRIBUTED_HEARTBEAT_SECONDS
            ),
            ack_interval=settings.getfloat(
                "DISTRIBUTED_ACK_SECONDS", defaults.DISTRIBUTED_ACK_SECONDS
            ),
            poll_interval=settings.getfloat(
                "DISTRIBUTED_POLL_SECONDS", defaults.DISTRIBUTED_POLL_SECONDS
            ),
            rate_limit=settings.getfloat("DISTRIBUTED_RATE_LIMIT", defaults.DISTRIBUTED_RATE_LIMIT),
            backoff=settings.getfloat("THROTTLE_429_BACKOFF", defaults.THROTTLE_429_BACKOFF),
            window=settings.getfloat("THROTTLE_429_WINDOW", defaults.THROTTLE_429_WINDOW),
            recovery=settings.getfloat("THROTTLE_429_RECOVERY", defaults.THROTTLE_429_RECOVERY),
            max_delay=settings.getfloat("AUTOTHROTTLE_MAX_DELAY"),
        )
        config.check()
        return config

    def check(self) -> None:
        if urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise DistributedConfigError(
                f"REDIS_URL must be a redis://, rediss:// or unix:// URL, got "
                f"{redact_url(self.redis_url)!r}."
            )
        for name, value in (
            ("DISTRIBUTED_HEARTBEAT_SECONDS", self.heartbeat),
            ("DISTRIBUTED_ACK_SECONDS", self.ack_interval),
            ("DISTRIBUTED_POLL_SECONDS", self.poll_interval),
        ):
            if not value > 0:
                raise DistributedConfigError(f"{name} must be positive, got {value}.")
        if self.rate_limit < 0:
            raise DistributedConfigError(
                f"DISTRIBUTED_RATE_LIMIT must be 0 (none) or positive, got {self.rate_limit}."
            )
        if ":" in self.crawl or not self.crawl.strip():
            raise DistributedConfigError(
                f"DISTRIBUTED_CRAWL must be a non-empty name without ':', got {self.crawl!r}."
            )
        if not 0.0 < self.backoff < 1.0:
            raise DistributedConfigError(
                f"THROTTLE_429_BACKOFF must be between 0 and 1, got {self.backoff}."
            )

    def keys(self, spider_name: str) -> CrawlKeys:
        return CrawlKeys(f"{spider_name}:{self.crawl}")

    # redis-py is imported by a distributed crawl only: every `scrapy crawl`
    # reads this module (the crawl command's checks), and the import costs
    # ~40 ms of CPU per run
    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.redis_url, **_CLIENT_OPTIONS)

    def async_client(self) -> redis.asyncio.Redis:
        import redis.asyncio

        return redis.asyncio.Redis.from_url(self.redis_url, **_CLIENT_OPTIONS)


@dataclass(frozen=True, slots=True)
class CrawlKeys:
    """The Redis keys of one crawl: ``<spider>:<crawl>:<what>``."""

    prefix: str

    @property
    def queue(self) -> str:
        """Sorted set of serialised requests to do (scrapy-redis' PriorityQueue)."""
        return f"{self.prefix}:requests"

    @property
    def dupefilter(self) -> str:
        """Set of the fingerprints of every request ever queued."""
        return f"{self.prefix}:dupefilter"

    @property
    def workers(self) -> str:
        """Set of the ids of the workers that may hold requests."""
        return f"{self.prefix}:workers"

    @property
    def seed(self) -> str:
        """The id of the worker seeding the crawl, or ``done``."""
        return f"{self.prefix}:seed"

    @property
    def rate(self) -> str:
        """Hash of the shared rate limit's state."""
        return f"{self.prefix}:rate"

    def alive(self, worker: str) -> str:
        """The worker's heartbeat (expires when the worker stops beating)."""
        return f"{self.prefix}:alive:{worker}"

    def processing(self, worker: str) -> str:
        """Hash of the requests the worker took and has not acknowledged."""
        return f"{self.prefix}:processing:{worker}"
