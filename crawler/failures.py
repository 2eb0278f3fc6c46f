"""The failure taxonomy and the one way a record becomes "failed".

A record fails for good when its request is out of retries, its body is not
what the API documents, a listed id answers 404, or its storage gave up. Every
such record is sent as :data:`crawler.signals.record_failed` by
:func:`record_failure`, which the failures file
(:class:`crawler.extensions.failures.FailuresLog`) listens to. The reason is
short and machine-readable (:func:`failure_reason` for download errors), so
that stats keys, failure records and retry runs share it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import defer
from twisted.internet import error as tx_error

from crawler import ledger, signals

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: exception classes and the reason a failure record or a stat names them by
_REASONS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    (
        (
            DownloadTimeoutError,
            tx_error.TimeoutError,
            tx_error.TCPTimedOutError,
            defer.TimeoutError,
            TimeoutError,
        ),
        "timeout",
    ),
    ((DownloadConnectionRefusedError, tx_error.ConnectionRefusedError), "connection_refused"),
    ((CannotResolveHostError, tx_error.DNSLookupError), "dns_error"),
    ((ResponseDataLossError,), "data_loss"),
    ((DownloadFailedError, tx_error.ConnectionClosed, tx_error.ConnectError), "connection_lost"),
)


def failure_reason(exc: BaseException) -> str:
    """A short machine-readable name of a download failure: ``http_503``,
    ``timeout``, ``body_too_large``, ``connection_lost``, ... (failure records
    and retry stats use it)."""
    if isinstance(exc, HttpError):
        return f"http_{exc.response.status}"
    if isinstance(exc, DownloadCancelledError):
        return "body_too_large" if "max size" in str(exc) else "download_cancelled"
    for classes, reason in _REASONS:
        if isinstance(exc, classes):
            return reason
    if isinstance(exc, IgnoreRequest):
        return "ignored"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def record_failure(
    crawler: Crawler,
    *,
    kind: str,
    record_id: Any,
    url: str | None,
    reason: str,
    message: str,
    attempts: int = 1,
    log: bool = True,
) -> None:
    """Record a failed record: logged once (unless ``log`` is off, for a caller
    that logs a whole batch itself) and sent as
    :data:`crawler.signals.record_failed`. A withdrawn record (a listed id that
    answers 404, :data:`crawler.ledger.WITHDRAWN_REASONS`) is the site's
    answer, not trouble: one INFO line; any other failure is a WARNING."""
    if log and ledger.is_withdrawn(reason):
        logger.info("Withdrawn %s %s: %s.", kind, record_id or url, message)
    elif log:
        logger.warning("Failed %s %s: %s (%s)", kind, record_id or url, reason, message)
    crawler.signals.send_catch_log(
        signals.record_failed,
        kind=kind,
        record_id=record_id,
        url=url,
        reason=reason,
        message=message,
        attempts=attempts,
    )
