"""Reading a saved sweep folder: its ``sweep.json`` and its runs as one table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from evalcache.errors import ConfigError
from evalcache.results import load_runs


def read_sweep_record(out: Path) -> dict[str, Any]:
    """The ``sweep.json`` of a sweep folder (a :class:`ConfigError` if there is none)."""
    path = Path(out) / "sweep.json"
    if not path.is_file():
        raise ConfigError("--sweep", f"{out} is not a sweep folder (no sweep.json)")
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def collect(out: Path) -> pd.DataFrame:
    """The runs of the sweep's cells (``evalcache.results.load_runs``) plus their cell.

    Adds ``cell`` and ``cell_status`` columns, and fills ``param_<name>`` from the cell's sweep
    parameters where the run's own summary does not have it. Runs in folders of cells the
    sweep no longer has (an earlier version of the sweep file, re-run into the same folder)
    are left out: they are kept on disk but would mix old and new settings in one report.
    """
    out = Path(out)
    runs = load_runs(out).copy()
    cells = {c["name"]: c for c in read_sweep_record(out).get("cells", [])}
    root = out.resolve()

    def cell_of(folder: Any) -> str | None:
        try:
            first = Path(str(folder)).resolve().relative_to(root).parts[0]
        except (ValueError, IndexError):  # a run outside any cell folder
            return None
        return first if first in cells else None

    runs["cell"] = [cell_of(f) for f in runs["folder"]] if len(runs) else []
    runs = runs[runs["cell"].notna()].reset_index(drop=True)
    runs["cell_status"] = [cells[c]["status"] if c else None for c in runs["cell"]]
    sweep_params = pd.DataFrame(
        [
            {f"param_{k}": v for k, v in cells[c]["params"].items()} if c else {}
            for c in runs["cell"]
        ],
        index=runs.index,
    )
    for col in sweep_params.columns:  # the run's own (normalised) value wins
        runs[col] = runs[col].combine_first(sweep_params[col]) if col in runs else sweep_params[col]
    return runs
