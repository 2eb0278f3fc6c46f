"""Waiting on a state the test can observe (a count, a log line, a file), never on the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T],
    timeout: float = 60.0,
    what: str = "the condition",
    interval: float = 0.02,
) -> T:
    """Call ``probe`` until it returns a true value, and return that value;
    AssertionError after ``timeout`` seconds (a bound for a stuck test, never
    a measure of the machine's speed)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
