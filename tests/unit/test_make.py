"""The Makefile's targets (issue 12, item 7): `make demo` installs no Chromium
(only the dashboard spider uses it), `make test` does (the browser tests need
it, and CI runs `make test` on a fresh machine). `make -n` prints the commands
a target would run, without running them."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support.paths import ROOT


def planned(target: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    # -B: as on a fresh machine, where nothing is set up yet
    proc = subprocess.run(
        ["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return proc.stdout


def test_make_demo_needs_no_chromium() -> None:
    commands = planned("demo")
    assert "scripts/setup-system.sh" in commands and "scripts/demo.py" in commands
    assert "chromium" not in commands.lower()
    setup = (ROOT / "scripts" / "setup-system.sh").read_text(encoding="utf-8")
    code = [line for line in setup.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "chromium" in line.lower()]


def test_make_test_installs_chromium_before_the_suite() -> None:
    commands = planned("test").splitlines()
    chromium = commands.index("bash scripts/install-chromium.sh")
    assert chromium < commands.index(".venv/bin/python -m pytest")
