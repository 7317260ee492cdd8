"""Export a trace to cache-simulator layouts: libCacheSim's CSV and Twitter's cache-trace CSV.

Both speak of cache keys, not application requests, so each read becomes one request per
entry it reads: the key the family makes of the read's arguments (``families.py`` key layouts,
without the run's namespace, e.g. ``user_profile:1042``, ``expert_profile:17:full``); a batch
read reads one ``user_profile`` entry per id. The field mapping and the op mapping are in
``docs/traces.md``; in short:

- **libcachesim**: ``time,obj_id,obj_size,ttl``, one row per entry read (writes are left out:
  libCacheSim simulates the fill of a miss itself and counts every row as a request).
  ``obj_id`` is a 63-bit hash of the key, ``obj_size`` key + value bytes.
- **twitter**: ``timestamp,key,key_size,value_size,client_id,operation,ttl`` without header,
  as in twitter/cache-trace: a read is a ``get``, followed by a ``set`` (with the family's TTL)
  when it missed; a write is a ``delete`` of every key already seen that it invalidated.

Value sizes: the recording run's measured mean per family (``bytes_per_entry``), else
:data:`VALUE_BYTES_ESTIMATE`.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evalcache.cache.keys import ANY, encode_part
from evalcache.domain.families import FAMILIES, entry_args
from evalcache.domain.invalidation import group_targets
from evalcache.domain.repositories import RMW_OPS
from evalcache.errors import ConfigError
from evalcache.workload.spec import OPERATIONS
from evalcache.workload.trace import OUTCOMES, Trace

FORMATS: tuple[str, ...] = ("libcachesim", "twitter")
#: Mean stored bytes per entry (value with its envelope) by family: a ``mixed`` run at scale
#: 0.1 (``families.<f>.bytes_per_entry`` of its live entries), rounded; the admin dashboard,
#: which had no live entry then, is its answer's JSON at scale 0.1. Used when the trace
#: carries no measured size (an imported log).
VALUE_BYTES_ESTIMATE: dict[str, int] = {
    "user_profile": 610,
    "user_profiles_batch": 610,
    "expert_basic": 1930,
    "expert_full": 4470,
    "experts_by_spec": 3470,
    "user_appointments": 5370,
    "expert_appointments": 27760,
    "dashboard_admin": 10500,
    "dashboard_expert": 5510,
    "dashboard_user": 2290,
}
#: What ``libCacheSim`` needs to read an exported file (cachesim's ``-t`` / ``ReaderInitParam``).
LIBCACHESIM_PARAMS = (
    "time-col=1, obj-id-col=2, obj-size-col=3, delimiter=,, has-header=true, obj-id-is-num=true"
)
_HIT, _MISS = OUTCOMES.index("hit"), OUTCOMES.index("miss")
_WRITE = OUTCOMES.index("write")


def key_text(key_family: str, parts: Sequence[Any]) -> str:
    """A cache key without namespace: ``key_family:part:part`` (parts encoded as the cache does)."""
    return ":".join([key_family, *(encode_part(p) for p in parts)])


def obj_id(key: str) -> int:
    """A stable 63-bit numeric id of a key (libCacheSim's ``obj-id-is-num``)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


@dataclass
class ReadEntries:
    """One read of a trace: row, time, family, and the keys of the entries it reads."""

    row: int
    t: float
    family: str
    keys: list[str]
    outcome: int  # index into OUTCOMES, -1 unknown


def read_entries(trace: Trace) -> Iterator[ReadEntries]:
    """Every read of the trace (a read-modify-write's read included) with its entry keys."""
    origin = trace.meta.origin if trace.meta.origin is not None else 0.0
    admin = trace.meta.admin_id if trace.meta.admin_id is not None else 0
    specs = trace.meta.specializations
    nids = trace.op_nids
    ops = [OPERATIONS[o] for o in trace.op_names]
    t_all, op_all, args_all = trace.t.tolist(), trace.op.tolist(), trace.args
    known: dict[tuple[Any, ...], list[str]] = {}  # keys by (family, ids): most reads repeat
    for row, (t, k) in enumerate(zip(t_all, op_all, strict=True)):
        o = ops[k]
        if o.kind == "read":
            family, outcome = o.family, int(trace.outcome[row])
            ids = args_all[row, : nids[k]].tolist()
        elif trace.op_names[k][6:] in RMW_OPS:  # a read-modify-write: its read, as served
            family, outcome = RMW_OPS[trace.op_names[k][6:]][0], int(trace.read_outcome[row])
            ids = args_all[row, :1].tolist()
        else:
            continue
        assert family is not None
        memo = (family, *ids)
        if memo in known:
            yield ReadEntries(row, t, family, known[memo], outcome)
            continue
        fam = FAMILIES[family]

        def now(t: float = t) -> datetime:
            return datetime.fromtimestamp(origin + t, UTC)

        if family == "experts_by_spec":
            args: tuple[Any, ...] = (specs[ids[0]],)
        else:
            args = tuple(ids)
        if fam.batch or fam.scan:  # one entry per id
            keys = [
                key_text(fam.key_family, fam.parse(e, now, admin)[0]) for e in entry_args(fam, args)
            ]
        else:
            keys = [key_text(fam.key_family, fam.parse(args, now, admin)[0])]
        if family != "expert_appointments":  # its key names the clock's day
            known[memo] = keys
        yield ReadEntries(row, t, family, keys, outcome)


def direct_groups(op: str, ids: Sequence[int], detail: str | None) -> list[str]:
    """The groups a write makes stale that its own ids name (an imported log has no event).

    Status changes, moves, cancellations, payments and refunds name an appointment or a
    payment, whose patient and expert only the database knows; a renamed user's lists, an
    expert's user and specializations need the database too: those groups are left out
    (documented in ``docs/traces.md``).
    """
    name = op.removeprefix("write:")
    if name in ("user_profile", "patient_profile", "preferences"):
        return [f"user:{ids[0]}", *(["admin"] if detail == "verification" else [])]
    if name == "expert_profile":
        return [f"expert:{ids[0]}"]
    if name == "verification":  # an expert's: the pending list, and its listed flag
        return [f"expert:{ids[0]}", "admin"]
    if name == "availability":
        return [f"slots:{ids[0]}"]
    if name == "create_appointment":
        return [f"patient:{ids[0]}", f"expert_appts:{ids[1]}", "admin"]
    if name == "add_review":
        return [f"expert:{ids[1]}"]
    if name == "insert_user":
        return [f"user:{ids[0]}", f"patient:{ids[0]}", "admin"]
    return []


class SeenKeys:
    """Keys seen so far, by key family and first part, to expand invalidation targets."""

    def __init__(self) -> None:
        self._by: dict[tuple[str, str], set[str]] = {}
        self._family: dict[str, set[str]] = {}

    def add(self, key: str) -> None:
        parts = key.split(":")
        self._by.setdefault((parts[0], parts[1] if len(parts) > 1 else ""), set()).add(key)
        self._family.setdefault(parts[0], set()).add(key)

    def matching(self, groups: Sequence[str], admin_id: int) -> list[str]:
        """Seen keys the groups' targets cover (a wildcard part matches any one part)."""
        out: set[str] = set()
        for group in groups:
            for target in group_targets(group, admin_id):
                want = [None if p is ANY else encode_part(p) for p in target.parts]  # type: ignore[arg-type]
                pool = (
                    self._family.get(target.family, set())
                    if not want or want[0] is None
                    else self._by.get((target.family, want[0]), set())
                )
                for key in pool:
                    parts = key.split(":")[1:]
                    if len(parts) == len(want) and all(
                        w is None or w == p for w, p in zip(want, parts, strict=True)
                    ):
                        out.add(key)
        return sorted(out)


@dataclass
class ExportStats:
    """What an export wrote: rows by operation."""

    rows: int = 0
    ops: dict[str, int] = field(default_factory=dict)

    def count(self, op: str) -> None:
        self.rows += 1
        self.ops[op] = self.ops.get(op, 0) + 1


def _sizes(trace: Trace, measured: Mapping[str, float] | None) -> Callable[[str], int]:
    sizes = {**VALUE_BYTES_ESTIMATE, **trace.meta.value_bytes, **(measured or {})}
    return lambda family: round(sizes.get(family, 1000))


def _ttl(trace: Trace, family: str) -> int:
    fam = FAMILIES[family]
    return math.ceil(trace.meta.ttl.get(fam.ttl_setting, fam.ttl_default))


def export_trace(
    trace: Trace,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    value_bytes: Mapping[str, float] | None = None,
) -> ExportStats:
    """Write ``trace`` to ``out`` in layout ``fmt`` (:data:`FORMATS`); return what it wrote.

    ``value_bytes``: measured mean value size per family (a run's summary), overriding the
    trace's own and the estimates.
    """
    if fmt not in FORMATS:
        raise ConfigError("format", f"{fmt!r} is not accepted; accepted: {', '.join(FORMATS)}")
    size = _sizes(trace, value_bytes)
    stats = ExportStats()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="ascii") as fh:
        w = csv.writer(fh, lineterminator="\n")
        if fmt == "libcachesim":
            w.writerow(["time", "obj_id", "obj_size", "ttl"])
            for read in read_entries(trace):
                ttl, value = _ttl(trace, read.family), size(read.family)
                for key in read.keys:
                    w.writerow([f"{read.t:.6f}", obj_id(key), len(key) + value, ttl])
                    stats.count("get")
        else:
            _twitter(trace, w, size, stats)
    return stats


def _twitter(trace: Trace, w: Any, size: Callable[[str], int], stats: ExportStats) -> None:
    """Twitter rows: gets, the set of each miss, deletes of what writes invalidate.

    Whether a read missed is its recorded outcome; a batch read records one outcome for all
    its entries, and an imported trace none, so there (and only there) a key counts as
    missing when no set of it is alive: never set, expired (its TTL) or deleted since.
    """
    alive: dict[str, float] = {}  # key -> expiry (virtual s) of its last set
    seen = SeenKeys()
    admin = trace.meta.admin_id if trace.meta.admin_id is not None else 0
    client = {name: i + 1 for i, name in enumerate(OPERATIONS)}
    reads = {r.row: r for r in read_entries(trace)}
    ops = [OPERATIONS[o] for o in trace.op_names]
    nids = trace.op_nids
    for row, (t, k) in enumerate(zip(trace.t.tolist(), trace.op.tolist(), strict=True)):
        ts = int(t)
        name = trace.op_names[k]
        cid = client[name]
        read = reads.get(row)
        if read is not None:
            ttl, value = _ttl(trace, read.family), size(read.family)
            for key in read.keys:
                if read.outcome in (_HIT, _MISS) and len(read.keys) == 1:
                    missed = read.outcome == _MISS
                elif read.outcome == _HIT:
                    missed = False
                else:
                    missed = alive.get(key, -1.0) <= t
                w.writerow([ts, key, len(key), value, cid, "get", 0])
                stats.count("get")
                seen.add(key)
                if missed:
                    w.writerow([ts, key, len(key), value, cid, "set", ttl])
                    stats.count("set")
                    alive[key] = t + ttl
        if ops[k].kind != "write":
            continue
        outcome = int(trace.outcome[row])
        if outcome >= 0 and outcome != _WRITE:
            continue  # a failed or no-op write invalidated nothing
        groups = trace.invalidates[row] if trace.invalidates is not None else None
        if groups is None:
            ids = trace.args[row, : nids[k]].tolist()
            details = ops[k].details
            detail = details[int(trace.args[row, nids[k]])] if details else None
            groups = direct_groups(name, ids, detail)
        for key in seen.matching(groups, admin):
            w.writerow([ts, key, len(key), 0, cid, "delete", 0])
            stats.count("delete")
            alive.pop(key, None)
