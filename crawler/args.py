"""Spider arguments (``-a name=value``): parsed and checked before any request.

Every problem raises :class:`SpiderArgumentError` with one sentence saying what
is wrong; the ``crawl`` command prints it and exits with status 2.
"""

from __future__ import annotations

import csv
import glob
import os
from pathlib import Path
from typing import Any

import orjson

from crawler.exceptions import SpiderArgumentError


def parse_id_list(value: Any, name: str) -> list[int]:
    """``"1,2, 3"`` (or a list, from the settings) as ``[1, 2, 3]``."""
    if value is None or value == "":
        return []
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    ids: list[int] = []
    for part in parts:
        text = str(part).strip()
        if not text:
            continue
        try:
            ident = int(text)
        except ValueError:
            raise SpiderArgumentError(
                f"{name}: {text!r} is not an id (expected whole numbers separated by commas)."
            ) from None
        if ident <= 0:
            raise SpiderArgumentError(f"{name}: {ident} is not a positive id.")
        ids.append(ident)
    return list(dict.fromkeys(ids))


def parse_positive_int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise SpiderArgumentError(f"{name}: {value!r} is not a whole number.") from None
    if number <= 0:
        raise SpiderArgumentError(f"{name}: must be at least 1, got {number}.")
    return number


def _id_of(raw: Any, path: Path, where: str) -> int:
    if isinstance(raw, bool):
        raw = None
    try:
        ident = int(str(raw).strip()) if raw is not None else None
    except ValueError:
        ident = None
    if ident is None or ident <= 0:
        raise SpiderArgumentError(f"ids_file {path}: {where}: {raw!r} is not a product id.")
    return ident


def _read_csv(path: Path, handle: Any) -> list[int]:
    reader = csv.DictReader(handle)
    if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
        raise SpiderArgumentError(
            f"ids_file {path}: the CSV header has no 'id' column "
            f"(columns: {', '.join(reader.fieldnames or []) or 'none'})."
        )
    return [
        _id_of({k.strip(): v for k, v in row.items() if k}.get("id"), path, f"line {n}")
        for n, row in enumerate(reader, start=2)
    ]


def _read_jsonl(path: Path, handle: Any, kind: str | None) -> list[int]:
    ids = []
    for n, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise SpiderArgumentError(f"ids_file {path}: line {n} is not valid JSON.") from None
        if not isinstance(record, dict) or "id" not in record:
            raise SpiderArgumentError(f"ids_file {path}: line {n} has no 'id' key.")
        if kind is not None and record.get("kind", kind) != kind:
            continue  # a failures file: another spider's or stage's record
        ids.append(_id_of(record["id"], path, f"line {n}"))
    return ids


def read_ids_file(value: Any, kind: str | None = None) -> list[int]:
    """Product ids from a CSV file with an ``id`` column or a JSON Lines file
    whose records have an ``id`` key (a products feed, or a failures file);
    duplicates are dropped, the order kept. A pattern with ``*`` reads every
    matching file, in name order (a feed written in batches). Records with a
    ``kind`` other than ``kind`` (a failures file's listing failures, say) are
    skipped."""
    text = str(value)
    if any(c in text for c in "*?["):
        paths = sorted(glob.glob(os.path.expanduser(text)))
        if not paths:
            raise SpiderArgumentError(f"ids_file {text}: no file matches.")
        return list(dict.fromkeys(i for p in paths for i in _read_one(Path(p), kind)))
    return list(dict.fromkeys(_read_one(Path(text).expanduser(), kind)))


def _read_one(path: Path, kind: str | None) -> list[int]:
    if not path.is_file():
        raise SpiderArgumentError(f"ids_file {path}: no such file.")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.read(1)
            handle.seek(0)
            if path.suffix.lower() == ".csv" or (first and first not in "{["):
                ids = _read_csv(path, handle)
            else:
                ids = _read_jsonl(path, handle, kind)
    except UnicodeDecodeError:
        raise SpiderArgumentError(f"ids_file {path}: not UTF-8 text.") from None
    except OSError as exc:
        raise SpiderArgumentError(f"ids_file {path}: cannot be read ({exc.strerror}).") from None
    if not ids:
        raise SpiderArgumentError(f"ids_file {path}: holds no ids.")
    return ids
