"""``evalcache sweep --fresh-baseline``: the sweep forgets its streams' baselines first."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat
import pytest

import evalcache.runner
from evalcache.cli import main
from evalcache.errors import ConfigError
from evalcache.runner import PARAM_NAMES, validate_params
from evalcache.sweep import Cell, CellOutcome, parse_sweep, run_sweep
from evalcache.sweep import execute as sweep_execute
from evalcache.sweep.spec import run_params

from .fake_runs import NOTEBOOK

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "notebooks" / "experiment.ipynb"
SWEEP = {
    "name": "fresh",
    "notebook": "notebooks/experiment.ipynb",
    "base": {"workload": "mixed", "scale": 0.02, "duration_s": 60},
    "grid": {"strategy": ["ttl", "tags"]},
    "cells": [{"strategy": "tags", "baseline": False}],
}


def test_run_params_are_what_the_notebook_passes_to_the_runner() -> None:
    cell = Cell("c", {"strategy": "ttl", "rate": 5.0, "warmup_s": None})
    (params,) = run_params(EXPERIMENT, [cell])
    # the notebook's defaults where the cell sets nothing; no results_dir, no None
    assert params == {
        "workload": "mixed",
        "strategy": "ttl",
        "ttl_scale": 1.0,
        "mode": "virtual",
        "duration_s": 600,
        "seed": 1,
        "scale": 0.1,
        "stale_sample": 1.0,
        "rate": 5.0,
    }
    validate_params(params)


def test_the_experiment_notebook_passes_every_parameter_as_is() -> None:
    """run_params mirrors the notebook: each parameter reaches ``runner.run`` by its name."""
    nb = nbformat.read(EXPERIMENT, 4)
    (parameters,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    declared = {
        s.targets[0].id
        for s in ast.parse(parameters.source).body
        if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)
    } - {"results_dir"}
    passed: dict[str, str] = {}
    for cell in nb.cells:
        for node in ast.walk(ast.parse(cell.source)) if cell.cell_type == "code" else ():
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "params"
                and isinstance(node.value, ast.Call)
            ):
                for kw in node.value.keywords:
                    assert isinstance(kw.value, ast.Name) and kw.arg is not None
                    passed[kw.arg] = kw.value.id
    assert passed == {name: name for name in declared}
    assert declared <= set(PARAM_NAMES) and "fresh_baseline" in declared


def test_sweep_forgets_the_baselines_of_its_cells_before_running_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[Any] = []

    def fake_forget(runs: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
        runs = list(runs)
        events.append(("forget", runs))
        return 1, len(runs)

    def fake_execute(notebook: str, cell: Cell, out: str, progress: bool = False) -> Any:
        events.append(("cell", cell.params))
        return CellOutcome(cell.name, cell.params, "ok", "", "")

    monkeypatch.setattr(evalcache.runner, "forget_baselines", fake_forget)
    monkeypatch.setattr(sweep_execute, "execute_cell", fake_execute)
    spec = parse_sweep(SWEEP, root=ROOT)

    report = run_sweep(spec, tmp_path / "a", jobs=1, progress=False)
    assert report.fresh_baselines is None and all(e[0] == "cell" for e in events)

    events.clear()
    report = run_sweep(
        spec, tmp_path / "b", jobs=1, only="*ttl*", progress=False, fresh_baseline=True
    )
    assert [e[0] for e in events] == ["forget", "cell"]
    # the selected cell, with the notebook's defaults filled in
    assert events[0][1] == run_params(EXPERIMENT, [c for c in spec.cells if "ttl" in c.name])
    assert report.fresh_baselines == (1, 1)

    sweep_file = tmp_path / "fresh.yaml"
    sweep_file.write_text(json.dumps({**SWEEP, "notebook": str(EXPERIMENT)}))
    argv = ["sweep", str(sweep_file), "--out", str(tmp_path / "c"), "--jobs", "1"]
    assert main([*argv, "--no-progress", "--fresh-baseline"]) == 0
    assert "fresh baselines: 1 request stream(s) measured anew" in capsys.readouterr().out


def test_fresh_baseline_needs_the_experiment_notebook(tmp_path: Path) -> None:
    spec = parse_sweep({"name": "x", "notebook": str(NOTEBOOK), "grid": {"seed": [1]}})
    with pytest.raises(ConfigError, match=r"experiment\.ipynb") as info:
        run_sweep(spec, tmp_path, progress=False, fresh_baseline=True)
    assert info.value.name == "--fresh-baseline"
    assert not list(tmp_path.iterdir())  # refused before anything ran
