"""A sweep cell pointing at a workload file: resolved from the root, carried as its mapping."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evalcache.errors import ConfigError
from evalcache.runner.params import parse_params
from evalcache.sweep import cell_name, load_sweep
from evalcache.sweep.spec import run_params

ROOT = Path(__file__).resolve().parents[2]


def _root(tmp_path: Path) -> Path:
    """A root with the experiment notebook and a workload file under ``load/``."""
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "experiment.ipynb", tmp_path / "notebooks")
    (tmp_path / "load").mkdir()
    shutil.copy(ROOT / "workloads" / "launch.yaml", tmp_path / "load" / "ramp.yaml")
    return tmp_path


def test_a_cell_runs_a_workload_file_relative_to_the_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _root(tmp_path)
    sweep = root / "sweeps" / "s.yaml"
    sweep.parent.mkdir()
    sweep.write_text(
        yaml.safe_dump(
            {
                "name": "files",
                "notebook": "notebooks/experiment.ipynb",
                "base": {"duration_s": 600, "rate": 20},
                "grid": {"workload": ["load/ramp.yaml", "mixed"]},
            }
        )
    )
    monkeypatch.chdir(ROOT)  # not the root given: the path must not resolve from here
    spec = load_sweep(sweep, root=root)
    cell = next(c for c in spec.cells if isinstance(c.params["workload"], dict))
    assert "load_ramp.yaml" in cell.name  # the folder names the file
    assert cell.params["workload"]["name"] == "launch"  # the file's own name, not its stem
    rp = parse_params(run_params(spec.notebook, [cell])[0])
    assert rp.workload == "launch" and rp.workload_def is not None
    assert rp.spec().ramps[0].start_multiplier == 0.1 and rp.spec().rate == 20.0


def test_a_bad_workload_file_fails_the_sweep_naming_cell_and_field(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "load" / "bad.yaml").write_text(
        "operations: {read:user_profile: 1}\nramps: [{start_s: 0, duration_s: 0, "
        "start_multiplier: 0.5}]\n"
    )
    data = {
        "name": "bad",
        "notebook": "notebooks/experiment.ipynb",
        "cells": [{"workload": "load/bad.yaml"}],
    }
    (root / "s.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"ramps\[0\]\.duration_s") as info:
        load_sweep(root / "s.yaml", root=root)
    assert "load_bad.yaml" in str(info.value)


def test_a_cell_holding_a_workload_mapping_is_named_by_its_name() -> None:
    assert cell_name({"workload": {"name": "evening", "rate": 5}}).startswith("evening-")
