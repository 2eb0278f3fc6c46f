"""``scrapy runs``: the last runs, read from the run folders
(``<OUTPUT_DIR>/<spider>/<run_id>/``), newest first.

Each run: its spider, run id, start, duration, finish reason, verdict
(``good``, ``broken``, or ``unfinished`` for a folder without a report: a run
still going, or killed), its valid / rejected / failed records and the path of
its report (``report.json``, :mod:`crawler.extensions.report`).

Options: ``--spider NAME`` (that spider's runs only), ``--limit N`` (20; 0:
all), ``--json`` (a JSON array of the same fields, for scripts).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import orjson
from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

if TYPE_CHECKING:
    import argparse


def _sum(counts: Any) -> int:
    return sum(counts.values()) if isinstance(counts, dict) else 0


def read_run(folder: Path) -> dict[str, Any]:
    """The summary of one run folder (its report, when it has one)."""
    path = folder / "report.json"
    report: dict[str, Any] = {}
    try:
        loaded = orjson.loads(path.read_bytes())
        report = loaded if isinstance(loaded, dict) else {}
    except (OSError, orjson.JSONDecodeError):
        pass
    if not report:
        stamp = datetime.fromtimestamp(folder.stat().st_mtime, UTC)
        return {
            "spider": folder.parent.name,
            "run_id": folder.name,
            "started_at": None,
            "duration_seconds": None,
            "finish_reason": None,
            "verdict": "unfinished",
            "valid": None,
            "rejected": None,
            "failed": None,
            "report": None,
            "_sort": stamp.isoformat(),
        }
    items = report.get("items") or {}
    failures = report.get("failures") or {}
    return {
        "spider": report.get("spider") or folder.parent.name,
        "run_id": report.get("run_id") or folder.name,
        "started_at": report.get("started_at"),
        "duration_seconds": report.get("duration_seconds"),
        "finish_reason": report.get("finish_reason"),
        "verdict": "broken" if report.get("problems") else "good",
        "valid": _sum(items.get("scraped")),
        "rejected": _sum(items.get("rejected")),
        "failed": failures.get("count", 0),
        "report": str(path),
        "_sort": str(report.get("started_at") or ""),
    }


def list_runs(output_dir: Path, spider: str | None = None, limit: int = 0) -> list[dict[str, Any]]:
    """The runs under ``output_dir``, newest first (by start; a folder without
    a report by its last change)."""
    spiders = [output_dir / spider] if spider else sorted(output_dir.glob("*"))
    runs = [
        read_run(folder)
        for base in spiders
        if base.is_dir()
        for folder in base.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
    ]
    runs.sort(key=lambda r: (r.pop("_sort"), r["run_id"]), reverse=True)
    return runs[:limit] if limit else runs


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m" if hours else f"{minutes} m {secs:02d} s"


def _start(value: str | None) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def table(runs: list[dict[str, Any]]) -> str:
    """The runs as an aligned text table (start in UTC)."""
    header = (
        "started (UTC)",
        "duration",
        "spider",
        "run id",
        "finish",
        "verdict",
        "valid",
        "rejected",
        "failed",
        "report",
    )
    rows = [header] + [
        (
            _start(r["started_at"]),
            _duration(r["duration_seconds"]),
            r["spider"],
            r["run_id"],
            r["finish_reason"] or "-",
            r["verdict"],
            *("-" if r[k] is None else str(r[k]) for k in ("valid", "rejected", "failed")),
            r["report"] or "-",
        )
        for r in runs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in rows
    )


class Command(ScrapyCommand):
    requires_project = True
    default_settings: ClassVar[dict[str, Any]] = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return "[--spider NAME] [--limit N] [--json]"

    def short_desc(self) -> str:
        return "List the last runs from the run folders, newest first"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--spider", metavar="NAME", help="only this spider's runs")
        parser.add_argument(
            "--limit", type=int, default=20, metavar="N", help="at most N runs (default 20; 0: all)"
        )
        parser.add_argument("--json", action="store_true", help="a JSON array, for scripts")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if args:
            raise UsageError(f"scrapy runs takes no argument, got {args[0]!r}.", print_help=False)
        if opts.limit < 0:
            raise UsageError(f"--limit must be 0 or more, got {opts.limit}.", print_help=False)
        output_dir = Path(self.settings.get("OUTPUT_DIR") or ".").expanduser()
        runs = list_runs(output_dir, opts.spider, opts.limit)
        if opts.json:
            sys.stdout.write(orjson.dumps(runs, option=orjson.OPT_INDENT_2).decode() + "\n")
        elif runs:
            print(table(runs))
        else:
            where = output_dir / opts.spider if opts.spider else output_dir
            print(f"No runs in {where}.")
