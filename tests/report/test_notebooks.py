"""The shipped notebooks: documented parameters, and in sync with notebooks/build.py."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import nbformat
import papermill
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("nb_build", ROOT / "notebooks" / "build.py")
assert _spec is not None and _spec.loader is not None
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(build.PARAMETERS))
def test_parameters_cell_is_as_documented(name: str) -> None:
    found = papermill.inspect_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"))
    assert list(found) == [p for p, _ in build.PARAMETERS[name]]
    for param, default in build.PARAMETERS[name]:
        assert ast.literal_eval(found[param]["default"]) == default


@pytest.mark.parametrize("name", sorted(build.PARAMETERS))
def test_committed_notebook_matches_build_script(name: str) -> None:
    # Compared as code (AST), so `ruff format` on the committed files does not count as drift.
    committed = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", 4)
    fresh = build.build(name)
    assert [c.cell_type for c in committed.cells] == [c.cell_type for c in fresh.cells]
    for a, b in zip(committed.cells, fresh.cells, strict=True):
        if a.cell_type == "code":
            assert ast.dump(ast.parse(a.source)) == ast.dump(ast.parse(b.source))
        else:
            assert a.source == b.source
    assert "parameters" in committed.cells[1].metadata["tags"]
