"""Feed URI parameters: where a run's files go.

``%(output_dir)s`` is the ``OUTPUT_DIR`` setting and ``%(run_id)s`` the run's id
(its start time in UTC, or ``-a run_id=...``), so that every batch file of one
run, and its rejects and failures files, share one folder:
``<OUTPUT_DIR>/<spider>/<run_id>/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_dir(spider: Any) -> Path:
    """The folder of this run's feeds, rejects and failures files."""
    base = Path(spider.settings.get("OUTPUT_DIR")).expanduser()
    return base / spider.name / spider.run_id


def uri_params(params: dict[str, Any], spider: Any) -> dict[str, Any]:
    params["output_dir"] = str(Path(spider.settings.get("OUTPUT_DIR")).expanduser())
    params["run_id"] = spider.run_id
    # a resumed JOBDIR job (crawler.extensions.resume) numbers its batch files
    # after the ones its earlier runs wrote: it never appends to one of them
    params["batch_id"] += getattr(spider, "feed_batch_offset", 0)
    return params
