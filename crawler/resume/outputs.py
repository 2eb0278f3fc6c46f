"""The files of a resumed run: what its earlier runs left, repaired so that
this run continues them.

- a feed's files (:func:`feed_files`) lose a line torn by the stop
  (:func:`cut_torn_line`); this run numbers its batch files after theirs
  (:func:`repair_feeds`). Only local JSON Lines feeds that are appended to are
  continued (:func:`continued`), and the keys their files hold
  (:func:`held_keys`) are not written again
  (:class:`~crawler.resume.feeds.KnownKeysFilter`);
- the failures and rejects files keep the records of requests that are done
  (:func:`keep_lines`, :func:`keep_done_records`).
"""

from __future__ import annotations

import glob
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from scrapy.utils.conf import feed_complete_default_values_from_settings
from scrapy.utils.misc import load_object

from crawler.run import run_dir

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Spider
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

_BATCH_ID = re.compile(r"%\(batch_id\)[-#0 +]*\d*d")
_BATCH, _ANY = "\x00", "\x01"  # stand-ins while a feed URI template is filled in
#: feed formats whose files a resumed run continues
_LINES_FORMATS = frozenset({"jsonlines", "jl"})


def cut_torn_line(path: Path) -> int:
    """Truncate a JSON Lines file after its last complete line; bytes cut."""
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    if keep < len(data):
        with path.open("r+b") as handle:
            handle.truncate(keep)
    return len(data) - keep


def keep_lines(path: Path, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Rewrite a JSON Lines file with the records ``keep`` accepts (a torn
    last line is dropped); return them."""
    kept = []
    for line in path.read_bytes().split(b"\n"):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if keep(record):
            kept.append(record)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in kept))
    os.replace(tmp, path)
    return kept


def feed_files(template: str, uri_params: dict[str, Any]) -> tuple[list[Path], re.Pattern[str]]:
    """The local files a feed URI template has produced, and a pattern whose
    group 1 is a file's batch number."""
    marked = _BATCH_ID.sub("%(_batch)s", template)
    marked = marked.replace("%(batch_time)s", "%(_any)s").replace("%(time)s", "%(_any)s")
    path = marked % {**uri_params, "_batch": _BATCH, "_any": _ANY}
    path = path.removeprefix("file://")
    if "://" in path:  # remote storage: not resumable here
        return [], re.compile(r"(?!)")
    pattern = re.compile(re.escape(path).replace(_BATCH, r"(\d+)").replace(_ANY, ".*") + r"\Z")
    found = glob.glob(glob.escape(path).replace(_BATCH, "*").replace(_ANY, "*"))
    return sorted(Path(p) for p in found if pattern.match(p)), pattern


def continued(options: dict[str, Any]) -> bool:
    """Whether a resumed run continues a feed's files (``options`` completed
    with the defaults): a JSON Lines feed appended to. "-O" truncates the file
    when the run opens it, and a JSON array or a CSV file cannot be continued
    after a kill."""
    return not options.get("overwrite") and options["format"] in _LINES_FORMATS


def key_field(options: dict[str, Any]) -> str | None:
    """The field that identifies a feed's items: the ``key_field`` of its one
    item class, if it has one."""
    classes = [load_object(c) for c in options.get("item_classes") or ()]
    return getattr(classes[0], "key_field", None) if len(classes) == 1 else None


def run_feed_files(
    template: str, options: dict[str, Any], spider: Spider
) -> tuple[list[Path], re.Pattern[str]]:
    """:func:`feed_files` of a feed (``options`` completed with the defaults),
    its URI template filled in as the feed exporter fills it for ``spider``."""
    params = {name: getattr(spider, name) for name in dir(spider)}
    params["batch_id"] = 1
    return feed_files(template, load_object(options["uri_params"])(params, spider))


def held_keys(files: list[Path], field: str) -> set[Any]:
    """The values of ``field`` in the complete lines of JSON Lines files."""
    keys: set[Any] = set()
    for path in files:
        data = path.read_bytes()
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        keys.update(orjson.loads(line).get(field) for line in lines)
    return keys


def repair_feeds(spider: Spider, settings: BaseSettings) -> int:
    """Cut the lines torn by the stop from the files of the feeds the run
    continues (a WARNING names the others that have files); return the
    highest batch number of those files (0: none)."""
    batches = [0]
    for template, given in settings.getdict("FEEDS").items():
        options = feed_complete_default_values_from_settings(given, settings, str(template))
        files, pattern = run_feed_files(str(template), options, spider)
        if files and not continued(options):
            logger.warning(
                "Resume: the feed %s is not resumable (only JSON Lines feeds "
                "that are appended to are); it holds the items of this run "
                "only.",
                template,
            )
            continue
        for path in files:
            if cut_torn_line(path):
                logger.info("Resume: cut a line torn by the stop from %s.", path)
            match = pattern.match(str(path))
            if match and match.groups():  # a template with %(batch_id)d
                batches.append(int(match.group(1)))
    return max(batches)


def keep_done_records(
    spider: Spider, settings: BaseSettings, done_urls: set[str]
) -> list[dict[str, Any]]:
    """Rewrite the failures and rejects files with the records of requests
    done (and those of no request); return the failures kept."""
    carried: list[dict[str, Any]] = []
    outputs = (("FAILURES_FILE", "failures.jsonl"), ("REJECTS_FILE", "rejects.jsonl"))
    for setting, name in outputs:
        path = Path(settings.get(setting) or run_dir(spider) / name)
        if path.exists():
            kept = keep_lines(path, lambda r: r.get("url") is None or r["url"] in done_urls)
            if name == "failures.jsonl":
                carried = kept
    return carried
