"""The crawler's own errors.

Every error a user may see names the record or argument concerned and what was
wrong with it, in one sentence.
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class of every error raised by this project."""


class SpiderArgumentError(CrawlerError):
    """Raised by :mod:`crawler.args` while a spider's ``-a`` arguments are parsed,
    before any request.

    The ``crawl`` command turns it into one line on stderr and exit status 2.
    """


class ExtractionError(CrawlerError):
    """Raised by :mod:`crawler.extract.api` when a response body is not the shape
    the API documents (not JSON, not an object, no id). The spider records the
    request as failed with this message as the reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        #: short machine-readable reason, used in stats keys and failure records
        self.reason = reason


class MongoUnavailable(CrawlerError):
    """Raised by :meth:`crawler.pipelines.mongo.MongoUpsertPipeline._call` when the server stayed
    unreachable through the retry budget; the message is the last error."""


class LoginError(CrawlerError):
    """Raised by the dashboard spider's sign-in (:mod:`crawler.spiders.dashboard`) when the
    dashboard refuses the credentials or the form cannot be sent; the message names neither
    credential. The spider logs it once and closes with ``login_failed``."""


class ChunkError(CrawlerError):
    """Raised while the dashboard spider (:mod:`crawler.spiders.dashboard`) reads a chunk that
    cannot be read (a table that keeps failing, a session that keeps expiring, a table that is
    not the report's layout); the spider records the chunk as failed."""

    def __init__(self, reason: str, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        #: short machine-readable reason, used in stats keys and failure records
        self.reason = reason
        self.attempts = attempts


class DistributedConfigError(CrawlerError):
    """Raised by :meth:`crawler.distributed.config.DistributedConfig.from_settings` for a bad
    setting (the message names it)."""


class ReportConfigError(CrawlerError):
    """Raised by :func:`crawler.extensions.report.read_limits` for a ``REPORT_*``
    setting that is not a number (the message names it); the ``crawl`` command
    turns it into one line on stderr and exit status 2, before the crawl."""


class ScrapydError(CrawlerError):
    """Raised by :class:`crawler.scrapyd.daily.ScrapydApi` when Scrapyd cannot be reached, refuses
    the credentials or answers an error, and by :class:`crawler.scrapyd.daily.DailyRun` when a
    job it follows disappears from ``listjobs.json``."""


class DailyConfigError(CrawlerError):
    """Raised by :meth:`crawler.scrapyd.daily.DailyConfig.from_args` for a bad option or
    environment variable; the message names it."""
