"""Spider arguments (``-a name=value``): parsed and checked before any request.

Every problem raises :class:`SpiderArgumentError` with one sentence saying what
is wrong; the ``crawl`` command prints it and exits with status 2.
"""

from __future__ import annotations

import csv
import glob
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import orjson

from crawler.exceptions import SpiderArgumentError
from crawler.extract.dashboard import REPORTS

#: the dashboard's credentials: environment variables only, never arguments
USERNAME_ENV = "DASHBOARD_USERNAME"
PASSWORD_ENV = "DASHBOARD_PASSWORD"


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


def jsonl_records(path: Path, lines: Iterable[str | bytes], what: str) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` of a JSON Lines file given as arguments (an
    ids file, a chunks file); blank lines skipped, a line that is not JSON is
    one sentence naming the file and the line."""
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield n, orjson.loads(line)
        except orjson.JSONDecodeError:
            raise SpiderArgumentError(f"{what} {path}: line {n} is not valid JSON.") from None


#: failure records a retry run of a kind also reads: a failed image (its ``id``
#: is its product's) is fetched again with its product or its reviews, whose
#: images that are stored already count as up to date (crawler/pipelines/images.py)
RETRIED_ALONG: defaultdict[str, tuple[str, ...]] = defaultdict(
    tuple, {"product": ("image",), "reviews": ("image",)}
)


def _read_jsonl(path: Path, handle: Any, kind: str | None) -> list[int]:
    ids = []
    for n, record in jsonl_records(path, handle, "ids_file"):
        if not isinstance(record, dict) or "id" not in record:
            raise SpiderArgumentError(f"ids_file {path}: line {n} has no 'id' key.")
        if kind is not None and record.get("kind", kind) not in (kind, *RETRIED_ALONG[kind]):
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


# -- the dashboard spider's arguments -----------------------------------------


@dataclass(frozen=True, order=True)
class Chunk:
    """One date range of one report: what the spider filters, reads and records."""

    report: str
    start: date
    end: date

    @property
    def label(self) -> str:
        """``orders:2026-08-01..2026-08-03``: the failures file's ``id``."""
        return f"{self.report}:{self.start.isoformat()}..{self.end.isoformat()}"

    @classmethod
    def from_label(cls, text: str) -> Chunk:
        match = re.fullmatch(r"([a-z_]+):(\d{4}-\d\d-\d\d)\.\.(\d{4}-\d\d-\d\d)", text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a chunk (report:YYYY-MM-DD..YYYY-MM-DD)")
        start, end = date.fromisoformat(match[2]), date.fromisoformat(match[3])
        if end < start:
            raise ValueError(f"{text!r} ends before it starts")
        return cls(match[1], start, end)


def date_chunks(start: date, end: date, days: int) -> list[tuple[date, date]]:
    """``start..end`` (both included) cut into ranges of ``days`` days; the last
    one may be shorter."""
    chunks = []
    first = start
    while first <= end:
        last = min(first + timedelta(days=days - 1), end)
        chunks.append((first, last))
        first = last + timedelta(days=1)
    return chunks


def _date_arg(value: Any, name: str) -> date:
    if value is None or str(value).strip() == "":
        raise SpiderArgumentError(f"{name}: missing; pass -a {name}=YYYY-MM-DD.")
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise SpiderArgumentError(f"{name}: {value!r} is not a YYYY-MM-DD date.") from None


def _report_arg(value: Any) -> str:
    report = str(value or "").strip()
    if report not in REPORTS:
        raise SpiderArgumentError(
            f"report: {report!r} is not a dashboard report (known: {', '.join(REPORTS)})."
            if report
            else f"report: missing; pass -a report=NAME (known: {', '.join(REPORTS)})."
        )
    return report


def read_chunks_file(value: Any) -> list[Chunk]:
    """The chunks of a failures file's ``dashboard_chunk`` records (other kinds
    are skipped), in file order, without duplicates."""
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise SpiderArgumentError(f"chunks_file {path}: no such file.")
    chunks: list[Chunk] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise SpiderArgumentError(f"chunks_file {path}: cannot be read ({exc.strerror}).") from None
    for n, record in jsonl_records(path, lines, "chunks_file"):
        if not isinstance(record, dict) or record.get("kind") != "dashboard_chunk":
            continue
        try:
            chunk = Chunk.from_label(str(record.get("id")))
        except ValueError as exc:
            raise SpiderArgumentError(f"chunks_file {path}: line {n}: {exc}.") from None
        if chunk.report not in REPORTS:
            raise SpiderArgumentError(
                f"chunks_file {path}: line {n}: unknown report {chunk.report!r}."
            )
        chunks.append(chunk)
    if not chunks:
        raise SpiderArgumentError(f"chunks_file {path}: holds no dashboard_chunk records.")
    return list(dict.fromkeys(chunks))


@dataclass(frozen=True)
class DashboardArgs:
    """The dashboard spider's ``-a`` arguments, checked."""

    NAMES: ClassVar[tuple[str, ...]] = (
        "report",
        "start",
        "end",
        "chunk_days",
        "parallel",
        "chunks_file",
    )
    chunks: tuple[Chunk, ...]
    #: browser pages at a time
    parallel: int = 1

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], max_chunk_days: int = 31) -> DashboardArgs:
        for secret in ("username", "user", "password"):
            if secret in kwargs:
                raise SpiderArgumentError(
                    f"{secret}: credentials are read from the {USERNAME_ENV} and "
                    f"{PASSWORD_ENV} environment variables only, never from arguments."
                )
        check_names("dashboard", kwargs, cls.NAMES)
        parallel = parse_positive_int(kwargs.get("parallel"), "parallel", 1)
        if kwargs.get("chunks_file"):
            extra = [k for k in ("report", "start", "end", "chunk_days") if kwargs.get(k)]
            if extra:
                raise SpiderArgumentError(
                    f"chunks_file replaces report, start, end and chunk_days: "
                    f"pass it without {', '.join(extra)}."
                )
            return cls(tuple(read_chunks_file(kwargs["chunks_file"])), parallel)
        report = _report_arg(kwargs.get("report"))
        start, end = _date_arg(kwargs.get("start"), "start"), _date_arg(kwargs.get("end"), "end")
        if end < start:
            raise SpiderArgumentError(f"end: {end} is before start {start}.")
        days = parse_positive_int(kwargs.get("chunk_days"), "chunk_days", 7)
        if days > max_chunk_days:
            raise SpiderArgumentError(
                f"chunk_days: {days} is more than the dashboard's longest range "
                f"({max_chunk_days} days)."
            )
        chunks = tuple(Chunk(report, a, b) for a, b in date_chunks(start, end, days))
        return cls(chunks, parallel)


# -- the API spiders' arguments ------------------------------------------------------

#: arguments every spider takes: Scrapyd's job id and the run's folder name
COMMON_ARGUMENTS = ("_job", "run_id")


def check_names(
    spider: str, kwargs: Mapping[str, Any], names: Iterable[str], modes: Iterable[str] = ()
) -> None:
    """One sentence for a misspelled or unknown argument, or an empty one.
    ``modes``: the arguments of the spider's modes (``mode``, ``refresh_days``),
    listed after ``names``."""
    names = (*names, *modes)
    known = (*names, *COMMON_ARGUMENTS)
    unknown = sorted(k for k in kwargs if k not in known)
    if unknown:
        raise SpiderArgumentError(
            f"{', '.join(unknown)}: not an argument of the {spider} spider "
            f"(its arguments: {', '.join(names) or 'none'})."
        )
    empty = [k for k, v in kwargs.items() if isinstance(v, str) and not v.strip()]
    if empty:
        raise SpiderArgumentError(
            f"{empty[0]}: empty value; pass -a {empty[0]}=... or leave it out."
        )


def category_ids(kwargs: Mapping[str, Any], settings: Any) -> tuple[int, ...]:
    """``-a categories``, else the ``CATEGORIES`` setting; at least one."""
    value = kwargs.get("categories")
    if value is None:
        value = settings.getlist("CATEGORIES")
    categories = parse_id_list(value, "categories")
    if not categories:
        raise SpiderArgumentError(
            "No categories to crawl: set CATEGORIES or pass -a categories=ID,ID."
        )
    return tuple(categories)


@dataclass(frozen=True)
class BrandsArgs:
    """``scrapy crawl brands`` arguments."""

    NAMES: ClassVar[tuple[str, ...]] = ("categories",)
    categories: tuple[int, ...]

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], settings: Any) -> BrandsArgs:
        check_names("brands", kwargs, cls.NAMES)
        return cls(category_ids(kwargs, settings))


PRODUCTS_MODES = ("full", "track")
COMMENTS_MODES = ("all", "new")


def _mode(spider: str, kwargs: Mapping[str, Any], modes: tuple[str, ...]) -> str:
    mode = str(kwargs.get("mode") or modes[0]).strip()
    if mode not in modes:
        raise SpiderArgumentError(
            f"mode: {mode!r} is not a mode of the {spider} spider (its modes: {', '.join(modes)})."
        )
    return mode


@dataclass(frozen=True)
class ProductsArgs:
    """``scrapy crawl products`` arguments: categories (and brands) to list, or
    the ids of an ids file instead of the listings; ``mode=track`` compares the
    listings with MongoDB and fetches only the details it needs
    (``refresh_days``: the oldest a stored detail may be)."""

    NAMES: ClassVar[tuple[str, ...]] = ("categories", "brands", "ids_file")
    MODE_NAMES: ClassVar[tuple[str, ...]] = ("mode", "refresh_days")
    categories: tuple[int, ...] = ()
    brands: tuple[int, ...] = ()
    ids: tuple[int, ...] = ()
    mode: str = "full"
    refresh_days: int = 7

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], settings: Any) -> ProductsArgs:
        check_names("products", kwargs, cls.NAMES, cls.MODE_NAMES)
        mode = _mode("products", kwargs, PRODUCTS_MODES)
        refresh_days = parse_positive_int(
            kwargs.get("refresh_days"),
            "refresh_days",
            settings.getint("TRACK_REFRESH_DAYS", 7) if settings is not None else 7,
        )
        if kwargs.get("refresh_days") and mode != "track":
            raise SpiderArgumentError("refresh_days applies to -a mode=track only.")
        if mode == "track":
            if kwargs.get("ids_file"):
                raise SpiderArgumentError(
                    "mode=track walks the listings: pass it without ids_file."
                )
            if not (settings.get("MONGO_URI") or "").strip():
                raise SpiderArgumentError(
                    "mode=track compares the listings with MongoDB: set MONGO_URI."
                )
        brands = tuple(parse_id_list(kwargs.get("brands"), "brands"))
        if kwargs.get("ids_file"):
            if kwargs.get("brands") or kwargs.get("categories"):
                raise SpiderArgumentError(
                    "ids_file replaces the listings: pass it without brands or categories."
                )
            return cls(ids=tuple(read_ids_file(kwargs["ids_file"], kind="product")))
        return cls(
            categories=category_ids(kwargs, settings),
            brands=brands,
            mode=mode,
            refresh_days=refresh_days,
        )


@dataclass(frozen=True)
class CommentsArgs:
    """``scrapy crawl comments`` arguments: the products whose reviews to
    read; none means the products collection's (``MONGO_URI`` set);
    ``mode=new``: only the products whose review count rose since their
    reviews were read, newest first, up to the first page of known reviews."""

    NAMES: ClassVar[tuple[str, ...]] = ("product_ids", "ids_file")
    MODE_NAMES: ClassVar[tuple[str, ...]] = ("mode",)
    product_ids: tuple[int, ...] = ()
    mode: str = "all"

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any], settings: Any) -> CommentsArgs:
        check_names("comments", kwargs, cls.NAMES, cls.MODE_NAMES)
        mode = _mode("comments", kwargs, COMMENTS_MODES)
        if mode == "new":
            if kwargs.get("ids_file") or kwargs.get("product_ids"):
                raise SpiderArgumentError(
                    "mode=new takes its products from MongoDB: pass it without "
                    "product_ids or ids_file."
                )
            if not (settings.get("MONGO_URI") or "").strip():
                raise SpiderArgumentError(
                    "mode=new reads the review counts from MongoDB: set MONGO_URI."
                )
            return cls((), mode)
        if kwargs.get("ids_file") and kwargs.get("product_ids"):
            raise SpiderArgumentError("Pass either product_ids or ids_file, not both.")
        if kwargs.get("ids_file"):
            return cls(tuple(read_ids_file(kwargs["ids_file"], kind="reviews")))
        ids = tuple(parse_id_list(kwargs.get("product_ids"), "product_ids"))
        if not ids and not settings.get("MONGO_URI"):
            raise SpiderArgumentError(
                "No products given: pass -a product_ids=ID,ID or -a ids_file=PATH, "
                "or set MONGO_URI to read them from the products collection."
            )
        return cls(ids)
