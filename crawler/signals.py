"""Signals of this project, sent with ``crawler.signals.send_catch_log``.

Components talk through them instead of importing each other: the storage
pipeline announces itself and what it settled, and whoever needs to know when
a request's items are safe (:class:`crawler.settlement.Settlement`) listens.
"""

from __future__ import annotations

#: A record failed for good (a request out of retries, a 404 for a listed id,
#: a malformed body, a database batch out of retries). Arguments: ``kind``
#: (``product``, ``listing``, ``reviews``, ...), ``record_id`` (int or None),
#: ``url``, ``reason`` (short, machine-readable), ``message`` (one sentence),
#: ``attempts``. Sent by :func:`crawler.failures.record_failure`;
#: :class:`crawler.extensions.failures.FailuresLog` writes it to the run's
#: failures file and counts it.
record_failed = object()

#: A storage that acknowledges items is open: from now on an item counts as
#: safe only once the storage settled it (see :data:`items_settled`).
#: Argument: ``name`` (``mongodb``). Sent by
#: :class:`crawler.pipelines.mongo.MongoUpsertPipeline` at ``open_spider``.
storage_opened = object()

#: The storage settled ``count`` more items, in the order they were scraped:
#: stored (acknowledged by the server) or listed as failed. Argument:
#: ``count``. Sent once per batch written.
items_settled = object()
