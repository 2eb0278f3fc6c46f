"""The dashboard's reports: their columns and their rows, a pure function of
(seed, report, day). :func:`report_rows` is both what the pages show and the
ground truth (:func:`truth_rows`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sim.util import mix
from sim.words import SELLERS

_SALT_ORDERS, _SALT_TRAFFIC = 0xD0, 0xD1

#: report -> [(column key, header label, type)]; the first two columns make a row's key
REPORTS: dict[str, list[tuple[str, str, str]]] = {
    "orders": [
        ("day", "Date", "date"),
        ("seller_id", "Seller ID", "int"),
        ("seller", "Seller", "text"),
        ("orders", "Orders", "int"),
        ("units", "Units", "int"),
        ("revenue", "Revenue", "money"),
        ("refund_rate", "Refund rate", "percent"),
    ],
    "traffic": [
        ("day", "Date", "date"),
        ("channel", "Channel", "text"),
        ("sessions", "Sessions", "int"),
        ("orders", "Orders", "int"),
        ("conversion_rate", "Conversion rate", "percent"),
    ],
}
CHANNELS = ["Direct", "Organic search", "Paid search", "Social", "Email", "Referral"]


def report_rows(seed: int, report: str, day: date) -> list[dict[str, Any]]:
    """The rows of one day of a report, in table order (keyed by their first two columns)."""
    n = day.toordinal()
    rows: list[dict[str, Any]] = []
    if report == "orders":
        for i, name in enumerate(SELLERS):
            h = mix(seed, _SALT_ORDERS, n, i)
            if h % 100 >= 45:  # a seller sells on ~45% of days
                continue
            orders = 1 + (h >> 8) % 180
            units = orders + (h >> 16) % (orders * 2)
            revenue = units * (19_000 + ((h >> 24) % 400) * 5_000)
            rows.append(
                {
                    "day": day,
                    "seller_id": 101 + i,
                    "seller": name,
                    "orders": orders,
                    "units": units,
                    "revenue": revenue,
                    "refund_rate": ((h >> 40) % 150) / 10,
                }
            )
    elif report == "traffic":
        for i, channel in enumerate(CHANNELS):
            h = mix(seed, _SALT_TRAFFIC, n, i)
            if i == 4 and day.weekday() >= 5:  # no e-mail campaigns at weekends
                continue
            sessions = 200 + h % 30_000
            orders = (h >> 20) % max(1, sessions // 25)
            rows.append(
                {
                    "day": day,
                    "channel": channel,
                    "sessions": sessions,
                    "orders": orders,
                    "conversion_rate": round(100 * orders / sessions, 1),
                }
            )
    return rows


def range_rows(seed: int, report: str, start: date, end: date) -> list[dict[str, Any]]:
    days = (end - start).days + 1
    return [row for k in range(days) for row in report_rows(seed, report, start + timedelta(k))]


def truth_rows(seed: int, report: str, start: date, end: date) -> list[dict[str, Any]]:
    """Ground truth: `{"key": "<day>:<second column>", "day", "values"}` per row."""
    key_column = REPORTS[report][1][0]
    return [
        {
            "key": f"{row['day'].isoformat()}:{row[key_column]}",
            "day": row["day"].isoformat(),
            "values": {k: v for k, v in row.items() if k != "day"},
        }
        for row in range_rows(seed, report, start, end)
    ]
