"""The files of a resumed run: what its earlier runs left, repaired so that
this run continues them.

- a feed's files (:func:`feed_files`) lose a line torn by the stop
  (:func:`cut_torn_line`); this run numbers its batch files after theirs
  (:func:`repair_feeds`). Only local JSON Lines feeds that are appended to are
  continued (:func:`continued`);
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

from crawler.feeds import run_dir

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


def repair_feeds(
    spider: Spider, settings: BaseSettings
) -> tuple[int, dict[str, tuple[str, set[Any]]]]:
    """Cut the lines torn by the stop from the files of the feeds the run
    continues; return the highest batch number of their files (0: none) and,
    per feed whose item class has a ``key_field``, the keys its files hold."""
    # the parameters the feed exporter fills a URI template with
    params = {name: getattr(spider, name) for name in dir(spider)}
    params["batch_id"] = 1
    batches = [0]
    feed_keys: dict[str, tuple[str, set[Any]]] = {}
    for template, options in settings.getdict("FEEDS").items():
        options = feed_complete_default_values_from_settings(options, settings, str(template))
        files, pattern = feed_files(
            str(template), load_object(options["uri_params"])(dict(params), spider)
        )
        if files and (options.get("overwrite") or options["format"] not in _LINES_FORMATS):
            # "-O" truncates the file when the run opens it, and a JSON array
            # or a CSV file cannot be continued after a kill
            logger.warning(
                "Resume: the feed %s is not resumable (only JSON Lines feeds "
                "that are appended to are); it holds the items of this run "
                "only.",
                template,
            )
            continue
        classes = [load_object(c) for c in options.get("item_classes") or ()]
        key_field = getattr(classes[0], "key_field", None) if len(classes) == 1 else None
        keys: set[Any] = set()
        for path in files:
            if cut_torn_line(path):
                logger.info("Resume: cut a line torn by the stop from %s.", path)
            match = pattern.match(str(path))
            if match and match.groups():  # a template with %(batch_id)d
                batches.append(int(match.group(1)))
            if key_field:
                keys.update(
                    orjson.loads(line).get(key_field) for line in path.read_bytes().splitlines()
                )
        if key_field:
            feed_keys[str(template)] = (key_field, keys)
    return max(batches), feed_keys


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
