"""Import an application's request log (CSV) as a trace file.

Layout (``docs/traces.md``): a header line naming the columns ``time,op,family,ids`` and
optionally ``detail``, in any order; one request per line after it.

- ``time``: seconds, a number; never going backwards. The trace's ``t`` is measured from the
  first line's time (epoch seconds work).
- ``op``: ``read`` or ``write``.
- ``family``: a read's query family (``user_profile``, ``experts_by_spec``...), or a write's
  type (``user_profile``, ``availability``, ``create_appointment``, ``appointment_status``,
  ``complete_payment``, ``add_review``).
- ``ids``: the ids in the operation's argument order, separated by spaces (a batch read lists
  its users); ``experts_by_spec`` takes the specialization's name; ``dashboard_admin`` none.
  Every batch read of a log has the same number of ids.
- ``detail``: a write's detail where it takes one (``profile|preferences|verification`` for
  ``user_profile``, ``confirmed|cancelled`` for ``appointment_status``), else empty.

Errors name the line (the header is line 1) and the field. Whether the ids exist is checked
when the trace runs, against the database at the run's scale.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from evalcache.errors import ConfigError
from evalcache.workload.spec import OPERATIONS, parse_duration
from evalcache.workload.trace import Trace, TraceMeta, duration_of

COLUMNS: tuple[str, ...] = ("time", "op", "family", "ids", "detail")
REQUIRED: tuple[str, ...] = ("time", "op", "family", "ids")
_READS = sorted(o.family for o in OPERATIONS.values() if o.kind == "read" and o.family)
_WRITES = sorted(n.removeprefix("write:") for n, o in OPERATIONS.items() if o.kind == "write")


def import_log(path: str | os.PathLike[str], *, duration: float | str | None = None) -> Trace:
    """Read a request log in the layout above; ConfigError naming line and field otherwise.

    ``duration``: the log's length in seconds (default: its last request plus one mean gap).
    """
    src = Path(path)
    try:
        text = src.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(src), f"cannot read the log ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(src), f"is not UTF-8 text: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    where = f"{src} line 1"
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        raise ConfigError(
            where,
            f"header must name the columns {', '.join(REQUIRED)} (and optionally detail); "
            f"missing {missing}, unknown {unknown}",
        )
    col = {name: header.index(name) for name in header}
    times: list[float] = []
    op_names: list[str] = []
    rows_ids: list[list[int]] = []
    details: list[str | None] = []
    lines: list[int] = []
    specs: dict[str, int] = {}
    batch: tuple[int, int] | None = None  # (ids per batch read, line that set it)
    for lineno, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        at = f"{src} line {lineno}"
        if len(fields) != len(header):
            raise ConfigError(at, f"has {len(fields)} fields, the header {len(header)}")

        def get(name: str, fields: list[str] = fields) -> str:
            return fields[col[name]].strip() if name in col else ""

        text = get("time")
        try:
            t = float(text)
        except ValueError:
            raise ConfigError(f"{at}: time", f"{text!r} is not a number of seconds") from None
        if not math.isfinite(t):
            raise ConfigError(f"{at}: time", f"{text!r} is not a finite number")
        if times and t < times[-1]:
            raise ConfigError(
                f"{at}: time", f"{t:g} goes backwards (line {lines[-1]} has {times[-1]:g})"
            )
        kind, family = get("op").lower(), get("family")
        if kind not in ("read", "write"):
            raise ConfigError(f"{at}: op", f"{get('op')!r}; accepted: read, write")
        accepted = _READS if kind == "read" else _WRITES
        if family not in accepted:
            raise ConfigError(
                f"{at}: family", f"{family!r} is no {kind}; accepted: {', '.join(accepted)}"
            )
        name = f"{kind}:{family}"
        op = OPERATIONS[name]
        raw = get("ids").split()
        if name == "read:experts_by_spec":
            if len(raw) != 1:
                raise ConfigError(
                    f"{at}: ids", f"experts_by_spec takes 1 specialization name, got {raw}"
                )
            ids = [specs.setdefault(raw[0], len(specs))]
        else:
            try:
                ids = [int(x) for x in raw]
            except ValueError:
                raise ConfigError(
                    f"{at}: ids", f"{get('ids')!r} are not integer ids separated by spaces"
                ) from None
            if op.batch:
                if not ids:
                    raise ConfigError(f"{at}: ids", f"{family} takes at least 1 id, got 0")
                if batch is None:
                    batch = (len(ids), lineno)
                elif len(ids) != batch[0]:
                    raise ConfigError(
                        f"{at}: ids",
                        f"{family} has {len(ids)} ids; every batch read of a log has the "
                        f"same number, {batch[0]} (line {batch[1]})",
                    )
            elif len(ids) != len(op.pools):
                raise ConfigError(
                    f"{at}: ids",
                    f"{name} takes {len(op.pools)} ids ({', '.join(op.pools) or 'none'}), "
                    f"got {len(ids)}",
                )
        detail = get("detail") or None
        if op.details and detail not in op.details:
            raise ConfigError(
                f"{at}: detail",
                f"{detail!r}; {name} takes one of {', '.join(op.details)}",
            )
        if not op.details and detail is not None:
            raise ConfigError(f"{at}: detail", f"{name} takes no detail, got {detail!r}")
        times.append(t)
        op_names.append(name)
        rows_ids.append(ids)
        details.append(detail)
        lines.append(lineno)
    if not times:
        raise ConfigError(str(src), "holds no request after its header")
    t_arr = np.asarray(times, dtype=np.float64) - times[0]
    length = duration_of(t_arr) if duration is None else parse_duration(duration, "duration")
    if length <= t_arr[-1]:
        raise ConfigError(
            "duration", f"{length:g} s does not cover the log's last request at {t_arr[-1]:g} s"
        )
    names = tuple(sorted(set(op_names)))
    index = {n: k for k, n in enumerate(names)}
    batch_size = batch[0] if batch is not None else 10
    nids = [batch_size if OPERATIONS[n].batch else OPERATIONS[n].id_args for n in names]
    width = max(
        [n + (1 if OPERATIONS[o].details else 0) for n, o in zip(nids, names, strict=True)] + [1]
    )
    args = np.full((len(times), width), -1, dtype=np.int64)
    for r, (name, ids, detail) in enumerate(zip(op_names, rows_ids, details, strict=True)):
        args[r, : len(ids)] = ids
        if detail is not None:
            args[r, len(ids)] = OPERATIONS[name].details.index(detail)
    meta = TraceMeta(
        source="import",
        duration_s=float(length),
        batch_size=batch_size,
        specializations=tuple(specs),
        run={"log": str(src), "first_time": times[0]},
    )
    n = len(times)
    return Trace(
        t_arr,
        np.array([index[o] for o in op_names], dtype=np.int16),
        args,
        names,
        meta,
        np.full(n, -1, dtype=np.int8),
        np.full(n, -1, dtype=np.int8),
        None,
        np.asarray(lines, dtype=np.int64),
    )
