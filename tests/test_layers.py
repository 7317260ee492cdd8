"""Imports point one way: cache <- strategies <- domain <- workload, runner <- sweep <- report.

Read from the source with ``ast`` (imports inside functions and ``TYPE_CHECKING`` blocks count
too), so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "evalcache"

# package -> top-level evalcache modules it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "cache": (
        "strategies",
        "domain",
        "workload",
        "runner",
        "sweep",
        "report",
        "results",
        "metrics",
        "services",
        "embedded",
        "cli",
        "model",
    ),
    "strategies": ("domain", "workload", "runner", "sweep", "report", "cli"),
    "domain": ("workload", "runner", "sweep", "report"),
    "workload": ("runner", "sweep", "report"),
    "runner": ("sweep", "report"),
}


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every absolute ``evalcache.*`` module a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(root.parent).with_suffix("").parts[:-1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from evalcache import runner`
    return {m for m in out if m == "evalcache" or m.startswith("evalcache.")}


def violations(layer: str, root: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted((root / layer).rglob("*.py")):
        for mod in sorted(imported_modules(path, root)):
            top = mod.split(".")[1] if "." in mod else ""
            if top in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(root.parent)} imports {mod}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_down(layer: str) -> None:
    assert violations(layer) == []


def test_the_check_sees_hidden_and_relative_imports(tmp_path: Path) -> None:
    # imports nested in functions, TYPE_CHECKING blocks and relative ones are all found
    root = tmp_path / "evalcache"
    (root / "strategies").mkdir(parents=True)
    (root / "strategies" / "probe.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from evalcache.domain import families\n"
        "def f():\n    import evalcache.runner.core\n"
        "from ..workload import spec\n"
        "from . import api\n"
    )
    found = violations("strategies", root)
    assert any(v.endswith("imports evalcache.domain") for v in found), found
    assert any(v.endswith("imports evalcache.runner.core") for v in found), found
    assert any(v.endswith("imports evalcache.workload") for v in found), found
    assert not any("strategies.api" in v for v in found), found


def test_importing_the_strategy_contract_loads_no_strategy_or_driver() -> None:
    # registration is lazy: the registry names strategies without importing them
    code = (
        "import sys, evalcache.strategies\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('psycopg', 'evalcache.domain',"
        " 'evalcache.strategies.notify', 'evalcache.strategies.tags')))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
