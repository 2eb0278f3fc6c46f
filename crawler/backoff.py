"""Exponential backoff: the one formula behind every wait before a retry
(download retries, MongoDB batches, dashboard report pages)."""

from __future__ import annotations


def exponential_delay(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry number ``attempt`` (1, 2, ...): ``base``, doubling
    each time, at most ``cap``."""
    return float(min(cap, base * 2 ** (attempt - 1)))
