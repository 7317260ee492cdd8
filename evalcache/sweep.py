"""Parameter sweeps: a YAML grid of notebook runs executed with papermill.

A sweep file looks like::

    name: default
    notebook: notebooks/experiment.ipynb   # the default
    base: {mode: virtual, duration_s: 600, scale: 0.1}
    grid: {strategy: [seed, tags], ttl_scale: [0.25, 1, 4]}   # cartesian product
    cells: [{workload: booking, strategy: tags}]               # appended as given
    jobs: 2                                                    # optional, default: cores

Each cell runs the notebook into ``<out>/<cell>/<notebook>.ipynb`` with ``results_dir`` set to
``<out>/<cell>/results``; its outcome goes to ``<out>/<cell>/cell.json`` and the whole sweep's to
``<out>/sweep.json``. Cells in ``live`` mode run one at a time (they measure latency); the others
run in parallel processes. :func:`collect` turns a sweep folder into one pandas table.

Example
-------
>>> spec = load_sweep(Path("sweeps/ci.yaml"))          # doctest: +SKIP
>>> report = run_sweep(spec, Path("runs/ci"))           # doctest: +SKIP
>>> collect(Path("runs/ci"))[["cell", "hit_rate"]]      # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from tqdm import tqdm

from evalcache.errors import ConfigError
from evalcache.results import load_runs

DEFAULT_NOTEBOOK = Path("notebooks/experiment.ipynb")
DEFAULT_REPORTS: tuple[str, ...] = (
    "notebooks/ttl_sweep.ipynb",
    "notebooks/strategies.ipynb",
    "notebooks/workloads.ipynb",
    "notebooks/summary.ipynb",
)
KERNEL_NAME = "python3"
KERNEL_RETRIES = 2


def kernel_options() -> dict[str, Any]:
    """papermill options shared by every notebook evalcache executes.

    On POSIX kernels talk over Unix sockets in a private folder: no TCP ports taken, no
    ipykernel warning about unencrypted TCP on every run, and parallel cells never pick the
    same socket names (jupyter_client's default ipc prefix is shared by a working directory).
    A finished kernel is shut down without the interrupt jupyter_client sends first.
    """
    options: dict[str, Any] = {"kernel_name": KERNEL_NAME}
    if os.name == "posix":
        options["kernel_manager_class"] = _ipc_kernel_manager()
    return options


@functools.cache  # one class for every notebook run in this process
def _ipc_kernel_manager() -> type:
    import shutil
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):  # type: ignore[misc]
        @default("transport")
        def _transport_ipc(self) -> str:
            return "ipc"

        def _ip_default(self) -> str:
            return os.path.join(tempfile.mkdtemp(prefix="evalcache-kernel-"), "ipc")

        async def _async_interrupt_kernel(self) -> None:
            # Shutdown interrupts first, and the kernel may still be between its last reply
            # and restoring SIG_IGN: the signal then logs "KeyboardInterrupt caught in
            # kernel". The shutdown request (then SIGTERM, SIGKILL) stops it anyway.
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:  # a restarted kernel binds the same socket paths again
                shutil.rmtree(os.path.dirname(self.ip), ignore_errors=True)

    return IPCKernelManager


_KEYS = ("name", "notebook", "base", "grid", "cells", "jobs", "reports", "description")
_SLUG_KEYS = ("workload", "strategy", "ttl_scale", "mode", "seed")


@dataclass(frozen=True)
class Cell:
    """One notebook execution of a sweep: its folder name and its parameters."""

    name: str
    params: dict[str, Any]

    @property
    def live(self) -> bool:
        return self.params.get("mode") == "live"


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep file. Build with :func:`load_sweep` or :func:`parse_sweep`."""

    name: str
    notebook: Path
    cells: tuple[Cell, ...]
    jobs: int | None = None
    reports: tuple[Path, ...] = tuple(Path(p) for p in DEFAULT_REPORTS)
    description: str = ""


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


def _fail(path: Path | str, msg: str) -> ConfigError:
    return ConfigError(f"sweep {path}", msg)


def cell_name(params: Mapping[str, Any]) -> str:
    """A stable, filesystem-safe folder name: key parameters, then a hash of all of them."""
    parts = [
        f"{'ttl' if k == 'ttl_scale' else ('s' if k == 'seed' else '')}{params[k]}"
        for k in _SLUG_KEYS
        if k in params
    ]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts)).strip("-_") or "cell"
    digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()
    return f"{slug[:80]}-{digest[:6]}"


def parse_sweep(data: Any, source: Path | str = "<mapping>", root: Path | None = None) -> SweepSpec:
    """Validate a sweep mapping; every problem is a :class:`ConfigError` naming the key."""
    if not isinstance(data, Mapping):
        raise _fail(
            source, f"must be a mapping with keys {', '.join(_KEYS)}, got {type(data).__name__}"
        )
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise _fail(
            source, f"unknown key(s) {', '.join(map(str, unknown))}; known: {', '.join(_KEYS)}"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(source, "'name' is required and must be a non-empty string")
    root = Path(".") if root is None else root
    notebook = root / str(data.get("notebook", DEFAULT_NOTEBOOK))
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise _fail(source, f"'notebook' {notebook} is not an existing .ipynb file")
    base = data.get("base") or {}
    if not isinstance(base, Mapping):
        raise _fail(source, "'base' must be a mapping of parameter -> value")
    grid = data.get("grid")
    explicit = data.get("cells") or []
    if grid is None and not explicit:
        raise _fail(source, "needs a 'grid' (parameter -> list of values) or 'cells'")
    grid = {} if grid is None else grid
    if not isinstance(grid, Mapping) or (not grid and not explicit):
        raise _fail(source, "'grid' must be a non-empty mapping of parameter -> list of values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise _fail(source, f"grid value for {key!r} must be a non-empty list, got {values!r}")
    if not isinstance(explicit, list) or not all(isinstance(c, Mapping) for c in explicit):
        raise _fail(source, "'cells' must be a list of parameter mappings")
    jobs = data.get("jobs")
    if jobs is not None and (not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1):
        raise _fail(source, f"'jobs' must be a positive integer, got {jobs!r}")
    reports = data.get("reports", list(DEFAULT_REPORTS))
    if not isinstance(reports, list) or not all(isinstance(r, str) for r in reports):
        raise _fail(source, "'reports' must be a list of notebook paths")

    combos = [dict(zip(grid, vals, strict=True)) for vals in itertools.product(*grid.values())]
    all_params = [{**base, **c} for c in (combos if grid else [])]
    all_params += [{**base, **c} for c in explicit]
    cells: list[Cell] = []
    seen: dict[str, int] = {}
    for i, params in enumerate(all_params):
        if "results_dir" in params:
            raise _fail(source, f"cell {i}: 'results_dir' is set by the sweep; remove it")
        c = Cell(cell_name(params), dict(params))
        if c.name in seen:
            raise _fail(source, f"cells {seen[c.name]} and {i} have identical parameters {params}")
        seen[c.name] = i
        cells.append(c)
    _check_parameters(notebook, cells, source)
    return SweepSpec(
        name=name,
        notebook=notebook,
        cells=tuple(cells),
        jobs=jobs,
        reports=tuple((root / r).resolve() for r in reports),
        description=str(data.get("description", "")),
    )


def _check_parameters(notebook: Path, cells: Sequence[Cell], source: Path | str) -> None:
    """Reject parameters the notebook does not declare (papermill would only warn)."""
    import papermill

    declared = set(papermill.inspect_notebook(str(notebook)))
    for c in cells:
        unknown = sorted(set(c.params) - declared)
        if unknown:
            raise _fail(
                source,
                f"cell {c.name}: {notebook.name} has no parameter(s) "
                f"{', '.join(unknown)}; declared: {', '.join(sorted(declared))}",
            )
    if notebook.name == "experiment.ipynb":
        # imported here: the runner loads the database and Redis drivers, other notebooks
        # do not need it
        from evalcache.runner import validate_params

        for c in cells:
            try:
                validate_params(c.params)
            except ConfigError as exc:
                raise _fail(source, f"cell {c.name}: {exc}") from exc


def load_sweep(path: Path, root: Path | None = None) -> SweepSpec:
    """Read and validate a sweep YAML file (notebook paths relative to ``root``, default cwd)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _fail(path, "file not found") from exc
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML: {exc}") from exc
    return parse_sweep(data, path, root)


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
) -> SweepReport:
    """Execute every cell of ``spec`` (or those whose name matches the glob ``only``)."""
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
    report = SweepReport(spec.name, out)
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
    _write_sweep_record(spec, report)
    return report


def _write_sweep_record(spec: SweepSpec, report: SweepReport) -> None:
    path = report.out / "sweep.json"
    previous: dict[str, Any] = {}
    if path.is_file():  # an --only rerun keeps the other cells' records
        previous = {c["name"]: c for c in json.loads(path.read_text("utf-8")).get("cells", [])}
    for o in report.outcomes:
        previous[o.name] = asdict(o)
    record = {
        "name": spec.name,
        "notebook": str(spec.notebook),
        "description": spec.description,
        "reports": [str(p) for p in spec.reports],
        "cells": list(previous.values()),
    }
    path.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")


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


def _print_summary(report: SweepReport) -> None:
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
    report = run_sweep(spec, out, jobs=args.jobs, only=args.only, progress=not args.no_progress)
    _print_summary(report)
    return 0 if report.ok else 1


def add_cli(subparsers: Any) -> None:
    """Register ``evalcache sweep SWEEP.yaml [--out DIR] [--jobs N] [--only PATTERN]``."""
    p = subparsers.add_parser("sweep", help="execute a YAML grid of notebook runs with papermill")
    p.add_argument("sweep", help="sweep file, e.g. sweeps/default.yaml")
    p.add_argument("--out", help="sweep folder (default: runs/<sweep name>)")
    p.add_argument("--jobs", type=int, help="parallel virtual-mode cells (default: core count)")
    p.add_argument("--only", help="run only cells whose name matches this glob or substring")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)
