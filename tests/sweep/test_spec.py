"""Sweep file validation and cell expansion (no kernel started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evalcache.errors import ConfigError
from evalcache.sweep import cell_name, load_sweep, parse_sweep

from .fake_runs import NOTEBOOK


def _spec(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t",
        "notebook": str(NOTEBOOK),
        "base": {"mode": "virtual"},
        "grid": {"strategy": ["seed", "tags"], "ttl_scale": [0.5, 1, 4]},
    }
    data.update(over)
    return data


def test_grid_is_cartesian_product_plus_explicit_cells() -> None:
    spec = parse_sweep(_spec(cells=[{"workload": "booking", "seed": 7}]))
    assert len(spec.cells) == 7
    combos = {(c.params["strategy"], c.params["ttl_scale"]) for c in spec.cells[:6]}
    assert combos == {(s, t) for s in ("seed", "tags") for t in (0.5, 1, 4)}
    assert spec.cells[6].params == {"mode": "virtual", "workload": "booking", "seed": 7}
    assert all(c.params["mode"] == "virtual" for c in spec.cells)
    assert len({c.name for c in spec.cells}) == 7


def test_cell_name_is_stable_and_safe() -> None:
    a = cell_name({"workload": "mixed", "strategy": "tags", "ttl_scale": 1.0, "seed": 1})
    assert a == cell_name({"seed": 1, "ttl_scale": 1.0, "strategy": "tags", "workload": "mixed"})
    assert a.startswith("mixed-tags-ttl1.0-s1-")
    assert "/" not in cell_name({"workload": "../../etc"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "unknown key(s) colour"),
        ({"grid": {}}, "'grid' must be a non-empty mapping"),
        ({"grid": {"strategy": "tags"}}, "grid value for 'strategy' must be a non-empty list"),
        ({"grid": {"strategy": []}}, "must be a non-empty list"),
        ({"jobs": 0}, "'jobs' must be a positive integer"),
        ({"name": ""}, "'name' is required"),
        ({"notebook": "nope.ipynb"}, "is not an existing .ipynb file"),
        ({"base": {"warp_factor": 9}}, "has no parameter(s) warp_factor"),
        ({"base": {"results_dir": "x"}}, "'results_dir' is set by the sweep"),
        ({"cells": [{"strategy": "seed", "ttl_scale": 1}]}, "identical parameters"),
    ],
)
def test_bad_sweeps_fail_with_a_clear_message(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_sweep(_spec(**change), "bad.yaml")
    assert message in str(err.value)
    assert "bad.yaml" in str(err.value)


def test_load_sweep_reads_yaml_and_rejects_garbage(tmp_path: Path) -> None:
    good = tmp_path / "s.yaml"
    good.write_text(yaml.safe_dump(_spec()))
    assert len(load_sweep(good).cells) == 6
    bad = tmp_path / "b.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sweep(bad)
    with pytest.raises(ConfigError, match="file not found"):
        load_sweep(tmp_path / "missing.yaml")


@pytest.mark.parametrize("name", ["default", "ci", "full", "load"])
def test_shipped_sweeps_are_valid(name: str) -> None:
    root = Path(__file__).resolve().parents[2]
    spec = load_sweep(root / "sweeps" / f"{name}.yaml", root=root)
    assert spec.notebook.name == "experiment.ipynb"
    assert spec.cells
    assert all(p.is_file() for p in spec.reports)


def test_load_sweep_has_a_rate_axis_of_overlap_runs() -> None:
    root = Path(__file__).resolve().parents[2]
    spec = load_sweep(root / "sweeps" / "load.yaml", root=root)
    axis = [c for c in spec.cells if c.params["workload"] == "mixed"]
    assert len({c.params["rate"] for c in axis}) >= 5  # one cell per rate, names distinct
    assert all(c.params["concurrency"] == "overlap" for c in spec.cells)
    crowd = {c.params.get("stampede") for c in spec.cells if c.params["workload"] == "flash_crowd"}
    assert crowd == {"none", "lease"}
