"""The demo's own output (issue 12, item 4): the commands it runs and its
summary, which ends it; the crawls' logs go to a file that it names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT


def test_the_demo_ends_with_its_summary_and_names_the_crawls_log(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/demo.py", "--size", "tiny", "--output", str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stderr == ""  # the crawls' logs are not on the terminal
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith("ground truth matched: yes; demo wall time ")
    (named,) = [line for line in lines if line.startswith("The crawls log to ")]
    log = Path(named.removeprefix("The crawls log to "))
    assert log.parent == tmp_path / "demo" and log.is_file()
    text = log.read_text(encoding="utf-8")
    assert text.count("Spider closed (finished)") == 2  # products, then comments
    assert not [line for line in lines if "WARNING" in line or "INFO" in line]
