"""``evalcache sweep``: run a sweep file and print a table of its cells."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from evalcache.sweep.execute import SweepReport, run_sweep
from evalcache.sweep.spec import load_sweep


def _print_summary(report: SweepReport) -> None:
    if report.fresh_baselines is not None:
        streams, deleted = report.fresh_baselines
        print(
            f"fresh baselines: {streams} request stream(s) measured anew "
            f"({deleted} memoised baseline(s) deleted)"
        )
    table = report.table()
    with pd.option_context("display.max_colwidth", 120, "display.width", 200):
        print(table.to_string(index=False) if len(table) else "(no cells)")
    for o in report.failed:
        err = o.error
        where = (
            f"notebook cell {err.cell_index} (In [{err.exec_count}])"
            if err and err.cell_index is not None
            else "kernel start"
        )
        print(
            f"FAILED {o.name} at {where}: {err.ename if err else ''}: "
            f"{err.evalue if err else ''}\n  params: {json.dumps(o.params, default=str)}\n"
            f"  notebook: {o.notebook}"
        )
    print(
        f"{len(report.outcomes) - len(report.failed)}/{len(report.outcomes)} cells ok; "
        f"results in {report.out}"
    )


def _cmd_sweep(args: argparse.Namespace) -> int:
    spec = load_sweep(Path(args.sweep))
    out = Path(args.out) if args.out else Path("runs") / spec.name
    report = run_sweep(
        spec,
        out,
        jobs=args.jobs,
        only=args.only,
        progress=not args.no_progress,
        fresh_baseline=args.fresh_baseline,
    )
    _print_summary(report)
    return 0 if report.ok else 1


def add_cli(subparsers: Any) -> None:
    """Register ``evalcache sweep SWEEP.yaml [--out DIR] [--jobs N] [--only PATTERN]
    [--fresh-baseline]``."""
    p = subparsers.add_parser("sweep", help="execute a YAML grid of notebook runs with papermill")
    p.add_argument("sweep", help="sweep file, e.g. sweeps/default.yaml")
    p.add_argument("--out", help="sweep folder (default: runs/<sweep name>)")
    p.add_argument("--jobs", type=int, help="parallel virtual-mode cells (default: core count)")
    p.add_argument("--only", help="run only cells whose name matches this glob or substring")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--fresh-baseline",
        action="store_true",
        help="measure every stream's cache-off baseline anew (its memo is deleted first; the "
        "stream's other cells reuse the new one)",
    )
    p.set_defaults(func=_cmd_sweep)
