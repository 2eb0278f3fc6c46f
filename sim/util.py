"""Small deterministic helpers shared by the simulator modules."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, timezone

MASK64 = (1 << 64) - 1
VN_TZ = timezone(timedelta(hours=7))
# "Now" of the simulated world (2024-12-20 00:00 UTC): fixed so bodies are reproducible.
NOW = 1_734_652_800


def splitmix(x: int) -> int:
    """One splitmix64 step: a well-mixed 64-bit function of x."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def mix(*parts: int) -> int:
    """A 64-bit hash of a few ints: cheap, stable across processes and Python versions."""
    h = 0x243F6A8885A308D3
    for part in parts:
        h = splitmix(h ^ (part & MASK64))
    return h


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """ASCII url key: 'Điện thoại Samsung' -> 'dien-thoai-samsung'."""
    text = text.replace("đ", "d").replace("Đ", "D")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NON_ALNUM.sub("-", ascii_text.lower()).strip("-")


def vn_datetime(ts: int) -> str:
    """Unix seconds as Vietnam local time, 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromtimestamp(ts, VN_TZ).strftime("%Y-%m-%d %H:%M:%S")


def format_vnd(amount: int) -> str:
    """150000 -> '150.000 ₫'."""
    return f"{amount:,}".replace(",", ".") + " ₫"


def sold_text(value: int) -> str:
    """The `quantity_sold.text` of a count: 'Đã bán 57', 'Đã bán 1k+'."""
    return f"Đã bán {value}" if value < 1_000 else f"Đã bán {value // 1_000}k+"
