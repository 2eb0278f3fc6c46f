"""A run: its id (resolved once), its folder, and the JSON Lines files it
writes beside its feeds.

``%(output_dir)s`` is the ``OUTPUT_DIR`` setting and ``%(run_id)s`` the run's id
(its start time in UTC, or ``-a run_id=...``), so that every batch file of one
run, and its rejects and failures files, share one folder:
``<OUTPUT_DIR>/<spider>/<run_id>/``.
"""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from scrapy.utils.job import job_dir

from crawler.resume.journal import JOURNAL, read_run

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def resolve_run_id(
    settings: Any, spider: str, kwargs: dict[str, Any], now: datetime | None = None
) -> str:
    """The run's id, decided here once: the JOBDIR journal's when the job
    resumes, else ``-a run_id=...``, else the Scrapyd
    job id (Scrapyd passes ``-a _job=<jobid>``; a resumed job keeps its
    folder), else the start time in UTC. A worker of a distributed crawl adds
    its worker id, so that workers on one host never share a folder.

    A run named by its start time claims its folder (``mkdir``, which fails
    when the folder exists): a second run started in the same second gets
    ``...Z-2``, never the folder of another run."""
    worker = ""
    if settings.getbool("DISTRIBUTED"):
        from crawler.distributed.config import DistributedConfig  # only for workers

        worker = f"-{DistributedConfig.from_settings(settings).worker_id}"
    jobdir = job_dir(settings)
    if jobdir:  # a resumed JOBDIR job keeps the run id its journal names
        past = read_run(Path(jobdir) / JOURNAL)
        if past.resumed_by(spider) and past.run_id:
            return past.run_id
    named = kwargs.get("run_id") or kwargs.get("_job")
    if named:
        return f"{named}{worker}"
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H-%M-%SZ")
    base = Path(settings.get("OUTPUT_DIR") or ".").expanduser() / spider
    base.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        run_id = f"{stamp}{worker}" if n == 1 else f"{stamp}-{n}{worker}"
        try:
            (base / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id
    raise AssertionError("unreachable")


def run_dir(spider: Any) -> Path:
    """The folder of this run's feeds, rejects and failures files."""
    base = Path(spider.settings.get("OUTPUT_DIR")).expanduser()
    return base / spider.name / spider.run_id


def uri_params(params: dict[str, Any], spider: Any) -> dict[str, Any]:
    params["output_dir"] = str(Path(spider.settings.get("OUTPUT_DIR")).expanduser())
    params["run_id"] = spider.run_id
    # a resumed JOBDIR job (crawler.resume) numbers its batch files
    # after the ones its earlier runs wrote: it never appends to one of them
    params["batch_id"] += getattr(spider, "feed_batch_offset", 0)
    return params


class RunFile:
    """A JSON Lines file of the run beside its feeds (``failures.jsonl``,
    ``rejects.jsonl``): created at its first record, so a clean run leaves
    none, and flushed line by line, so a killed process keeps what it wrote.
    ``setting`` names a path that replaces ``<run dir>/<name>``."""

    def __init__(self, crawler: Crawler, setting: str, name: str, announce: str) -> None:
        self.crawler = crawler
        self.path_setting: str | None = crawler.settings.get(setting)
        self.name = name
        #: logged at INFO with the path when the file is created
        self.announce = announce
        self.path: Path | None = None
        self._file: IO[bytes] | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            path = Path(self.path_setting) if self.path_setting else None
            self.path = path or run_dir(self.crawler.spider) / self.name
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            logger.info(self.announce, self.path)
        self._file.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self._file.flush()

    def close(self) -> bool:
        """Close the file; whether there was one."""
        if self._file is None:
            return False
        self._file.close()
        self._file = None
        return True
