"""The walls between the parts, read from every module's imports (``ast``):
spiders decide what to fetch, extraction turns bodies into items, pipelines
decide what to keep and where; they talk through items, settings and signals."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: (importing package, imported package, why the wall is there)
WALLS = [
    ("crawler.spiders", "crawler.pipelines", "spiders decide what to fetch, not what to keep"),
    ("crawler.pipelines", "crawler.spiders", "pipelines judge items, whoever fetched them"),
    ("crawler.extract", "crawler.spiders", "extraction is plain functions, without a crawl"),
    ("crawler.extensions", "crawler.pipelines", "extensions learn about storage from signals"),
    ("crawler.distributed", "crawler.pipelines", "the scheduler learns about storage from signals"),
    ("crawler.resume", "crawler.pipelines", "the journal learns about storage from signals"),
    ("crawler", "sim", "the crawler knows the real API only"),
    ("crawler", "bench", "the crawler does not depend on its benchmarks"),
    ("crawler", "tests", "the crawler does not depend on its tests"),
    ("sim", "crawler", "the simulator speaks the API, it does not borrow the crawler's code"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (functions, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def modules() -> list[Path]:
    return sorted(p for top in ("crawler", "sim") for p in (ROOT / top).rglob("*.py"))


def violations() -> list[str]:
    found = []
    for path in modules():
        name = module_name(path)
        for imported in sorted(imports(path)):
            for source, target, why in WALLS:
                if within(name, source) and within(imported, target):
                    found.append(f"{name} imports {imported}: {why}")
        if within(name, "crawler.pipelines"):
            own = name
            others = [
                i for i in imports(path) if within(i, "crawler.pipelines") and not within(i, own)
            ]
            # "from crawler.pipelines import x" names the package itself
            others = [i for i in others if i != "crawler.pipelines"]
            found.extend(
                f"{name} imports {i}: one pipeline never imports another" for i in sorted(others)
            )
    return sorted(set(found))


def test_the_walls_hold() -> None:
    assert violations() == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        ("crawler/spiders/x.py", "from crawler.pipelines.mongo import A\n", "crawler.pipelines"),
        ("crawler/extensions/x.py", "def f():\n    import crawler.pipelines.mongo\n", "pipeline"),
        ("crawler/pipelines/x.py", "from .validate import SCHEMAS\n", "one pipeline"),
        ("sim/x.py", "from crawler.items import Product\n", "simulator"),
        ("crawler/x.py", "from sim.testing import SimProcess\n", "real API"),
    ],
)
def test_a_breach_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str, expected: str
) -> None:
    """The check itself: a module that breaks a wall is named."""
    fake_root = tmp_path
    path = fake_root / module
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    assert any(expected in line for line in violations()), violations()
