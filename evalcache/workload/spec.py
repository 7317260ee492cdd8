"""Workload specifications as data, and the registry of named scenarios.

A :class:`WorkloadSpec` says which operations a workload issues (weights, split into reads and
writes by ``write_ratio``), how each id pool is drawn (popularity), at what rate and with which
bursts. Specs are plain frozen data so papermill can choose one by name and override a few
literals (``rate``, ``skew``, ``write_ratio``, ``duration``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from evalcache.domain.families import FAMILIES as _REGISTRY
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload.arrivals import Burst, validate_duration, validate_rate
from evalcache.workload.popularity import PopularitySpec, validate_theta

OpKind = Literal["read", "write"]


@dataclass(frozen=True)
class Operation:
    """One operation a workload can issue.

    Attributes
    ----------
    name:
        ``read:<family>`` or ``write:<what>``.
    kind:
        ``read`` or ``write``.
    family:
        The query family a read exercises (``None`` for writes).
    pools:
        The id pool of each id argument, in argument order. ``batch`` operations draw
        ``spec.batch_size`` ids from their single pool.
    details:
        Optional categorical last argument drawn uniformly (e.g. the update type).
    batch:
        Whether the op takes a batch of ids from ``pools[0]``.
    """

    name: str
    kind: OpKind
    family: str | None
    pools: tuple[str, ...]
    details: tuple[str, ...] = ()
    batch: bool = False


def _read(family: str, *pools: str, batch: bool = False) -> Operation:
    return Operation(f"read:{family}", "read", family, tuple(pools), batch=batch)


def _write(name: str, *pools: str, details: tuple[str, ...] = ()) -> Operation:
    return Operation(f"write:{name}", "write", None, tuple(pools), details)


#: Every operation, by name. Args of a request are the ids in ``pools`` order, then the detail.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        *(_read(f.name, *f.pools, batch=f.batch) for f in _REGISTRY.values()),
        _write("user_profile", "users", details=("profile", "preferences", "verification")),
        _write("availability", "experts"),
        _write("create_appointment", "users", "experts"),
        _write("appointment_status", "appointments", details=("confirmed", "cancelled")),
        _write("complete_payment", "pending_payments"),
        _write("add_review", "users", "experts"),
    )
}

#: Query families, as named in results (the registry's order).
FAMILIES: tuple[str, ...] = tuple(_REGISTRY)

#: Id pools operations draw from.
POOLS: tuple[str, ...] = tuple(sorted({p for op in OPERATIONS.values() for p in op.pools}))

#: Parameters a user may override on a named workload.
OVERRIDABLE: tuple[str, ...] = ("rate", "skew", "write_ratio", "duration")


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload as data.

    Attributes
    ----------
    name, description:
        Registry name and a one-line human description.
    operations:
        Operation name -> weight (> 0). Reads and writes are normalised separately; the split
        between them is ``write_ratio``.
    write_ratio:
        Share of requests that are writes, in [0, 1].
    popularity:
        Pool name -> :class:`PopularitySpec`; pools not listed use Zipf with theta 0.99.
    rate:
        Base arrival rate, requests per simulated second.
    duration_s:
        Default length in simulated seconds.
    bursts:
        Rate multipliers over windows (flash crowds).
    batch_size:
        Ids per batch read.
    cold_start:
        The runner starts with an empty cache and does not warm it up.
    read_modify_write:
        Each write is preceded by a read of the same key (YCSB F); the runner issues both.
    op_popularity:
        Operation name -> the popularity of that operation's id draws, instead of its pools'
        (a fitted workload gives each family its own skew, see :mod:`evalcache.workload.fit`).
        Draws still come from the pool's random stream, so operations without an override
        draw exactly what they drew before.
    """

    name: str
    operations: Mapping[str, float]
    write_ratio: float = 0.0
    popularity: Mapping[str, PopularitySpec] = field(default_factory=dict)
    rate: float = 100.0
    duration_s: float = 3600.0
    bursts: tuple[Burst, ...] = ()
    batch_size: int = 10
    cold_start: bool = False
    read_modify_write: bool = False
    description: str = ""
    op_popularity: Mapping[str, PopularitySpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for op, w in self.operations.items():
            if op not in OPERATIONS:
                raise UnknownNameError("operation", op, OPERATIONS)
            if not (isinstance(w, int | float) and math.isfinite(w) and w > 0):
                raise ConfigError(f"operations[{op!r}]", f"weight must be > 0, got {w!r}")
        for pool in self.popularity:
            if pool not in POOLS:
                raise UnknownNameError("id pool", pool, POOLS)
        for op in self.op_popularity:
            if op not in self.operations:
                raise ConfigError(
                    f"op_popularity[{op!r}]",
                    f"not an operation of workload {self.name!r}; accepted: "
                    f"{', '.join(self.operations)}",
                )
        try:
            ratio = float(self.write_ratio)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                "write_ratio", f"must be in [0, 1], got {self.write_ratio!r}"
            ) from exc
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError("write_ratio", f"must be in [0, 1], got {self.write_ratio!r}")
        if ratio > 0 and not self.write_ops():
            raise ConfigError(
                "write_ratio",
                f"workload {self.name!r} has no write operations, so write_ratio must be 0 "
                f"(got {ratio}); add one of {', '.join(_names('write'))}",
            )
        if ratio < 1 and not self.read_ops():
            raise ConfigError(
                "write_ratio", f"workload {self.name!r} has no read operations, so it must be 1"
            )
        object.__setattr__(self, "write_ratio", ratio)
        object.__setattr__(self, "rate", validate_rate(self.rate))
        object.__setattr__(self, "duration_s", validate_duration(self.duration_s))
        if self.batch_size < 1:
            raise ConfigError("batch_size", f"must be >= 1, got {self.batch_size!r}")
        for b in self.bursts:
            if b.focus_pool is not None and b.focus_pool not in POOLS:
                raise UnknownNameError("id pool", b.focus_pool, POOLS)

    def read_ops(self) -> dict[str, float]:
        """Read operations and their weights."""
        return {k: float(v) for k, v in self.operations.items() if OPERATIONS[k].kind == "read"}

    def write_ops(self) -> dict[str, float]:
        """Write operations and their weights."""
        return {k: float(v) for k, v in self.operations.items() if OPERATIONS[k].kind == "write"}

    def op_probabilities(self) -> dict[str, float]:
        """Each operation's share of all requests (reads and writes together sum to 1)."""
        out: dict[str, float] = {}
        for ops, share in (
            (self.read_ops(), 1 - self.write_ratio),
            (self.write_ops(), self.write_ratio),
        ):
            total = sum(ops.values())
            for k, w in ops.items():
                if share > 0:
                    out[k] = share * w / total
        return out

    def pools_needed(self) -> dict[str, list[str]]:
        """Pool name -> operations (with non-zero share) that draw from it."""
        out: dict[str, list[str]] = {}
        for op in self.op_probabilities():
            for pool in OPERATIONS[op].pools:
                out.setdefault(pool, []).append(op)
        return out

    def popularity_of(self, pool: str) -> PopularitySpec:
        """The popularity of ``pool`` (Zipf 0.99 unless the spec says otherwise)."""
        return self.popularity.get(pool, PopularitySpec())

    def popularity_for(self, op: str, pool: str) -> PopularitySpec:
        """The popularity of ``op``'s draws from ``pool`` (its override, else the pool's)."""
        return self.op_popularity.get(op) or self.popularity_of(pool)

    def with_overrides(
        self,
        *,
        rate: float | None = None,
        skew: float | None = None,
        write_ratio: float | None = None,
        duration: float | str | None = None,
    ) -> WorkloadSpec:
        """A copy with user overrides, validated.

        ``skew`` replaces theta of every Zipf-like pool (``zipf``, ``latest``), including pools
        using the default; ``duration`` accepts seconds or text like ``"90s"``, ``"1h30m"``.
        """
        changes: dict[str, Any] = {}
        if rate is not None:
            changes["rate"] = validate_rate(rate)
        if duration is not None:
            changes["duration_s"] = parse_duration(duration)
        if write_ratio is not None:
            changes["write_ratio"] = write_ratio
        if skew is not None:
            theta = validate_theta(skew, "skew")
            pops = {p: self.popularity_of(p) for p in POOLS}
            changes["popularity"] = {
                p: replace(s, theta=theta) if s.kind in ("zipf", "latest") else s
                for p, s in pops.items()
            }
        return replace(self, **changes)

    def to_params(self) -> dict[str, Any]:
        """The spec as JSON literals (for a run's ``params``)."""
        return {
            "workload": self.name,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "write_ratio": self.write_ratio,
            "operations": dict(self.operations),
            "popularity": {p: [s.kind, s.theta] for p, s in sorted(self.popularity.items())},
            "bursts": [
                [b.start_s, b.duration_s, b.multiplier, b.focus_pool, b.focus_keys, b.focus_share]
                for b in self.bursts
            ],
            "batch_size": self.batch_size,
            "cold_start": self.cold_start,
            "read_modify_write": self.read_modify_write,
            **(
                {
                    "op_popularity": {
                        o: [s.kind, s.theta] for o, s in sorted(self.op_popularity.items())
                    }
                }
                if self.op_popularity
                else {}
            ),
        }


def _names(kind: OpKind) -> list[str]:
    return [k for k, op in OPERATIONS.items() if op.kind == kind]


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: float | int | str, name: str = "duration") -> float:
    """Seconds from a number or text such as ``"90"``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"``.

    Examples
    --------
    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return validate_duration(value, name)
    text = str(value).strip().lower()
    try:
        return validate_duration(float(text), name)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if text[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or text[pos:].strip():
        raise ConfigError(
            name,
            f"cannot parse {value!r}; accepted: seconds as a number, or amounts with units "
            "ms/s/m/h/d such as '90s', '15m', '1h30m', '1d'",
        )
    return validate_duration(total, name)
