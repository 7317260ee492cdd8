"""Executing a sweep: each cell a papermill run, their outcomes, and the sweep's record.

Each cell runs the notebook into ``<out>/<cell>/<notebook>.ipynb`` with ``results_dir`` set to
``<out>/<cell>/results``; its outcome goes to ``<out>/<cell>/cell.json`` and the whole sweep's to
``<out>/sweep.json``, with the provenance of the invocation (:mod:`evalcache.sweep.provenance`:
commit, sweep file, machine). Cells in ``live`` mode run one at a time (they measure latency);
the others run in parallel processes, which import :func:`execute_cell` from this module.
"""

from __future__ import annotations

import fnmatch
import json
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from evalcache.errors import ConfigError
from evalcache.sweep.kernels import kernel_options
from evalcache.sweep.provenance import sweep_provenance
from evalcache.sweep.spec import Cell, SweepSpec, run_params

KERNEL_RETRIES = 2


@dataclass
class CellError:
    """Why a cell failed: the notebook cell (index as in the output notebook) and its error."""

    kind: str  # "cell" (an exception in a notebook cell), "kernel" or "other"
    ename: str
    evalue: str
    cell_index: int | None = None
    exec_count: int | None = None


@dataclass
class CellOutcome:
    """The result of executing one cell."""

    name: str
    params: dict[str, Any]
    status: str  # "ok" or "failed"
    notebook: str
    results_dir: str
    attempts: int = 1
    elapsed_s: float = 0.0
    error: CellError | None = None


@dataclass
class SweepReport:
    """Every cell's outcome; ``ok`` is false when any cell failed."""

    name: str
    out: Path
    outcomes: list[CellOutcome] = field(default_factory=list)
    #: ``fresh_baseline``: (streams, memos deleted) before the cells ran; ``None`` otherwise.
    fresh_baselines: tuple[int, int] | None = None

    @property
    def failed(self) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def table(self) -> pd.DataFrame:
        """One row per cell: name, status, attempts, seconds, and the failing notebook cell."""
        rows = []
        for o in self.outcomes:
            err = o.error
            rows.append(
                {
                    "cell": o.name,
                    "status": o.status,
                    "attempts": o.attempts,
                    "elapsed_s": round(o.elapsed_s, 1),
                    "failed_cell": "" if err is None or err.cell_index is None else err.cell_index,
                    "error": "" if err is None else f"{err.ename}: {err.evalue}"[:120],
                }
            )
        return pd.DataFrame(
            rows, columns=["cell", "status", "attempts", "elapsed_s", "failed_cell", "error"]
        )


def _executed_cells(nb_path: Path) -> int:
    import nbformat

    try:
        nb = nbformat.read(nb_path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception:  # a missing or half-written notebook: nothing ran
        return 0
    return sum(1 for c in nb.cells if c.get("execution_count") is not None)


def execute_cell(notebook: str, cell: Cell, out: str, progress: bool = False) -> CellOutcome:
    """Execute one cell (in this process; the kernel is its own process). Never raises."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from papermill.exceptions import PapermillExecutionError

    folder = Path(out) / cell.name
    folder.mkdir(parents=True, exist_ok=True)
    nb_out = folder / Path(notebook).name
    results_dir = folder / "results"
    params = {**cell.params, "results_dir": str(results_dir.resolve())}
    outcome = CellOutcome(cell.name, dict(cell.params), "ok", str(nb_out), str(results_dir))
    start = time.perf_counter()
    for attempt in range(1, KERNEL_RETRIES + 2):
        outcome.attempts = attempt
        try:
            papermill.execute_notebook(
                notebook,
                str(nb_out),
                parameters=params,
                progress_bar=progress,
                cwd=str(Path(notebook).resolve().parent),
                **kernel_options(),
            )
            outcome.status, outcome.error = "ok", None
            break
        except PapermillExecutionError as exc:  # an error in a notebook cell: never retried
            outcome.status = "failed"
            outcome.error = CellError(
                "cell", exc.ename, str(exc.evalue), exc.cell_index, exc.exec_count
            )
            break
        except NoSuchKernel as exc:
            outcome.status, outcome.error = "failed", CellError("kernel", "NoSuchKernel", str(exc))
            break
        except Exception as exc:  # kernel start/death: retry only if no notebook cell ran
            outcome.status = "failed"
            kind = "kernel" if _executed_cells(nb_out) == 0 else "other"
            outcome.error = CellError(kind, type(exc).__name__, str(exc))
            if kind != "kernel":
                break
    outcome.elapsed_s = time.perf_counter() - start
    record = {**asdict(outcome), "notebook_source": str(notebook)}
    (folder / "cell.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    return outcome


def run_sweep(
    spec: SweepSpec,
    out: Path,
    *,
    jobs: int | None = None,
    only: str | None = None,
    progress: bool = True,
    fresh_baseline: bool = False,
) -> SweepReport:
    """Execute every cell of ``spec`` (or those whose name matches the glob ``only``).

    ``fresh_baseline``: first delete the memoised cache-off baselines of the cells' request
    streams, so each stream's baseline is measured anew by the sweep's first cell of it and
    reused by the others (see :func:`forget_cell_baselines`).
    """
    if fresh_baseline and spec.notebook.name != "experiment.ipynb":
        raise ConfigError(
            "--fresh-baseline",
            f"applies to sweeps of experiment.ipynb (run parameters), not {spec.notebook.name}",
        )
    cells = list(spec.cells)
    if only:
        cells = [c for c in cells if fnmatch.fnmatch(c.name, only) or only in c.name]
        if not cells:
            raise ConfigError(
                "--only",
                f"{only!r} matches no cell; cells: {', '.join(c.name for c in spec.cells)}",
            )
    jobs = jobs or spec.jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError("--jobs", f"must be a positive integer, got {jobs}")
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    report = SweepReport(spec.name, out)
    if fresh_baseline:
        report.fresh_baselines = forget_cell_baselines(spec.notebook, cells)
    notebook = str(spec.notebook.resolve())
    virtual = [c for c in cells if not c.live]
    live = [c for c in cells if c.live]
    done: dict[str, CellOutcome] = {}
    with tqdm(
        total=len(cells), desc=f"sweep {spec.name}", unit="cell", disable=not progress
    ) as bar:
        if jobs > 1 and len(virtual) > 1:
            # spawn, not fork: the parent may hold threads (tqdm) and zmq sockets.
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(jobs, len(virtual)), mp_context=ctx) as pool:
                futures: list[Future[CellOutcome]] = [
                    pool.submit(execute_cell, notebook, c, str(out)) for c in virtual
                ]
                for fut in futures:
                    o = fut.result()
                    done[o.name] = o
                    bar.update(1)
        else:
            for c in virtual:
                done[c.name] = execute_cell(notebook, c, str(out))
                bar.update(1)
        for c in live:  # latency-measuring cells: one at a time, nothing else running
            done[c.name] = execute_cell(notebook, c, str(out))
            bar.update(1)
    report.outcomes = [done[c.name] for c in cells]
    _write_sweep_record(spec, report, sweep_provenance(spec.source, started, only))
    return report


def forget_cell_baselines(notebook: Path, cells: list[Cell]) -> tuple[int, int]:
    """Delete the memoised baselines of the cells' streams; (streams, memos deleted).

    Deleting the memos once, rather than passing ``fresh_baseline`` to every cell, measures
    each stream once per sweep: the cells of one stream (strategies x TTLs) run in parallel,
    the first takes the stream's lock and measures, the others wait for it and reuse that
    baseline, as they would without the flag. Forcing every cell would measure a stream's
    baseline once per cell (16 times for the default sweep's mixed workload).
    """
    from evalcache.runner import forget_baselines  # the runner loads the drivers

    return forget_baselines(run_params(notebook, cells))


def _write_sweep_record(
    spec: SweepSpec, report: SweepReport, provenance: dict[str, Any] | None = None
) -> None:
    """Write ``sweep.json``: the sweep, every cell's outcome and this invocation's
    provenance; the provenance of earlier invocations stays while cells they ran remain."""
    path = report.out / "sweep.json"
    old: dict[str, Any] = {}
    if path.is_file():  # an --only rerun keeps the other cells' records
        old = json.loads(path.read_text("utf-8"))
    previous = {c["name"]: c for c in old.get("cells", [])}
    kept_old_cells = bool(set(previous) - {o.name for o in report.outcomes})
    for o in report.outcomes:
        previous[o.name] = asdict(o)
    earlier: list[Any] = []
    if kept_old_cells and old.get("provenance"):
        earlier = [*old.get("provenance_earlier", []), old["provenance"]]
    record = {
        "name": spec.name,
        "notebook": str(spec.notebook),
        "description": spec.description,
        "reports": [str(p) for p in spec.reports],
        "cells": list(previous.values()),
        "provenance": provenance,
        "provenance_earlier": earlier,
    }
    path.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
