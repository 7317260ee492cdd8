"""Cached domain repositories: the seed plan's wrappers, with a pluggable invalidation strategy.

Examples
--------
>>> repo = CachedRepository(engine, cache, "tags", clock=clock)       # doctest: +SKIP
>>> repo.read("user_profile", 42).outcome                               # doctest: +SKIP
'miss'
>>> repo.write("user_profile", 42, "profile").kind                     # doctest: +SKIP
'user_updated'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, text

from evalcache.cache import DatabaseCache
from evalcache.cache.stats import begin_read, read_coalesced
from evalcache.clock import Clock
from evalcache.domain import writes as w
from evalcache.domain.families import FAMILIES, as_id, scan_ids
from evalcache.domain.invalidation import AppDependencies
from evalcache.domain.pools import load_expert_specializations
from evalcache.domain.readspecs import (
    TTLSettings,
    build_spec,
    run_many,
    run_query,
    spec_from_key,
)
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.strategies import (
    DependencyMap,
    InvalidationStrategy,
    ReadSpec,
    WriteEvent,
    get_strategy,
)

__all__ = [
    "WRITE_OPS",
    "CachedRepository",
    "InvalidTransition",
    "ReadOutcome",
    "TTLSettings",
]

WRITE_OPS: tuple[str, ...] = (
    "user_profile",
    "patient_profile",
    "expert_profile",
    "preferences",
    "verification",
    "availability",
    "create_appointment",
    "appointment_status",
    "reschedule_appointment",
    "cancel_appointment",
    "complete_payment",
    "refund_payment",
    "add_review",
    "insert_user",
    "rmw_user_profile",
)
#: Read-modify-write op -> (the family it reads first, the write op it then runs).
RMW_OPS: dict[str, tuple[str, str]] = {"rmw_user_profile": ("user_profile", "user_profile")}
#: write op -> its arguments (ids, then the detail, as the workload draws them)
WRITE_ARGS: dict[str, tuple[str, ...]] = {
    "user_profile": ("user_id", "update_type"),
    "patient_profile": ("user_id", "change"),
    "expert_profile": ("expert_id", "change"),
    "preferences": ("user_id",),
    "verification": ("expert_id",),
    "availability": ("expert_id",),
    "create_appointment": ("user_id", "expert_id"),
    "appointment_status": ("appointment_id", "status"),
    "reschedule_appointment": ("appointment_id",),
    "cancel_appointment": ("appointment_id",),
    "complete_payment": ("payment_id",),
    "refund_payment": ("payment_id",),
    "add_review": ("user_id", "expert_id"),
    "insert_user": ("user_id",),
    "rmw_user_profile": ("user_id", "update_type"),
}
#: what a profile op changes: the name (``last_name``), the bio, or (experts) the fee
PROFILE_CHANGES: dict[str, tuple[str, ...]] = {
    "patient_profile": ("name", "bio"),
    "expert_profile": ("name", "fee", "bio"),
}
#: appointment status -> statuses it may move to (anything else is an InvalidTransition)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "scheduled": ("confirmed", "cancelled", "completed", "no_show"),
    "confirmed": ("cancelled", "completed", "no_show"),
}
SLOT_HOURS: tuple[int, ...] = (9, 11, 14, 16)
SLOT_DAYS = 5
APPOINTMENT_MINUTES = 60


class InvalidTransition(w.InvalidStateError):
    """A write the row's current state does not allow (the runner counts it as a no-op)."""


@dataclass(frozen=True, slots=True)
class ReadOutcome:
    """One read's answer and how it was served (negative hits count as ``"hit"``; a read that
    received another caller's load, single flight, as ``"miss"``)."""

    value: Any
    outcome: Literal["hit", "miss", "uncached"]
    negative: bool
    family: str


class CachedRepository:
    """The seed plan's cached reads and writes over one engine, cache and strategy.

    Parameters
    ----------
    engine: the application's database engine (reads and writes).
    cache: a :class:`DatabaseCache`, or ``None`` for the cache-off baseline (every read goes
        to the database; writes still return events; nothing is invalidated).
    strategy: a registered name (:func:`evalcache.strategies.strategy_names`) or an unbound
        strategy (anything meeting :class:`~evalcache.strategies.api.InvalidationStrategy`).
    ttls: entry TTLs per family.
    clock: the run's clock; queries and writes use ``now`` from it.
    expert_specs: expert id -> specialization names (static); loaded when ``None``.
    strategy_options: keyword options for a strategy given by name.
    """

    def __init__(
        self,
        engine: Engine,
        cache: DatabaseCache | None,
        strategy: InvalidationStrategy | str = "explicit",
        *,
        ttls: TTLSettings | None = None,
        clock: Clock,
        expert_specs: Mapping[int, tuple[str, ...]] | None = None,
        strategy_options: Mapping[str, Any] | None = None,
    ) -> None:
        ttls = TTLSettings() if ttls is None else ttls
        if not isinstance(ttls, TTLSettings):
            raise ConfigError("ttls", f"{type(ttls).__name__}; accepted: TTLSettings")
        if isinstance(strategy, str):
            strategy = get_strategy(strategy, **dict(strategy_options or {}))
        elif strategy_options:
            raise ConfigError("strategy_options", "only accepted with a strategy name")
        if not isinstance(strategy, InvalidationStrategy):
            raise ConfigError(
                "strategy", f"{strategy!r}; accepted: a name or an InvalidationStrategy"
            )
        self.engine = engine
        self.cache: DatabaseCache = cache  # type: ignore[assignment]  # None: checked per call
        self._cached = cache is not None
        self.ttls = ttls
        self.negative_ttl = ttls.negative
        self.clock = clock
        with engine.connect() as conn:
            if expert_specs is None:
                expert_specs = load_expert_specializations(conn)
            admin = conn.execute(text("SELECT min(id) FROM users WHERE role = 'admin'")).scalar()
            # static after seeding, like the specializations: an expert's edits are its user's
            users = conn.execute(text("SELECT id, user_id FROM experts")).all()
        self.admin_id = int(admin or 0)
        self._expert_users: dict[int, int] = {int(e): int(u) for e, u in users}
        self.deps: DependencyMap = AppDependencies(engine, expert_specs, self.admin_id)
        self.strategy: InvalidationStrategy = strategy
        # ``(key, value, started)`` after each load a fill runs: ``key`` is the staleness
        # oracle's ``(family, *args)`` (``("user_profile", U)`` for each id of a batch),
        # ``started`` the clock's time when the load began.
        self.load_observer: Callable[[tuple[Any, ...], Any, float], None] | None = None
        #: Called with each committed write's event (cached repositories): the strategy's
        #: reaction, run inside the write; a simulation may schedule it later instead.
        self.on_commit: Callable[[WriteEvent], None] = strategy.on_write
        if self._cached:
            strategy.bind(self)

    # -- Host (what strategies use) --------------------------------------------------------
    @property
    def now(self) -> datetime:
        """The clock's time as an aware UTC datetime."""
        return self._now()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def load(self, spec: ReadSpec) -> Any:
        with self.engine.connect() as conn:
            return run_query(conn, spec, self.now)

    def load_many(self, specs: Sequence[ReadSpec]) -> list[Any]:
        start = self.clock.now()
        with self.engine.connect() as conn:
            values = run_many(conn, specs, self.now)
        observe = self.load_observer
        if observe is not None:
            for s, v in zip(specs, values, strict=True):
                observe((s.key_family, *s.args), v, start)
        return values

    def spec_from_key(self, key: str) -> ReadSpec | None:
        return spec_from_key(key, self.cache.keys.prefix, self.ttls, self.now, self.admin_id)

    def spec(self, family: str, *args: Any) -> ReadSpec:
        """The read spec (key parts, TTL, groups) of ``family`` with ``args``."""
        return build_spec(family, args, self.ttls, self._now, self.admin_id)

    # -- reads -----------------------------------------------------------------------------
    def read(self, family: str, *args: Any) -> ReadOutcome:
        """Read ``family`` with the workload's ``args`` through the cache (module docstring of
        :mod:`evalcache.domain.families` lists the families, keys and TTLs)."""
        if family == "user_profiles_batch":
            values, outcome = self._read_batch(args)
            return ReadOutcome(values, outcome, False, family)
        if family == "user_profiles_scan":  # the ids start..start+count-1, as a batch
            values, outcome = self._read_batch(tuple(scan_ids(args)), family)
            return ReadOutcome(values, outcome, False, family)
        spec = self.spec(family, *args)
        if not self._cached:
            return ReadOutcome(self.load(spec), "uncached", False, family)
        observe = self.load_observer
        begin_read()
        if observe is None:
            value, loaded = self.strategy.read(spec, lambda: self.load(spec))
        else:

            def load() -> Any:
                start = self.clock.now()
                v = self.load(spec)
                observe((family, *args), v, start)
                return v

            value, loaded = self.strategy.read(spec, load)
        # a read that waited for another caller's load found no fresh entry: a miss, as the
        # cache counts it (it is not a load: ``loads`` and ``coalesced`` tell them apart)
        missed = loaded or read_coalesced()
        return ReadOutcome(value, "miss" if missed else "hit", value is None and not missed,
                           family)  # fmt: skip

    def get_user_profiles(self, user_ids: Sequence[int]) -> list[Any]:
        """Profiles of ``user_ids`` (``None`` for unknown ids); misses in ONE query."""
        return list(self.read("user_profiles_batch", *user_ids).value)

    def _read_batch(
        self, args: tuple[Any, ...], family: str = "user_profiles_batch"
    ) -> tuple[list[Any], Literal["hit", "miss", "uncached"]]:
        ids = [as_id("user_id", a) for a in args]
        if not ids:
            return [], "hit" if self._cached else "uncached"
        unique = list(dict.fromkeys(ids))
        specs = [self.spec(family, u) for u in unique]
        if not self._cached:
            vals = self.load_many(specs)
            by_id = dict(zip(unique, vals, strict=True))
            return [by_id[u] for u in ids], "uncached"
        got = self.strategy.read_many(specs)
        by_id = {u: v for u, (v, _) in zip(unique, got, strict=True)}
        hit = not any(loaded for _, loaded in got)
        return [by_id[u] for u in ids], "hit" if hit else "miss"

    def fresh(self, conn: Connection, family: str, *args: Any, at: float | None = None) -> Any:
        """The uncached answer for the same args on ``conn``: at the clock's time, or at clock
        time ``at`` over the data as it is now (what a time-dependent answer was then)."""
        when = self.now if at is None else datetime.fromtimestamp(at, UTC)
        if family in FAMILIES and FAMILIES[family].per_id:
            ids = scan_ids(args) if FAMILIES[family].scan else [as_id("user_id", a) for a in args]
            specs = [build_spec(family, (u,), self.ttls, when, self.admin_id) for u in ids]
            return run_many(conn, specs, when) if specs else []
        return run_query(conn, build_spec(family, args, self.ttls, when, self.admin_id), when)

    # -- writes ----------------------------------------------------------------------------
    def write(self, op: str, *args: Any) -> WriteEvent:
        """Run write ``op`` (``WRITE_OPS``) with the workload's args, commit, invalidate.

        Raises :class:`InvalidTransition` (nothing written) when the row's state forbids it.
        """
        event = self._write(op, args)
        if self._cached:
            self.on_commit(event)
        return event

    def _write(self, op: str, args: tuple[Any, ...]) -> WriteEvent:
        now = self.now
        if op not in WRITE_OPS:
            raise UnknownNameError("write operation", op, WRITE_OPS)
        need = WRITE_ARGS[op]
        if len(args) != len(need):
            raise ConfigError(
                op, f"takes {len(need)} arguments ({', '.join(need)}), got {len(args)}: {args!r}"
            )
        if op == "insert_user":
            return w.insert_user(self.engine, as_id("user_id", args[0]), now)
        if op in RMW_OPS:  # YCSB's read-modify-write: the read goes through the cache
            family, write_op = RMW_OPS[op]
            self.read(family, args[0])
            return self._write(write_op, args)
        if op == "user_profile":
            return w.update_user_profile(self.engine, as_id("user_id", args[0]), args[1], None, now)
        if op in PROFILE_CHANGES:
            return self._profile(op, args[0], args[1], now)
        if op == "preferences":
            return w.update_user_profile(
                self.engine, as_id("user_id", args[0]), "preferences", None, now
            )
        if op == "verification":
            u = self._expert_user(args[0])
            return w.update_user_profile(self.engine, u, "verification", None, now)
        if op == "availability":
            e = as_id("expert_id", args[0])
            return w.update_expert_availability(self.engine, e, self._slots(e, now), now)
        if op == "create_appointment":
            u, e = as_id("user_id", args[0]), as_id("expert_id", args[1])
            at = self._next_slot(u, e, now)
            return w.create_appointment(self.engine, u, e, at, APPOINTMENT_MINUTES, now)
        if op in ("appointment_status", "cancel_appointment"):
            a = as_id("appointment_id", args[0])
            status = args[1] if op == "appointment_status" else "cancelled"
            self._check_transition(a, status)
            return w.change_appointment_status(self.engine, a, status, now)
        if op == "reschedule_appointment":
            a = as_id("appointment_id", args[0])
            return self._state(w.reschedule_appointment, a, self._free_slot(a, now), now)
        if op == "complete_payment":
            return self._state(w.complete_payment, as_id("payment_id", args[0]), now)
        if op == "refund_payment":
            return self._state(w.refund_payment, as_id("payment_id", args[0]), now)
        u, e = as_id("user_id", args[0]), as_id("expert_id", args[1])
        rating = 1 + (u * 7 + e * 3) % 5
        return w.add_review(self.engine, e, u, rating, f"review {u}->{e}", now)

    def _state(self, write: Callable[..., WriteEvent], *args: Any) -> WriteEvent:
        """``write(engine, *args)``, a refusal by the row's state as an InvalidTransition."""
        try:
            return write(self.engine, *args)
        except InvalidTransition:
            raise
        except w.InvalidStateError as exc:
            raise InvalidTransition(str(exc)) from exc

    def _expert_user(self, expert_id: Any) -> int:
        e = as_id("expert_id", expert_id)
        try:
            return self._expert_users[e]
        except KeyError:
            raise w.NotFoundError("expert", e) from None

    def _profile(self, op: str, who: Any, change: Any, now: datetime) -> WriteEvent:
        """A patient's or an expert's own edit: a new name, a new bio, or (experts) a new fee."""
        if change not in PROFILE_CHANGES[op]:
            raise ConfigError(
                f"{op} change", f"{change!r}; accepted: {', '.join(PROFILE_CHANGES[op])}"
            )
        if change == "fee":
            return w.update_expert_rate(self.engine, as_id("expert_id", who), None, now)
        u = self._expert_user(who) if op == "expert_profile" else as_id("user_id", who)
        if change == "name":
            return w.rename_user(self.engine, u, now)
        return w.update_user_profile(self.engine, u, "profile", None, now)

    @staticmethod
    def _slots(expert_id: int, now: datetime) -> list[tuple[datetime, datetime]]:
        """Deterministic new availability: SLOT_DAYS days from tomorrow, hours by expert."""
        day = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        shift = expert_id % 3
        return [
            (day + timedelta(days=d, hours=h + shift), day + timedelta(days=d, hours=h + shift + 1))
            for d in range(SLOT_DAYS)
            for h in SLOT_HOURS
        ]

    def _next_slot(self, user_id: int, expert_id: int, now: datetime) -> datetime:
        with self.engine.connect() as conn:
            at = conn.execute(
                text(
                    "SELECT min(starts_at) FROM availability_slots "
                    "WHERE expert_id = :e AND starts_at >= :now AND NOT is_booked"
                ),
                {"e": expert_id, "now": now},
            ).scalar()
        if at is not None:
            return at.astimezone(UTC)  # type: ignore[no-any-return]
        base = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        return base + timedelta(hours=user_id % 8)

    def _free_slot(self, appointment_id: int, now: datetime) -> datetime:
        """Where an open appointment moves: its expert's earliest free slot from ``now`` other
        than its own time; InvalidTransition when it is not open or there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    """
                    SELECT a.status, (SELECT min(s.starts_at) FROM availability_slots s
                        WHERE s.expert_id = a.expert_id AND s.starts_at >= :now
                          AND NOT s.is_booked AND s.starts_at <> a.scheduled_at) AS slot
                    FROM appointments a WHERE a.id = :a
                    """
                ),
                {"a": appointment_id, "now": now},
            ).first()
        if row is None:
            raise w.NotFoundError("appointment", appointment_id)
        if row.status not in w.OPEN_STATUSES:
            raise InvalidTransition(
                f"appointment {appointment_id} is {row.status!r}; only "
                f"{' or '.join(w.OPEN_STATUSES)} appointments can be rescheduled"
            )
        if row.slot is None:
            raise InvalidTransition(f"no free slot to move appointment {appointment_id} to")
        return row.slot.astimezone(UTC)  # type: ignore[no-any-return]

    def _check_transition(self, appointment_id: int, status: Any) -> None:
        with self.engine.connect() as conn:
            current = conn.execute(
                text("SELECT status FROM appointments WHERE id = :a"), {"a": appointment_id}
            ).scalar()
        if current is None:
            raise w.NotFoundError("appointment", appointment_id)
        if status not in TRANSITIONS.get(str(current), ()):
            raise InvalidTransition(
                f"appointment {appointment_id} is {current!r}; it may become "
                f"{', '.join(TRANSITIONS.get(str(current), ())) or 'nothing'}, not {status!r}"
            )

    # -- time and lifecycle ----------------------------------------------------------------
    def tick(self) -> None:
        """Let the strategy do time-driven work at clock time (the seed plan's flush)."""
        if self._cached:
            self.strategy.tick(self.clock.now())

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until asynchronous invalidation (notify) caught up with every commit."""
        return self.strategy.drain(timeout) if self._cached else True

    def close(self) -> None:
        """Stop the strategy (listener threads, triggers); the cache is the caller's."""
        if self._cached:
            self.strategy.close()
