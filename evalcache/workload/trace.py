"""Request traces: a run's request stream (and its outcomes) as a Parquet file, and a request
source that replays one.

A trace file holds one row per request in arrival order (schema in ``docs/traces.md``):
virtual time, operation, read family, ids, write detail, and, when a run recorded it, each
request's outcome. Its metadata (JSON under :data:`META_KEY`) names everything the rows index,
so the file stands alone: the operations and their details, the specialization names the
``experts_by_spec`` ids index, the id pool sizes, TTLs, value sizes and the run it came from.

:class:`TraceSource` has the generator's interface (``batches()``, ``key_rates``,
``popularity``, ``spec``, ``duration_s``), so the runner, the ideal cache and the model read a
trace exactly as they read a generated stream: run parameter ``workload: "trace:PATH"``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload.generator import RequestBatch, stream_digest
from evalcache.workload.spec import OPERATIONS, WorkloadSpec, parse_duration

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: ``workload`` parameter prefix of a trace: ``trace:PATH``.
TRACE_PREFIX = "trace:"
#: Parquet schema metadata key holding the trace's JSON metadata.
META_KEY = b"evalcache.trace"
TRACE_FORMAT = 1
TRACE_FILE = "trace.parquet"
#: Outcome names (the executor's trace codes by name, ``evalcache.runner.serve``).
OUTCOMES: tuple[str, ...] = ("hit", "miss", "uncached", "write", "error", "noop")
#: Requests per batch a trace source yields (does not change the stream).
CHUNK = 65_536

SCHEMA = pa.schema(
    [
        pa.field("t", pa.float64(), nullable=False),
        pa.field("op", pa.dictionary(pa.int16(), pa.string()), nullable=False),
        pa.field("family", pa.dictionary(pa.int16(), pa.string())),
        pa.field("ids", pa.list_(pa.int64()), nullable=False),
        pa.field("detail", pa.dictionary(pa.int16(), pa.string())),
        pa.field("outcome", pa.dictionary(pa.int8(), pa.string())),
        pa.field("read_outcome", pa.dictionary(pa.int8(), pa.string())),
        pa.field("invalidates", pa.list_(pa.string())),
        pa.field("line", pa.int64()),
    ]
)


def is_trace_workload(name: str) -> bool:
    """Whether a ``workload`` parameter names a trace file (``trace:PATH``)."""
    return isinstance(name, str) and name.startswith(TRACE_PREFIX)


def trace_path(name: str) -> Path:
    """The file a ``trace:PATH`` workload names (a run folder stands for its trace.parquet)."""
    path = Path(name[len(TRACE_PREFIX) :] if is_trace_workload(name) else name)
    return path / TRACE_FILE if path.is_dir() else path


@dataclass(frozen=True)
class TraceMeta:
    """What a trace's rows need to be read alone (the file's JSON metadata).

    Attributes
    ----------
    source: ``run`` (recorded by a run) or ``import`` (an application log).
    duration_s: the stream's length in virtual seconds (every ``t`` is below it).
    warmup_s: the recorded run's warm-up (``None``: imported; the runner's default applies).
    cold_start, batch_size: the workload's flags the runner reads.
    specializations: names the ``experts_by_spec`` ids index.
    pool_sizes: id pool -> size in the database the trace was recorded on (the fit's key
        space); empty for an import.
    origin: the clock's time (epoch s) at ``t`` = 0 (the default expert-appointments window
        follows the clock's day); ``None`` for an import.
    admin_id: the admin whose dashboard the run cached.
    ttl: TTL setting -> effective seconds (scale and overrides applied), ``negative`` included.
    value_bytes: read family -> mean stored bytes per entry, as the run measured them.
    run: the recording run's ``params``, ``run_id``, ``outcome_digest``, ``hit_rate``...
    """

    source: str
    duration_s: float
    warmup_s: float | None = None
    cold_start: bool = False
    batch_size: int = 10
    specializations: tuple[str, ...] = ()
    pool_sizes: Mapping[str, int] = field(default_factory=dict)
    origin: float | None = None
    admin_id: int | None = None
    ttl: Mapping[str, float] = field(default_factory=dict)
    value_bytes: Mapping[str, float] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        ops = {
            name: {"kind": op.kind, "family": op.family, "pools": list(op.pools),
                   "details": list(op.details), "batch": op.batch}
            for name, op in OPERATIONS.items()
        }  # fmt: skip
        return {
            "format": TRACE_FORMAT,
            "source": self.source,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "cold_start": self.cold_start,
            "batch_size": self.batch_size,
            "specializations": list(self.specializations),
            "pool_sizes": dict(self.pool_sizes),
            "origin": self.origin,
            "admin_id": self.admin_id,
            "ttl": dict(self.ttl),
            "value_bytes": dict(self.value_bytes),
            "run": dict(self.run),
            "operations": ops,
            "outcomes": list(OUTCOMES),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> TraceMeta:
        if data.get("format") != TRACE_FORMAT:
            raise ConfigError(
                where, f"trace format {data.get('format')!r}; this evalcache reads {TRACE_FORMAT}"
            )
        try:
            return cls(
                source=str(data["source"]),
                duration_s=float(data["duration_s"]),
                warmup_s=None if data.get("warmup_s") is None else float(data["warmup_s"]),
                cold_start=bool(data.get("cold_start", False)),
                batch_size=int(data.get("batch_size", 10)),
                specializations=tuple(str(s) for s in data.get("specializations", ())),
                pool_sizes={str(k): int(v) for k, v in (data.get("pool_sizes") or {}).items()},
                origin=None if data.get("origin") is None else float(data["origin"]),
                admin_id=None if data.get("admin_id") is None else int(data["admin_id"]),
                ttl={str(k): float(v) for k, v in (data.get("ttl") or {}).items()},
                value_bytes={str(k): float(v) for k, v in (data.get("value_bytes") or {}).items()},
                run=dict(data.get("run") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(where, f"malformed trace metadata: {exc!r}") from None


@dataclass(frozen=True)
class Trace:
    """A trace in memory: the request arrays (as :class:`RequestBatch` holds them), outcomes
    and metadata.

    ``op`` indexes ``op_names``; ``args`` are the ids then the detail index into the op's
    ``details`` (``OPERATIONS``), -1 where unused; ``experts_by_spec`` ids index
    ``meta.specializations``. ``outcome`` / ``read_outcome`` index :data:`OUTCOMES` (-1: not
    recorded). ``invalidates``: a write's dependency groups (``None`` when not recorded).
    ``line``: the source log's line of each row (imports), else ``None``.
    """

    t: FloatArray
    op: npt.NDArray[np.int16]
    args: IntArray
    op_names: tuple[str, ...]
    meta: TraceMeta
    outcome: npt.NDArray[np.int8]
    read_outcome: npt.NDArray[np.int8]
    invalidates: Sequence[Sequence[str] | None] | None = None
    line: IntArray | None = None

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def op_nids(self) -> tuple[int, ...]:
        return tuple(
            self.meta.batch_size if OPERATIONS[o].batch else OPERATIONS[o].id_args
            for o in self.op_names
        )

    @property
    def op_details(self) -> tuple[tuple[str, ...], ...]:
        return tuple(OPERATIONS[o].details for o in self.op_names)

    def where(self, row: int) -> str:
        """How an error names a row: the source log's line when imported, else the row."""
        if self.line is not None:  # imported: the log's line
            return f"{self.meta.run.get('log', 'log')} line {int(self.line[row])}"
        return f"trace row {row + 1}"

    def op_counts(self) -> dict[str, int]:
        counts = np.bincount(self.op, minlength=len(self.op_names))
        return {name: int(c) for name, c in zip(self.op_names, counts, strict=True) if c}


# -- writing and reading ---------------------------------------------------------------------
def trace_table(trace: Trace) -> pa.Table:
    """The trace as an Arrow table with :data:`SCHEMA` and its metadata."""
    n = len(trace)
    names = trace.op_names
    op_kind = [OPERATIONS[o] for o in names]
    nids = trace.op_nids
    details = trace.op_details
    ops = trace.op.astype(np.int64)
    width = trace.args.shape[1] if trace.args.ndim == 2 else 0
    # ids as a list column: each row's first ``nids`` args, flattened row by row, and offsets
    counts = np.asarray(nids, dtype=np.int64)[ops] if n else np.zeros(0, np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    values = trace.args[np.arange(width)[None, :] < counts[:, None]] if width else np.zeros(0)
    ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.int64()))
    fam_names = sorted({o.family for o in op_kind if o.family is not None})
    fam_idx = np.array(
        [fam_names.index(o.family) if o.family is not None else -1 for o in op_kind] or [-1],
        dtype=np.int16,
    )[ops] if n else np.zeros(0, np.int16)  # fmt: skip
    detail_names = sorted({d for ds in details for d in ds})
    det_map = np.full((len(names) or 1, max([len(d) for d in details] + [1])), -1, np.int16)
    for k, ds in enumerate(details):
        for j, d in enumerate(ds):
            det_map[k, j] = detail_names.index(d)
    det_col = np.full(n, -1, dtype=np.int16)
    for k, ds in enumerate(details):
        if ds:
            idx = np.flatnonzero(trace.op == k)
            det_col[idx] = det_map[k, trace.args[idx, nids[k]]]

    def dictionary(codes: npt.NDArray[Any], words: Sequence[str], kind: pa.DataType) -> pa.Array:
        mask_ = codes < 0
        return pa.DictionaryArray.from_arrays(
            pa.array(np.where(mask_, 0, codes), type=kind, mask=mask_),
            pa.array(list(words), type=pa.string()),
        )

    columns = [
        pa.array(trace.t, type=pa.float64()),
        dictionary(trace.op.astype(np.int16), names, pa.int16()),
        dictionary(fam_idx, fam_names, pa.int16()),
        ids,
        dictionary(det_col, detail_names, pa.int16()),
        dictionary(trace.outcome.astype(np.int8), OUTCOMES, pa.int8()),
        dictionary(trace.read_outcome.astype(np.int8), OUTCOMES, pa.int8()),
        pa.array(
            trace.invalidates if trace.invalidates is not None else [None] * n,
            type=pa.list_(pa.string()),
        ),
        pa.array(trace.line if trace.line is not None else [None] * n, type=pa.int64()),
    ]
    table = pa.Table.from_arrays(columns, schema=SCHEMA)
    meta = json.dumps(trace.meta.to_json(), sort_keys=True).encode()
    return table.replace_schema_metadata({META_KEY: meta})


def write_trace(trace: Trace | pa.Table, path: str | os.PathLike[str]) -> Path:
    """Write a trace file (zstd-compressed Parquet); return its path."""
    table = trace if isinstance(trace, pa.Table) else trace_table(trace)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(out)
    return out


def read_trace(path: str | os.PathLike[str]) -> Trace:
    """Read a trace file (cached per path, size and modification time)."""
    p = trace_path(str(path))
    try:
        st = p.stat()
    except OSError as exc:
        raise ConfigError(
            "workload",
            f"trace {str(p)!r} cannot be read ({exc.strerror}); accepted: trace:PATH of a "
            "trace.parquet (or a run folder holding one)",
        ) from None
    return _read_trace(str(p.resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_trace(path: str, size: int, mtime_ns: int) -> Trace:
    where = f"trace {path!r}"
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ConfigError(where, f"not a Parquet trace file: {exc}") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise ConfigError(where, "has no evalcache trace metadata; write it with evalcache")
    meta = TraceMeta.from_json(json.loads(raw), where)
    missing = [c for c in ("t", "op", "ids") if c not in table.column_names]
    if missing:
        raise ConfigError(where, f"missing columns {missing}")
    n = table.num_rows
    t = table.column("t").to_numpy().astype(np.float64)
    op_text = table.column("op").cast(pa.string()).to_pylist()
    op_names = tuple(sorted(set(op_text)))
    for name in op_names:
        if name not in OPERATIONS:
            raise UnknownNameError("operation", name, OPERATIONS)
    lookup = {name: k for k, name in enumerate(op_names)}
    op = np.fromiter((lookup[o] for o in op_text), dtype=np.int16, count=n)
    ids_col = table.column("ids").combine_chunks()
    offsets = ids_col.offsets.to_numpy()
    flat = ids_col.values.to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.diff(offsets)
    tmp = Trace(t, op, np.zeros((n, 0), np.int64), op_names, meta,
                np.zeros(0, np.int8), np.zeros(0, np.int8))  # fmt: skip
    nids, details = tmp.op_nids, tmp.op_details
    want = np.asarray(nids, dtype=np.int64)[op.astype(np.int64)] if n else lengths
    bad = np.flatnonzero(lengths != want)
    if bad.size:
        r = int(bad[0])
        raise ConfigError(
            f"{where} row {r + 1}: ids",
            f"{op_names[op[r]]} takes {want[r]} ids, got {lengths[r]}",
        )
    width = max([n_ + (1 if d else 0) for n_, d in zip(nids, details, strict=True)] + [1])
    args = np.full((n, width), -1, dtype=np.int64)
    if n:
        rows = np.repeat(np.arange(n), lengths)
        cols = np.arange(flat.size) - np.repeat(offsets[:-1], lengths)
        args[rows, cols] = flat
    if any(details):
        det_text = (
            table.column("detail").cast(pa.string()).to_pylist()
            if "detail" in table.column_names
            else [None] * n
        )
        for k, ds in enumerate(details):
            if not ds:
                continue
            for r in np.flatnonzero(op == k).tolist():
                d = det_text[r]
                if d not in ds:
                    raise ConfigError(
                        f"{where} row {r + 1}: detail",
                        f"{d!r} is not a detail of {op_names[k]}; accepted: {', '.join(ds)}",
                    )
                args[r, nids[k]] = ds.index(d)

    def codes(column: str) -> npt.NDArray[np.int8]:
        if column not in table.column_names:
            return np.full(n, -1, dtype=np.int8)
        words = table.column(column).cast(pa.string()).to_pylist()
        return np.array([OUTCOMES.index(w) if w is not None else -1 for w in words], np.int8)

    inval = table.column("invalidates").to_pylist() if "invalidates" in table.column_names else None
    line = None
    if "line" in table.column_names and table.column("line").null_count < n:
        line = table.column("line").fill_null(0).to_numpy().astype(np.int64)
    if n and (not np.all(np.isfinite(t)) or np.any(np.diff(t) < 0) or t[0] < 0):
        raise ConfigError(where, "times must be finite, >= 0 and in arrival order")
    if n and t[-1] >= meta.duration_s:
        raise ConfigError(where, f"a request at t={t[-1]} is past duration_s {meta.duration_s}")
    return Trace(t, op, args, op_names, meta, codes("outcome"), codes("read_outcome"),
                 inval, line)  # fmt: skip


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (16 hex digits) of a trace file's bytes (a baseline memo's stream identity)."""
    h = hashlib.sha256()
    with open(trace_path(str(path)), "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


# -- the workload a trace stands for ----------------------------------------------------------
#: Workload overrides a trace cannot take (its mix, skew and rate are the file's).
REFUSED_OVERRIDES: tuple[str, ...] = ("rate", "skew", "write_ratio")


def trace_spec(
    name: str, *, duration: float | str | None = None, trace: Trace | None = None
) -> WorkloadSpec:
    """The :class:`WorkloadSpec` a trace stands for: its operations weighted by their counts,
    its write share, rate and duration, and the recorded run's flags.

    ``duration`` truncates the trace to its first seconds (it cannot extend it).
    """
    tr = trace if trace is not None else read_trace(trace_path(name))
    limit = tr.meta.duration_s
    if duration is not None:
        d = parse_duration(duration, "duration_s")
        if d > limit:
            raise ConfigError(
                "duration_s",
                f"{d:g} s is longer than the trace ({limit:g} s); accepted: up to {limit:g}",
            )
        limit = d
    n = int(np.searchsorted(tr.t, limit, side="left"))
    counts = np.bincount(tr.op[:n], minlength=len(tr.op_names))
    ops = {o: float(c) for o, c in zip(tr.op_names, counts, strict=True) if c}
    if not ops:
        raise ConfigError(name, f"has no request in its first {limit:g} s")
    writes = sum(c for o, c in ops.items() if OPERATIONS[o].kind == "write")
    return WorkloadSpec(
        name=name,
        operations=ops,
        write_ratio=writes / n,
        rate=n / limit,
        duration_s=limit,
        batch_size=tr.meta.batch_size,
        cold_start=tr.meta.cold_start,
        description=f"trace of {len(tr)} requests over {tr.meta.duration_s:g} s ({tr.meta.source})",
    )


class RequestSource(Protocol):
    """What the runner, the ideal cache and the model read of a request stream."""

    spec: WorkloadSpec
    duration_s: float

    def batches(self) -> Iterator[RequestBatch]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def key_rates(self, op: str) -> tuple[IntArray, FloatArray]: ...

    def popularity(self, pool: str) -> Any: ...

    def mean_rate(self) -> float: ...

    def expected_requests(self) -> float: ...


class EmpiricalPopularity:
    """A pool's observed popularity: each id's share of the trace's draws from the pool."""

    def __init__(self, counts: FloatArray) -> None:
        self.n = int(counts.size)
        total = float(counts.sum())
        self._probs = counts / total if total else np.full(self.n, 1.0 / max(self.n, 1))

    def probabilities(self) -> FloatArray:
        return self._probs.copy()


class TraceSource:
    """A trace as a request source with the generator's interface.

    Parameters
    ----------
    spec:
        The trace's :func:`trace_spec` (its name is the ``trace:PATH`` it came from).
    pools:
        The database's id pools (the generator's): every id of the trace is checked against
        the pool its argument draws from, before anything runs.
    specializations:
        The database's specialization names; the trace's ``experts_by_spec`` ids are
        re-indexed to them by name.
    trace:
        The trace (default: read from the spec's path).
    """

    def __init__(
        self,
        spec: WorkloadSpec,
        pools: Mapping[str, Any],
        specializations: Sequence[str],
        trace: Trace | None = None,
    ) -> None:
        tr = trace if trace is not None else read_trace(trace_path(spec.name))
        self.spec = spec
        self.seed = 0
        self.duration_s = spec.duration_s
        self.trace = tr
        n = int(np.searchsorted(tr.t, spec.duration_s, side="left"))
        self._n = n
        self.op_names = tr.op_names
        self.op_nids = tr.op_nids
        self.op_details = tr.op_details
        self.args = _checked_args(tr, n, pools, specializations)
        self.pools = {p: np.asarray(v, dtype=np.int64) for p, v in pools.items()}

    def batches(self) -> Iterator[RequestBatch]:
        """The stream in blocks of :data:`CHUNK` requests (each call starts over)."""
        tr = self.trace
        for a in range(0, self._n, CHUNK):
            z = min(a + CHUNK, self._n)
            yield RequestBatch(
                tr.t[a:z], tr.op[a:z], self.args[a:z], self.op_names, self.op_details, self.op_nids
            )

    def __iter__(self) -> Iterator[Any]:
        for batch in self.batches():
            yield from batch.requests()

    def digest(self) -> str:
        return stream_digest(self.batches())

    def mean_rate(self) -> float:
        """Requests per virtual second over the replayed part."""
        return self._n / self.duration_s

    def expected_requests(self) -> float:
        """The replayed requests (exact: a trace is what it is)."""
        return float(self._n)

    def _draws(self, pool: str, op: str | None = None) -> IntArray:
        """Every id the trace draws from ``pool`` (of ``op`` only, when given)."""
        out = []
        for k, name in enumerate(self.op_names):
            o = OPERATIONS[name]
            if (op is not None and name != op) or pool not in o.pools:
                continue
            rows = np.flatnonzero(self.trace.op[: self._n] == k)
            cols = range(self.op_nids[k]) if o.batch else [o.pools.index(pool)]
            out.append(self.args[rows][:, list(cols)].ravel())
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def _counts(self, pool: str, op: str | None = None) -> FloatArray:
        ids = self.pools[pool]
        draws = self._draws(pool, op)
        order = np.argsort(ids, kind="stable")
        pos = order[np.searchsorted(ids, draws, sorter=order)] if draws.size else draws
        return np.bincount(pos, minlength=ids.size).astype(np.float64)

    def key_rates(self, op: str) -> tuple[IntArray, FloatArray]:
        """Ids of ``op``'s first pool and each one's observed request rate (per virtual s)."""
        if op not in self.op_names:
            raise ConfigError(
                "op", f"{op!r} is not issued by this trace; it issues {self.op_names}"
            )
        pools = OPERATIONS[op].pools
        if not pools:
            raise ConfigError("op", f"{op!r} takes no ids")
        return self.pools[pools[0]], self._counts(pools[0], op) / self.duration_s

    def popularity(self, pool: str) -> EmpiricalPopularity:
        """The pool's observed popularity (probabilities aligned with the pool's ids)."""
        return EmpiricalPopularity(self._counts(pool))


def _checked_args(
    tr: Trace, n: int, pools: Mapping[str, Any], specializations: Sequence[str]
) -> IntArray:
    """The trace's args with every id checked against its pool and specialization ids
    re-indexed to ``specializations``; ConfigError naming the first offending row."""
    args = tr.args[:n].copy()
    # ids the trace itself inserts (YCSB D/E) are valid in their pool from then on
    grown: dict[str, list[IntArray]] = {}
    for k, name in enumerate(tr.op_names):
        pool_grown = OPERATIONS[name].grows
        if pool_grown is not None:
            grown.setdefault(pool_grown, []).append(args[tr.op[:n] == k, 0])
    for k, name in enumerate(tr.op_names):
        o = OPERATIONS[name]
        rows = np.flatnonzero(tr.op[:n] == k)
        if rows.size == 0:
            continue
        if o.scan:  # a range may start past the last record (its entries are negative)
            bad = np.flatnonzero(args[rows, 0] < 1)
            if bad.size:
                raise ConfigError(
                    f"{tr.where(int(rows[bad[0]]))}: ids",
                    f"{name}: start id {int(args[rows[bad[0]], 0])} must be >= 1",
                )
            continue
        cols = [o.pools[0]] * tr.op_nids[k] if o.batch else list(o.pools)
        for j, pool in enumerate(cols):
            col = args[rows, j]
            if pool == "specializations":
                names = tr.meta.specializations
                index = {s: i for i, s in enumerate(specializations)}
                bad = (col < 0) | (col >= len(names))
                remap = np.array([index.get(s, -1) for s in names] or [-1], dtype=np.int64)
                mapped = np.where(bad, -1, remap[np.clip(col, 0, max(len(names) - 1, 0))])
                wrong = np.flatnonzero(mapped < 0)
                if wrong.size:
                    r = int(rows[wrong[0]])
                    v = int(col[wrong[0]])
                    what = repr(names[v]) if 0 <= v < len(names) else f"index {v}"
                    raise ConfigError(
                        f"{tr.where(r)}: ids",
                        f"{name}: specialization {what} does not exist in the database; "
                        f"accepted: {', '.join(specializations)}",
                    )
                args[rows, j] = mapped
                continue
            if pool not in pools:
                raise ConfigError(
                    f"{tr.where(int(rows[0]))}: ids",
                    f"{name} draws from pool {pool!r}, which the database has empty",
                )
            valid = np.concatenate([np.asarray(pools[pool], dtype=np.int64), *grown.get(pool, [])])
            wrong = np.flatnonzero(~np.isin(col, valid))
            if wrong.size:
                r = int(rows[wrong[0]])
                raise ConfigError(
                    f"{tr.where(r)}: ids",
                    f"{name}: id {int(col[wrong[0]])} (argument {j + 1}) is not in pool "
                    f"{pool!r} of the database at this scale ({valid.size} ids, "
                    f"{int(valid.min())}..{int(valid.max())}); {wrong.size} such rows",
                )
    return args


def trace_warmup(spec: WorkloadSpec, share: float) -> float:
    """The default warm-up of a trace workload: the recorded run's, else ``share`` of it."""
    meta = read_trace(trace_path(spec.name)).meta
    if meta.warmup_s is not None and meta.warmup_s < spec.duration_s:
        return meta.warmup_s
    return 0.0 if meta.cold_start else share * spec.duration_s


def duration_of(times: FloatArray) -> float:
    """A log's duration: its last arrival plus one mean gap (so the last request is inside)."""
    if times.size == 0:
        return 1.0
    last = float(times[-1])
    gap = last / (times.size - 1) if times.size > 1 else 1.0
    return last + (gap if gap > 0 and math.isfinite(gap) else 1.0)
