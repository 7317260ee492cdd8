"""What produced a report's figures, as (field, value) lines for the index.

Taken from the sweep's record (``sweep.json``: code, sweep file, machine, written when the
sweep ran) and the runs' summaries (data scale, seeds, as-of date, server versions), so the
lines describe the sweep behind the figures, not the machine rendering the report; only the
build date is the report's own. A field the record lacks says so (``not recorded``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from evalcache.runner.database import SEED

NOT_RECORDED = "not recorded"
#: The fields :func:`provenance_lines` always gives, in order.
FIELDS: tuple[str, ...] = (
    "git commit",
    "sweep",
    "sweep parameters",
    "data",
    "servers",
    "machine",
    "evalcache",
    "sweep ran",
    "report built",
)
#: Parameters that name where a run went, not what it measured.
_NOT_PARAMETERS = ("param_namespace", "param_results_dir")


def _values(runs: pd.DataFrame, column: str) -> list[str]:
    if column not in runs:
        return []
    return sorted({str(v) for v in runs[column] if v is not None and not pd.isna(v)})


def _joined(values: Iterable[str]) -> str:
    return ", ".join(values) or NOT_RECORDED


def _commit(p: Mapping[str, Any]) -> str:
    commit = p.get("git_commit")
    if not commit:
        return NOT_RECORDED
    dirty = p.get("git_dirty")
    state = (
        "with uncommitted changes"
        if dirty is True
        else "clean"
        if dirty is False
        else "state unknown"
    )
    return f"{commit} ({state})"


def _machine(p: Mapping[str, Any]) -> str:
    m = p.get("machine")
    if not isinstance(m, Mapping):
        return NOT_RECORDED
    ram = m.get("ram_bytes")
    ram_text = f"{ram / 2**30:.1f} GiB RAM" if isinstance(ram, int | float) else "RAM unknown"
    return (
        f"{m.get('cpu_model') or 'CPU unknown'}, {m.get('cores') or '?'} logical cores, "
        f"{ram_text}, {m.get('os') or 'OS unknown'}, Python {m.get('python') or '?'}"
    )


def sweep_parameters(runs: pd.DataFrame) -> str:
    """The runs' parameters: those that vary with their values, then the fixed ones."""
    cols = [c for c in runs.columns if c.startswith("param_") and c not in _NOT_PARAMETERS]
    varied: list[str] = []
    fixed: list[str] = []
    for c in cols:
        vals = _values(runs, c)
        if not vals:
            continue
        name = c.removeprefix("param_")
        (varied if len(vals) > 1 else fixed).append(f"{name} {' | '.join(vals)}")
    return f"varied: {'; '.join(varied) or 'none'}. Fixed: {'; '.join(fixed) or 'none'}."


def provenance_lines(
    record: Mapping[str, Any], runs: pd.DataFrame, built_at: datetime | None = None
) -> list[tuple[str, str]]:
    """(field, value) for each of :data:`FIELDS`, from ``sweep.json`` and the runs."""
    p: Mapping[str, Any] = record.get("provenance") or {}
    earlier = [e for e in record.get("provenance_earlier") or [] if isinstance(e, Mapping)]
    commit = _commit(p)
    older = sorted({_commit(e) for e in earlier} - {commit})
    if older:  # cells of earlier invocations remain in the sweep folder
        commit += f"; cells kept from earlier runs of the sweep: {'; '.join(older)}"
    file = p.get("sweep_file")
    sweep = f"{record.get('name') or '?'} ({len(record.get('cells', []))} cells)"
    if file:
        digest = p.get("sweep_file_sha256")
        sweep += f", file {file} " + (f"(sha256 {digest})" if digest else "(unreadable then)")
    else:
        sweep += ", file not recorded"
    if p.get("only"):
        sweep += f", last run with --only {p['only']}"
    as_of = _values(runs, "data_as_of")
    data = (
        f"scale {_joined(_values(runs, 'param_scale'))}, seeded as of {_joined(as_of)} "
        f"(templates {_joined(_values(runs, 'template_database'))}; data seed {SEED}, the "
        f"runner's and the Makefile's, not stored in the data); workload seed "
        f"{_joined(_values(runs, 'param_seed'))}"
    )
    servers = (
        f"PostgreSQL {_joined(_values(runs, 'postgres_version'))}; "
        f"Redis {_joined(_values(runs, 'redis_version'))}"
    )
    ran = NOT_RECORDED
    if p.get("started_at"):
        ran = f"{p['started_at']} to {p.get('finished_at') or '?'}"
    built = (built_at or datetime.now(UTC)).isoformat(timespec="seconds")
    values = [
        commit,
        sweep,
        sweep_parameters(runs) if len(runs) else NOT_RECORDED,
        data,
        servers,
        _machine(p),
        str(p.get("evalcache_version") or NOT_RECORDED),
        ran,
        built,
    ]
    return list(zip(FIELDS, values, strict=True))


def provenance_json(lines: list[tuple[str, str]]) -> str:
    """The lines as a JSON object (for machines reading the report folder)."""
    return json.dumps(dict(lines), indent=2)
