"""The sweep file: its YAML, validation, and the cells (named parameter sets) it expands to."""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evalcache.errors import ConfigError

DEFAULT_NOTEBOOK = Path("notebooks/experiment.ipynb")
DEFAULT_REPORTS: tuple[str, ...] = (
    "notebooks/ttl_sweep.ipynb",
    "notebooks/strategies.ipynb",
    "notebooks/load.ipynb",
    "notebooks/workloads.ipynb",
    "notebooks/summary.ipynb",
)

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
    source: str = ""  # the sweep file it was read from ("" for a mapping)


def _fail(path: Path | str, msg: str) -> ConfigError:
    return ConfigError(f"sweep {path}", msg)


def _slug_value(key: str, value: Any) -> Any:
    # a workload given as a file's mapping is named by its name, not its whole text
    if key == "workload" and isinstance(value, Mapping):
        return value.get("name", "workload")
    return value


def cell_name(params: Mapping[str, Any]) -> str:
    """A stable, filesystem-safe folder name: key parameters, then a hash of all of them."""
    parts = [
        f"{'ttl' if k == 'ttl_scale' else ('s' if k == 'seed' else '')}{_slug_value(k, params[k])}"
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
    _check_parameters(notebook, cells, source, root)
    return SweepSpec(
        name=name,
        notebook=notebook,
        cells=tuple(cells),
        jobs=jobs,
        reports=tuple((root / r).resolve() for r in reports),
        description=str(data.get("description", "")),
        source="" if str(source) == "<mapping>" else str(source),
    )


def _check_parameters(
    notebook: Path, cells: Sequence[Cell], source: Path | str, root: Path
) -> None:
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
        from evalcache.runner.params import load_service_model
        from evalcache.workload.files import is_workload_file, read_workload_file
        from evalcache.workload.trace import TRACE_PREFIX, is_trace_workload

        for c in cells:
            try:
                # a model file is read here (paths relative to ``root``, as the notebook's):
                # the notebook runs in notebooks/, and the cell then carries the model itself
                if isinstance(c.params.get("service_model"), str):
                    model = root / c.params["service_model"]
                    c.params["service_model"] = load_service_model(str(model))
                # so is a workload file (a value ending in .yaml/.yml), whose mapping the cell
                # then carries (its folder name keeps the path)
                if is_workload_file(c.params.get("workload")):
                    c.params["workload"] = read_workload_file(root / c.params["workload"])
                workload = c.params.get("workload")
                if isinstance(workload, str) and is_trace_workload(workload):  # as the model's
                    c.params["workload"] = TRACE_PREFIX + str(root / workload[len(TRACE_PREFIX) :])
                validate_params(c.params)
            except ConfigError as exc:
                raise _fail(source, f"cell {c.name}: {exc}") from exc


def run_params(notebook: Path, cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """What each cell's ``experiment.ipynb`` passes to ``evalcache.runner.run``: the
    notebook's ``parameters`` defaults overridden by the cell's values (as papermill injects
    them), without ``results_dir`` and ``None`` values (the notebook leaves those out)."""
    import papermill

    defaults: dict[str, Any] = {}
    for name, info in papermill.inspect_notebook(str(notebook)).items():
        try:
            defaults[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError) as exc:
            raise _fail(
                notebook, f"parameter {name} = {info['default']} is not a literal: {exc}"
            ) from exc
    out = []
    for c in cells:
        params = {**defaults, **c.params}
        params.pop("results_dir", None)
        out.append({k: v for k, v in params.items() if v is not None})
    return out


def load_sweep(path: Path, root: Path | None = None) -> SweepSpec:
    """Read and validate a sweep YAML file (notebook, ``service_model`` and ``workload`` file
    paths relative to ``root``, default cwd)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _fail(path, "file not found") from exc
    except yaml.YAMLError as exc:
        raise _fail(path, f"not valid YAML: {exc}") from exc
    return parse_sweep(data, path, root)
