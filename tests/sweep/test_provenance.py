"""``sweep.json`` records what ran the sweep: commit, sweep file, machine, evalcache version."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import evalcache
from evalcache.sweep import Cell, CellOutcome, load_sweep, run_sweep
from evalcache.sweep import execute as sweep_execute
from evalcache.sweep.provenance import PROJECT_ROOT, file_digest, git_state

from .fake_runs import NOTEBOOK


def _fake_execute(notebook: str, cell: Cell, out: str, progress: bool = False) -> Any:
    return CellOutcome(cell.name, cell.params, "ok", "", "")


def test_sweep_record_holds_the_provenance_of_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep_execute, "execute_cell", _fake_execute)
    file = tmp_path / "p.yaml"
    file.write_text(
        yaml.safe_dump({"name": "p", "notebook": str(NOTEBOOK), "grid": {"seed": [1, 2]}})
    )
    spec = load_sweep(file)
    assert spec.source == str(file)
    out = tmp_path / "out"
    run_sweep(spec, out, jobs=1, progress=False)
    record = json.loads((out / "sweep.json").read_text())
    p = record["provenance"]
    head = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert p["git_commit"] == head and isinstance(p["git_dirty"], bool)
    assert p["sweep_file"] == str(file) and p["sweep_file_sha256"] == file_digest(file)
    assert p["evalcache_version"] == evalcache.__version__
    assert p["machine"]["cores"] == os.cpu_count() and p["machine"]["ram_bytes"] > 0
    assert p["machine"]["cpu_model"] and p["machine"]["os"]
    assert p["started_at"] <= p["finished_at"] and p["only"] is None
    assert record["provenance_earlier"] == []

    # --only: the other cell's figures came from the first invocation, whose provenance stays
    run_sweep(spec, out, jobs=1, only="*s2*", progress=False)
    again = json.loads((out / "sweep.json").read_text())
    assert again["provenance"]["only"] == "*s2*"
    assert again["provenance_earlier"] == [p]
    # a full rerun replaces every cell: nothing earlier remains
    run_sweep(spec, out, jobs=1, progress=False)
    assert json.loads((out / "sweep.json").read_text())["provenance_earlier"] == []


def test_git_state_outside_a_checkout_is_unknown(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    state = git_state()
    assert state["commit"] is not None and len(state["commit"]) == 40
