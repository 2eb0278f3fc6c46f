"""Signals of this project, sent with ``crawler.signals.send_catch_log``."""

from __future__ import annotations

#: A record failed for good (a request out of retries, a 404 for a listed id,
#: a malformed body, a database batch out of retries). Arguments: ``kind``
#: (``product``, ``listing``, ``reviews``, ...), ``record_id`` (int or None),
#: ``url``, ``reason`` (short, machine-readable), ``message`` (one sentence),
#: ``attempts``. :class:`crawler.extensions.failures.FailuresLog` writes it to
#: the run's failures file and counts it.
record_failed = object()
