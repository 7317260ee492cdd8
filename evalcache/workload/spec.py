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
from evalcache.domain.families import MAX_SCAN_LENGTH
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload.arrivals import (
    Burst,
    Cycle,
    Ramp,
    expected_arrivals,
    validate_duration,
    validate_rate,
)
from evalcache.workload.popularity import SKEWED_KINDS, PopularitySpec, validate_theta
from evalcache.workload.scrambled import check_theta

OpKind = Literal["read", "write"]
#: How a workload's id pools are laid out (see ``WorkloadSpec.key_space``).
KEY_SPACES: tuple[str, ...] = ("pool", "ycsb")


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
    scan:
        A range read: its args are a start id from ``pools[0]`` and a record count drawn
        uniformly in ``1..spec.max_scan_length``.
    grows:
        The pool this op adds a record to: its one arg is the new id, which the generator
        assigns (ids after the pool's largest, in order), and later draws of the pool may pick
        it (see ``WorkloadSpec.key_space``).
    """

    name: str
    kind: OpKind
    family: str | None
    pools: tuple[str, ...]
    details: tuple[str, ...] = ()
    batch: bool = False
    scan: bool = False
    grows: str | None = None

    @property
    def id_args(self) -> int:
        """Id columns of the op's args besides a batch (start id and count of a scan, a new
        id), before the detail."""
        return len(self.pools) + self.scan + (self.grows is not None)


def _read(family: str, *pools: str, batch: bool = False, scan: bool = False) -> Operation:
    return Operation(f"read:{family}", "read", family, tuple(pools), batch=batch, scan=scan)


def _write(
    name: str, *pools: str, details: tuple[str, ...] = (), grows: str | None = None
) -> Operation:
    return Operation(f"write:{name}", "write", None, tuple(pools), details, grows=grows)


_USER_UPDATES = ("profile", "preferences", "verification")


#: Every operation, by name. Args of a request are the ids in ``pools`` order, then the detail.
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        *(_read(f.name, *f.pools, batch=f.batch, scan=f.scan) for f in _REGISTRY.values()),
        # a patient's profile, preferences or verification (the update type drawn uniformly)
        _write("user_profile", "users", details=_USER_UPDATES),
        _write("patient_profile", "users", details=("name", "bio")),
        _write("expert_profile", "experts", details=("name", "fee", "bio")),
        _write("preferences", "users"),
        _write("verification", "experts"),  # an expert's: is_verified follows it
        _write("availability", "experts"),
        _write("create_appointment", "users", "experts"),
        _write(
            "appointment_status", "open_appointments", details=("confirmed", "completed", "no_show")
        ),
        _write("reschedule_appointment", "open_appointments"),
        _write("cancel_appointment", "open_appointments"),
        _write("complete_payment", "pending_payments"),
        _write("refund_payment", "succeeded_payments"),
        _write("add_review", "users", "experts"),
        # YCSB's insert (a new user with its rows) and read-modify-write (one request)
        _write("insert_user", grows="users"),
        _write("rmw_user_profile", "users", details=_USER_UPDATES),
    )
}

#: Query families, as named in results (the registry's order).
FAMILIES: tuple[str, ...] = tuple(_REGISTRY)

#: Id pools operations draw from.
POOLS: tuple[str, ...] = tuple(sorted({p for op in OPERATIONS.values() for p in op.pools}))

#: How a closed-loop client's think times are drawn (``WorkloadSpec.think``).
THINK_KINDS: tuple[str, ...] = ("exponential", "fixed")
#: Most closed-loop clients a workload may have.
MAX_CLIENTS = 10_000

#: Every pool name ever drawn from, in the order the generator spawns their random streams:
#: new pools go at the end (retired ones keep their place), so an existing pool keeps its
#: stream and a workload that does not change keeps its requests.
POOL_STREAMS: tuple[str, ...] = (
    "appointments",  # retired: appointment writes draw open appointments
    "experts",
    "pending_payments",
    "specializations",
    "users",
    "open_appointments",
    "succeeded_payments",
)

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
    key_space:
        ``pool`` (default): each pool in its given order (popularity order), whole. ``ycsb``:
        YCSB's table, the ``users`` pool in id (insertion) order, so the newest records are
        the last and a scan reads neighbours; a ``scrambled_zipf`` pool hashes onto the
        records plus one (``CoreWorkload``'s key space, the last key redrawn). Either way a
        workload with ``write:insert_user`` grows ``users``: ``latest`` draws over the records
        inserted so far (newest hottest), ``scrambled_zipf`` hashes onto the records plus
        twice the expected inserts and redraws keys not inserted yet, other kinds draw over
        the initial records (as YCSB's uniform).
    record_count:
        YCSB's ``recordcount``: the ``users`` pool cut to its first N (after ordering);
        ``None`` keeps it whole. More than the pool holds is refused when the stream is built.
    max_scan_length:
        Longest scan (``read:user_profiles_scan``); lengths are uniform in 1..this.
    cycles, ramps:
        Time-varying rate multipliers (:class:`~evalcache.workload.arrivals.Cycle`,
        :class:`~evalcache.workload.arrivals.Ramp`); they multiply with each other and with
        the bursts.
    clients:
        ``None``: open loop (requests arrive at the stream's times, whatever the system does).
        ``N``: a closed loop of N clients, each issuing its next request when its previous one
        completed plus a think time, taking requests from the stream in order (YCSB's
        threads); the stream's rate then only bounds how many requests there are.
    think_time_s:
        Closed loop: mean think time in seconds between a client's requests (>= 0).
    think:
        Closed loop: ``exponential`` (think times drawn with mean ``think_time_s``, seeded) or
        ``fixed`` (always ``think_time_s``).
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
    key_space: str = "pool"
    record_count: int | None = None
    max_scan_length: int = 100
    description: str = ""
    cycles: tuple[Cycle, ...] = ()
    ramps: tuple[Ramp, ...] = ()
    clients: int | None = None
    think_time_s: float = 0.0
    think: str = "exponential"
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
        if self.key_space not in KEY_SPACES:
            raise ConfigError(
                "key_space",
                f"{self.key_space!r} is not accepted; accepted: {', '.join(KEY_SPACES)}",
            )
        if self.record_count is not None:
            _check_count("record_count", self.record_count)
        _check_count("max_scan_length", self.max_scan_length, MAX_SCAN_LENGTH)
        grown = {op.grows for op in map(OPERATIONS.get, self.operations) if op and op.grows}
        if len(grown) > 1:
            raise ConfigError("operations", f"inserts may grow one pool only, got {sorted(grown)}")
        for b in self.bursts:
            if b.focus_pool is not None and b.focus_pool not in POOLS:
                raise UnknownNameError("id pool", b.focus_pool, POOLS)
        self._check_load()

    def _check_load(self) -> None:
        """Cycles, ramps and closed-loop clients (the load's shape over time)."""
        object.__setattr__(self, "cycles", tuple(self.cycles))
        object.__setattr__(self, "ramps", tuple(self.ramps))
        for name, kind in (("cycles", Cycle), ("ramps", Ramp)):
            for i, item in enumerate(getattr(self, name)):
                if not isinstance(item, kind):
                    raise ConfigError(f"{name}[{i}]", f"must be a {kind.__name__}, got {item!r}")
        n = self.clients
        if n is not None and (
            isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLIENTS
        ):
            raise ConfigError(
                "clients",
                f"must be an integer in [1, {MAX_CLIENTS}] (closed loop) or null (open loop), "
                f"got {n!r}",
            )
        think = self.think_time_s
        if (
            isinstance(think, bool)
            or not isinstance(think, int | float)
            or not (math.isfinite(think) and think >= 0)
        ):
            raise ConfigError("think_time_s", f"must be a number of seconds >= 0, got {think!r}")
        object.__setattr__(self, "think_time_s", float(think))
        if self.think not in THINK_KINDS:
            raise ConfigError(
                "think", f"{self.think!r} is not accepted; accepted: {', '.join(THINK_KINDS)}"
            )
        if n is None and think > 0:
            raise ConfigError(
                "think_time_s",
                f"applies to closed-loop clients only, got {think:g} without clients; "
                "accepted: 0, or set clients",
            )
        if n is not None and (self.bursts or self.cycles or self.ramps):
            shaped = [k for k in ("bursts", "cycles", "ramps") if getattr(self, k)]
            raise ConfigError(
                "clients",
                f"closed-loop clients set the load themselves, so {', '.join(shaped)} (which "
                "shape open-loop arrivals) would do nothing; accepted: clients null, or no "
                "bursts, cycles and ramps",
            )

    @property
    def stationary(self) -> bool:
        """True when the rate has no cycle or ramp (piecewise constant with bursts)."""
        return not self.cycles and not self.ramps

    def expected_requests(self, duration: float | None = None) -> float:
        """The expected number of requests of the stream over ``duration`` seconds (default
        ``duration_s``): the rate's integral, bursts, cycles and ramps included."""
        d = self.duration_s if duration is None else duration
        return expected_arrivals(self.rate, d, self.bursts, self.cycles, self.ramps)

    def mean_rate(self, duration: float | None = None) -> float:
        """The time-averaged arrival rate over ``duration`` (default ``duration_s``), requests
        per second: what a stationary model stands in for a time-varying rate with."""
        if not self.bursts and self.stationary:
            return self.rate  # exactly, not rate * d / d
        d = self.duration_s if duration is None else duration
        return self.expected_requests(d) / d

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
            grows = OPERATIONS[op].grows
            for pool in (*OPERATIONS[op].pools, *((grows,) if grows else ())):
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

        ``skew`` replaces theta of every Zipf-like pool (``zipf``, ``latest``,
        ``scrambled_zipf``), including pools using the default; ``duration`` accepts seconds or
        text like ``"90s"``, ``"1h30m"``.
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
            if any(s.kind == "scrambled_zipf" for s in pops.values()):
                check_theta(theta, "skew")
            changes["popularity"] = {
                p: replace(s, theta=theta) if s.kind in SKEWED_KINDS else s for p, s in pops.items()
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
            "cycles": [[c.amplitude, c.period_s, c.peak_s] for c in self.cycles],
            "ramps": [
                [r.start_s, r.duration_s, r.start_multiplier, r.end_multiplier] for r in self.ramps
            ],
            "clients": self.clients,
            "think_time_s": self.think_time_s,
            "think": self.think,
            "key_space": self.key_space,
            "record_count": self.record_count,
            "max_scan_length": self.max_scan_length,
            "mean_rate": self.mean_rate(),
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


def _check_count(name: str, value: object, most: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        limit = "" if math.isinf(most) else f" and <= {most}"
        raise ConfigError(name, f"must be an integer >= 1{limit}, got {value!r}")


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
