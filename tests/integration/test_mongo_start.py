"""scripts/mongo-start.sh, the README's local MongoDB recipe (issue 12, item 7):
it starts secantusd-py on 127.0.0.1 and prints the MONGO_URI to export, and the
products spider stores into it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from pymongo import MongoClient

from tests.support.crawl import run_crawl
from tests.support.paths import ROOT
from tests.support.waiting import wait_for


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_mongo_start_prints_a_uri_the_pipeline_stores_into(sim, truth, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "mongo-start.sh")],
        cwd=tmp_path,
        env={**os.environ, "MONGO_DATA_DIR": str(tmp_path / "mongo")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    exports = dict(re.findall(r"^export (MONGO_URI|MONGO_PID)=(\S+)$", proc.stdout, re.M))
    pid = int(exports["MONGO_PID"])
    try:
        assert re.fullmatch(r"mongodb://127\.0\.0\.1:\d+", exports["MONGO_URI"])
        assert f"kill {pid}" in proc.stderr
        wanted = sorted(truth["products"]["valid"])[:5]
        ids_file = tmp_path / "ids.csv"
        ids_file.write_text("id\n" + "\n".join(map(str, wanted)) + "\n", encoding="utf-8")
        run = run_crawl(
            "products",
            sim.url,
            tmp_path,
            args={"ids_file": str(ids_file)},
            settings={"MONGO_URI": exports["MONGO_URI"], "MONGO_DATABASE": "recipe"},
        )
        assert run.stats["items/stored/product"] == len(wanted)
        with MongoClient(exports["MONGO_URI"], serverSelectionTimeoutMS=10_000) as client:
            stored = sorted(d["_id"] for d in client["recipe"]["products"].find({}, {"_id": 1}))
        assert stored == wanted
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: gone(pid), 30, "secantusd-py to stop")
