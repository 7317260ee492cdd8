"""The committed notebooks are the source: documented parameters, stripped, type-checked.

The documented parameters are the tables in ``notebooks/README.md``. The notebooks are executed
with papermill by ``test_ci_sweep.py`` (every one) and ``test_site.py`` (the aggregate ones on
synthetic runs); ruff lints them in ``make lint``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
STRIP_HINT = "strip it with `make strip-notebooks` (command in notebooks/README.md)"
#: What a stripped notebook keeps: papermill's `parameters` tag, and the kernel to run.
CELL_METADATA = {"tags"}
NOTEBOOK_METADATA = {"kernelspec"}


def documented_parameters(readme: str) -> dict[str, list[tuple[str, Any]]]:
    """``{notebook: [(name, default), ...]}`` from the README's ``### <name>.ipynb`` tables."""
    found: dict[str, list[tuple[str, Any]]] = {}
    current: str | None = None
    for line in readme.splitlines():
        if line.startswith("#"):
            heading = re.fullmatch(r"#+ (\w+)\.ipynb", line.strip())
            current = heading[1] if heading else None
            if current:
                found[current] = []
        elif current and (row := re.match(r"\| `(\w+)` \| `([^`]*)` \|", line)):
            found[current].append((row[1], ast.literal_eval(row[2])))
    return found


DOCUMENTED = documented_parameters((NOTEBOOKS / "README.md").read_text("utf-8"))
NAMES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def unstripped(nb: nbformat.NotebookNode) -> list[str]:
    """What ``make strip-notebooks`` would remove from ``nb``, one line per finding."""
    found = [f"notebook metadata {k!r}" for k in sorted(set(nb.metadata) - NOTEBOOK_METADATA)]
    for i, cell in enumerate(nb.cells):
        where = f"cell {i} ({cell.get('id')})"
        if cell.get("outputs"):
            found.append(f"{where}: outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{where}: execution count")
        found += [f"{where}: metadata {k!r}" for k in sorted(set(cell.metadata) - CELL_METADATA)]
    return found


def test_every_notebook_is_documented() -> None:
    assert sorted(DOCUMENTED) == NAMES, "notebooks/README.md documents exactly the notebooks"
    assert all(DOCUMENTED.values())


@pytest.mark.notebook
@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell_is_as_documented(name: str) -> None:
    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, 4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    # plain `name = literal` lines: what papermill overrides and the sweep can pass
    for stmt in ast.parse(tagged[0].source).body:
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name)
        ast.literal_eval(stmt.value)
    found = papermill.inspect_notebook(str(path))
    # repr: 1 and 1.0 are equal but not the same default
    declared = [(p, repr(ast.literal_eval(found[p]["default"]))) for p in found]
    assert declared == [(p, repr(default)) for p, default in DOCUMENTED[name]]


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_stripped(name: str) -> None:
    found = unstripped(nbformat.read(NOTEBOOKS / f"{name}.ipynb", 4))
    assert not found, f"notebooks/{name}.ipynb is not stripped ({'; '.join(found)}): {STRIP_HINT}"


def test_strip_check_finds_outputs_counts_and_metadata() -> None:
    v4 = nbformat.v4
    params = v4.new_code_cell("x = 1", id="p", metadata={"tags": ["parameters"]})
    nb = v4.new_notebook(cells=[params, v4.new_code_cell("x", id="c")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "evalcache"}
    assert unstripped(nb) == []
    # what a JupyterLab save of a run notebook adds
    nb.metadata["language_info"] = {"name": "python", "version": "3.12.0"}
    nb.cells[1].outputs = [v4.new_output("execute_result", {"text/plain": "1"}, execution_count=2)]
    nb.cells[1].execution_count = 2
    nb.cells[1].metadata["execution"] = {"iopub.status.idle": "2024-01-01T00:00:00Z"}
    assert unstripped(nb) == [
        "notebook metadata 'language_info'",
        "cell 1 (c): outputs",
        "cell 1 (c): execution count",
        "cell 1 (c): metadata 'execution'",
    ]


def code_as_module(name: str) -> tuple[str, list[str]]:
    """A notebook's code cells as one module, and where in the notebook each line comes from."""
    lines, where = ["# mypy: allow-untyped-calls"], ["(header)"]  # IPython's display is untyped
    for cell in nbformat.read(NOTEBOOKS / f"{name}.ipynb", 4).cells:
        if cell.cell_type == "code":
            code = cell.source.splitlines()
            lines += [*code, ""]
            where += [f"{name}.ipynb cell {cell.id} line {i}" for i in range(1, len(code) + 1)]
            where.append(f"{name}.ipynb after cell {cell.id}")
    return "\n".join(lines), where


def test_notebook_code_type_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the project's strict mypy config; warm after `make lint`'s mypy: about a second
    where: dict[str, list[str]] = {}
    for name in NAMES:
        text, where[name] = code_as_module(name)
        (tmp_path / f"notebook_{name}.py").write_text(text, "utf-8")
    monkeypatch.chdir(ROOT)  # mypy finds the evalcache sources from the working directory
    out, err, status = mypy_api.run(
        ["--config-file", "pyproject.toml", "--cache-dir", ".mypy_cache", str(tmp_path)]
    )
    located = re.sub(
        r"^\S*notebook_(\w+)\.py:(\d+):",
        lambda m: where[m[1]][int(m[2]) - 1] + ":",
        out,
        flags=re.MULTILINE,
    )
    assert status == 0, located + err
