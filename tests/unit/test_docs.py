"""The manual keeps up with the code.

- every setting the code reads has a row in docs/settings.md with its default
  (the value in crawler/settings.py, the code's fallback, or Scrapy's default);
- every relative link of README.md and docs/ resolves, anchors included;
- no file of the project names a path outside the repository;
- the README stays a front page.

Fast and offline: it reads files, it starts nothing.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import default_settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_PY = ROOT / "crawler" / "settings.py"
SETTINGS_MD = ROOT / "docs" / "settings.md"
README = ROOT / "README.md"
README_MAX_LINES = 150

SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
#: ``settings.<method>("NAME", ...)`` reads (or, for ``set``, writes) a setting
SETTINGS_METHODS = frozenset(
    {"get", "getint", "getfloat", "getbool", "getlist", "getdict", "getwithbase", "set"}
)
#: helpers called as ``f(settings, "NAME", ...)`` or ``f(crawler, "NAME", ...)`` take
#: a setting's name: the distributed add-on's ``_set_default``, ``RunFile``
SETTINGS_HOLDERS = frozenset({"settings", "crawler"})
#: UPPERCASE names that the rules above find but that are not settings. Reads of
#: ``os.environ`` are left out by their receiver (environment variables are
#: documented in docs/settings.md too, but are not settings).
NOT_SETTINGS: frozenset[str] = frozenset()

#: Paths into home and work folders. A path is absolute when it starts the text
#: or follows a quote, a space or a bracket: ``https://host/home/`` is a URL.
MACHINE_PATH = re.compile(r"(?<![\w.:/~-])/(?:home|root|work|Users)/[^\s\"'`)]*")
#: the home of the ``crawler`` service account of the systemd units in docs/scrapyd.md
ALLOWED_PATHS = ("/home/crawler/",)
#: recorded data, not the project's text: API answers captured for the tests
#: (tests/data) and benchmark results written by bench/run.py (bench/results), which
#: record the folders the benchmark ran in
NOT_TEXT_OF_THE_PROJECT = ("tests/data/", "bench/results/")
#: folders a checkout's parent may be that files name for other reasons (a
#: clone in /tmp: the sanitiser's tests name /tmp/ paths); then the checkout's
#: own path is looked for instead
SHARED_DIRECTORIES = ("/", "/tmp/", "/var/tmp/")


# -- settings ------------------------------------------------------------------


def _tail_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _setting_literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if SETTING_NAME.match(node.value):
            return node.value
    return None


def settings_read_by_code() -> dict[str, list[tuple[str, Any]]]:
    """Every setting name the crawler's code uses: ``{name: [(where, fallback)]}``.

    ``fallback`` is the constant passed as the default of a ``get*`` call
    (``settings.getfloat("X", 10.0)``), else ``None``."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for path in sorted((ROOT / "crawler").rglob("*.py")):
        where_file = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            name, fallback = None, None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if (
                    isinstance(func, ast.Attribute)
                    and func.attr in SETTINGS_METHODS
                    and not ast.unparse(func.value).endswith("environ")
                ):
                    name = _setting_literal(node.args[0])
                    if name and func.attr != "set" and len(node.args) > 1:
                        default = node.args[1]
                        if isinstance(default, ast.Constant):
                            fallback = default.value
                elif len(node.args) > 1 and _tail_name(node.args[0]) in SETTINGS_HOLDERS:
                    name = _setting_literal(node.args[1])
            elif isinstance(node, ast.Subscript):
                holder = _tail_name(node.value)
                if holder and "settings" in holder.lower():
                    name = _setting_literal(node.slice)
            if name and name not in NOT_SETTINGS:
                line = getattr(node, "lineno", 0)
                found.setdefault(name, []).append((f"{where_file}:{line}", fallback))
    return found


def _environ_gets(node: ast.expr) -> list[ast.Call]:
    return [
        call
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr in ("get", "getenv")
        and ast.unparse(call.func.value) in ("os.environ", "environ", "os")
    ]


def settings_defined() -> dict[str, list[list[str]]]:
    """The names crawler/settings.py assigns, each with what its documented default
    must hold: one text of each list (no list: a dict or list, the row is enough)."""
    module = importlib.import_module("crawler.settings")
    expected: dict[str, list[list[str]]] = {}
    for node in ast.parse(SETTINGS_PY.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if not (isinstance(target, ast.Name) and SETTING_NAME.match(target.id)):
                continue
            env_calls = _environ_gets(value)
            if env_calls:
                # `$NAME`, else `fallback`: the environment variable and the value without it
                texts = [[f"${_literal(call.args[0])}"] for call in env_calls]
                fallbacks = [call.args[1] for call in env_calls if len(call.args) > 1]
                if isinstance(value, ast.BoolOp) and isinstance(value.values[-1], ast.Constant):
                    fallbacks.append(value.values[-1])  # os.environ.get("X") or "0"
                for fallback in fallbacks:
                    texts.append(renderings(_literal(fallback)))
                expected[target.id] = texts
            else:
                shown = renderings(getattr(module, target.id))
                expected[target.id] = [shown] if shown else []
    return expected


def _literal(node: ast.expr) -> Any:
    return ast.literal_eval(node)


def renderings(value: Any) -> list[str]:
    """How a simple default may be written in the docs; [] for dicts and lists."""
    if value is None:
        return ["None", "unset"]
    if isinstance(value, bool):
        return [str(value)]
    if isinstance(value, int):
        return [str(value)]
    if isinstance(value, float):
        return [repr(value), str(int(value))] if value.is_integer() else [repr(value)]
    if isinstance(value, str):
        return [value] if value else ["empty", '""']
    return []


def _holds(cell: str, alternatives: list[str]) -> bool:
    """Whether a table cell holds one of the alternatives as a whole token."""
    for text in alternatives:
        if text.startswith("$"):
            pattern = re.escape(text) + r"(?!\w)"
        else:
            pattern = r"(?<![\w.$-])" + re.escape(text) + r"(?![\w.])"
        if re.search(pattern, cell):
            return True
    return False


def table_rows(text: str) -> Iterator[list[str]]:
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if cells:
                yield cells


def documented_settings() -> dict[str, str]:
    """``{name: default cell}`` of the rows of docs/settings.md."""
    rows = {}
    for cells in table_rows(SETTINGS_MD.read_text(encoding="utf-8")):
        match = re.fullmatch(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        if match and len(cells) >= 2:
            rows[match.group(1)] = cells[1]
    return rows


def test_every_setting_the_code_reads_is_documented_with_its_default() -> None:
    read = settings_read_by_code()
    defined = settings_defined()
    rows = documented_settings()
    problems: list[str] = []
    for name in sorted(set(read) | set(defined)):
        where = ", ".join(w for w, _ in read.get(name, [])) or "crawler/settings.py"
        if name not in rows:
            problems.append(
                f"{name} (used at {where}) has no row in docs/settings.md: "
                f"add `| `{name}` | <default> | <meaning> |`"
            )
            continue
        cell = rows[name]
        wanted: list[list[str]] = []
        source = ""
        if name in defined:
            wanted, source = defined[name], "crawler/settings.py"
        else:
            fallbacks = [f for _, f in read[name] if f is not None]
            scrapy_default = getattr(default_settings, name, None)
            if fallbacks:
                wanted, source = [renderings(f) for f in fallbacks], "the code's fallback"
            elif hasattr(default_settings, name) and renderings(scrapy_default):
                wanted, source = [renderings(scrapy_default)], "Scrapy's default"
        if not cell.strip("` "):
            problems.append(f"{name}: the default column of docs/settings.md is empty")
        for alternatives in wanted:
            if alternatives and not _holds(cell, alternatives):
                problems.append(
                    f"{name}: docs/settings.md gives the default {cell!r}; "
                    f"{source} wants {' or '.join(map(repr, alternatives))}"
                )
    assert not problems, "docs/settings.md is out of date:\n" + "\n".join(problems)


def test_the_settings_scan_finds_settings() -> None:
    """A guard for the scan itself: it sees reads in several modules."""
    read = settings_read_by_code()
    for name in ("MARKETPLACE_URL", "RETRY_TIMES", "MONGO_BATCH_SIZE", "FAILURES_FILE"):
        assert name in read, f"the settings scan no longer finds {name} in crawler/"
    assert not any(name.startswith("SCRAPYD_") for name in read), (
        "environment variables read through os.environ were taken for settings"
    )


# -- links -----------------------------------------------------------------------

LINK = re.compile(r"\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)


def manual_pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text without code blocks and code spans (where brackets are code)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def test_relative_links_resolve() -> None:
    problems: list[str] = []
    for page in manual_pages():
        name = page.relative_to(ROOT).as_posix()
        for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
            if re.match(r"(https?|mailto):", target):
                continue
            path_part, _, anchor = target.partition("#")
            linked = (page.parent / path_part).resolve() if path_part else page
            if not linked.exists():
                problems.append(f"{name}: the link ({target}) points to a missing file")
            elif ROOT not in linked.parents and linked != ROOT:
                problems.append(f"{name}: the link ({target}) leaves the repository")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                problems.append(f"{name}: the link ({target}) names no heading of {path_part}")
    assert not problems, "broken links:\n" + "\n".join(problems)


# -- machine paths -------------------------------------------------------------


def tracked_text_files() -> list[Path]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of tracked files")
    files = []
    for name in listing.decode().split("\0"):
        if not name or name.startswith(NOT_TEXT_OF_THE_PROJECT):
            continue
        path = ROOT / name
        if path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            files.append(path)
    return files


def test_no_file_names_a_path_outside_the_repository() -> None:
    parent = ROOT.parent.as_posix().rstrip("/") + "/"
    if parent in SHARED_DIRECTORIES:  # a clone in /tmp: "/tmp/" in a file is no machine path
        parent = ROOT.as_posix().rstrip("/") + "/"
    problems: list[str] = []
    for path in tracked_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        name = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            hits = [
                m.group(0)
                for m in MACHINE_PATH.finditer(line)
                if not m.group(0).startswith(ALLOWED_PATHS)
            ]
            if parent != "/" and parent in line and not any(parent in hit for hit in hits):
                hits.append(parent)
            problems.extend(f"{name}:{number}: {hit}" for hit in hits)
    assert not problems, (
        "files name paths outside the repository (a machine's folders; name the "
        "file in the repository, or a path relative to it):\n" + "\n".join(problems)
    )


# -- the front page ------------------------------------------------------------


def test_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines, more than {README_MAX_LINES}: "
        "move the details into docs/ and link them"
    )
    opening = [line.split("#")[0].strip() for line in lines[:10]]
    for command in ("make demo", "make test"):
        assert command in opening, f"README.md no longer opens with `{command}`"
