"""The crawler's own errors.

Every error a user may see names the record or argument concerned and what was
wrong with it, in one sentence.
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class of every error raised by this project."""


class SpiderArgumentError(CrawlerError):
    """Raised while a spider's ``-a`` arguments are parsed, before any request.

    The ``crawl`` command turns it into one line on stderr and exit status 2.
    """


class ExtractionError(CrawlerError):
    """Raised by :mod:`crawler.extract` when a response body is not the shape
    the API documents (not JSON, not an object, no id). The spider records the
    request as failed with this message as the reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        #: short machine-readable reason, used in stats keys and failure records
        self.reason = reason
