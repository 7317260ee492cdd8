"""TEST-ONLY stand-in for ``evalcache.results`` until the runner engineer's module lands.

It implements ``load_runs`` / ``load_families`` exactly as the results contract documents them,
so that the sweep and report code can be tested against the contract. :func:`install` puts it in
``sys.modules`` **only when the real module cannot be imported**; once ``evalcache/results.py``
exists, the tests use the real one and this file is dead (delete it then).
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd


def _flatten(summary: dict[str, Any], folder: Path) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in summary.items():
        if key == "params":
            row.update({f"param_{k}": v for k, v in value.items()})
        elif key == "latency":
            for outcome, stats in value.items():
                row.update({f"latency_{outcome}_{k}": v for k, v in stats.items()})
        elif key == "redis":
            row.update({f"redis_{k}": v for k, v in value.items()})
        elif key != "families":
            row[key] = value
    row["folder"] = str(folder)
    return row


def load_runs(root: Path) -> pd.DataFrame:
    rows = [
        _flatten(json.loads(p.read_text("utf-8")), p.parent)
        for p in sorted(Path(root).rglob("summary.json"))
    ]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_id", "folder"])


def load_families(root: Path) -> pd.DataFrame:
    rows = []
    for p in sorted(Path(root).rglob("summary.json")):
        s = json.loads(p.read_text("utf-8"))
        for fam, stats in s.get("families", {}).items():
            rows.append(
                {
                    "run_id": s["run_id"],
                    "folder": str(p.parent),
                    "family": fam,
                    **{f"param_{k}": v for k, v in s["params"].items()},
                    **stats,
                }
            )
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["run_id", "folder", "family"])


def install() -> bool:
    """Register the stand-in when ``evalcache.results`` is missing; True if it did."""
    try:
        importlib.import_module("evalcache.results")
        return False
    except ImportError:
        mod = types.ModuleType("evalcache.results")
        mod.load_runs = load_runs  # type: ignore[attr-defined]
        mod.load_families = load_families  # type: ignore[attr-defined]
        mod.__doc__ = "TEST-ONLY stand-in (tests/sweep/results_standin.py)"
        sys.modules["evalcache.results"] = mod
        return True
