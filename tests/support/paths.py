"""Where things are: the repository root and the tests' saved API bodies."""

from __future__ import annotations

from pathlib import Path

#: the repository root (the crawls run there, with it on PYTHONPATH)
ROOT = Path(__file__).resolve().parents[2]
#: saved API bodies and what extracting them must give
DATA = ROOT / "tests" / "data"
