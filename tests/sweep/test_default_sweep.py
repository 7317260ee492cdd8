"""``sweeps/default.yaml`` (what ``make report`` runs): its classic cells run at the
application's size with the service model measured there; the cells that model a database of
their own keep their own settings (no kernel started, no server)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalcache.domain.families import FAMILIES
from evalcache.runner import validate_params
from evalcache.runner.params import load_service_model
from evalcache.strategies.registry import strategy_names
from evalcache.sweep import Cell, load_sweep
from evalcache.workload import get_workload

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "sweeps" / "service-model-scale1.yaml"


def test_the_committed_service_model_validates_and_times_every_read_family() -> None:
    p = validate_params({"concurrency": "overlap", "service_model": str(MODEL)})
    # every family the cells it is measured for read (the YCSB scan family is read by
    # ycsb_e only, which no cell runs: its statements take db_ms)
    cells = load_sweep(ROOT / "sweeps" / "default.yaml", root=ROOT).cells
    workloads = {c.params["workload"] for c in cells if not _own_database(c)}
    read = {f for w in workloads for f in FAMILIES if f"read:{f}" in get_workload(w).operations}
    assert read == set(FAMILIES) - {"user_profiles_scan"}
    assert read <= set(p["service_model"]["families"])
    assert p["db_service_ms"] > 0 and p["redis_service_ms"] > 0
    assert p["service_model"]["redis_ops"]["GET"] > 0  # a lookup's own round trip
    header = [line for line in MODEL.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    for needed in ("evalcache run", "--scale 1", "--no-cache", "evalcache calibrate", "CPU"):
        assert needed in text, f"the model file's header does not say {needed!r}"


def _own_database(cell: Cell) -> bool:
    """Cells that model their database themselves, or check the TTL model."""
    return "db_service_ms" in cell.params or cell.params["workload"] == "synthetic"


def test_default_sweep_runs_its_classic_cells_at_scale_1_with_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the model's path is relative to the root, not the cwd
    spec = load_sweep(ROOT / "sweeps" / "default.yaml", root=ROOT)
    model = load_service_model(str(MODEL))
    classic = [c for c in spec.cells if not _own_database(c)]
    assert len(classic) == 9 + 7 + 4  # strategy x TTL grid, other strategies, workloads
    assert {c.params["strategy"] for c in classic} == set(strategy_names())
    assert {c.params["workload"] for c in classic} == {
        "mixed",
        "browse",
        "booking",
        "dashboard",
        "cold_start",
    }
    for c in classic:
        p = validate_params(c.params)
        assert p["scale"] == 1.0, c.name
        assert p["concurrency"] == "overlap", c.name
        assert c.params["service_model"] == model, c.name  # the file's contents, read once
        assert p["db_service_ms"] == model["db_ms"] and p["redis_service_ms"] == model["redis_ms"]
    # `make report` seeds the classic cells' scale, so they copy the seeded database itself
    seeded = re.search(r"^SCALE\s*\?=\s*(\S+)\s*$", (ROOT / "Makefile").read_text(), re.M)
    assert seeded and float(seeded[1]) == 1.0
    own = [c for c in spec.cells if _own_database(c)]
    assert own and all(c.params.get("service_model") is None for c in own)
    load = [c for c in own if c.params.get("db_pool") == 2]
    assert load and all(c.params["scale"] == 0.02 for c in load)
