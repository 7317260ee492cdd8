"""The strategy contract: what an invalidation strategy sees of the application, and what it is.

A strategy imports this module and the cache, nothing of the application. The application
(``evalcache.domain``) describes each cacheable read as a :class:`ReadSpec`, each committed
write as a :class:`WriteEvent`, and passes a :class:`Host` whose :class:`DependencyMap` knows
which dependency groups a write makes stale and which cache keys hold a group's entries.

Dependency groups are strings ``kind:id`` (``user:42``, ``expert_appts:7``) or a bare ``kind``
(``admin``); the id :data:`WILD` stands for "every id" (:func:`wildcard`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from evalcache.cache.keys import ANY, Part, _Any

if TYPE_CHECKING:
    from evalcache.cache import DatabaseCache

__all__ = [
    "ANY",
    "WILD",
    "ChangeFeed",
    "DependencyMap",
    "EventKind",
    "Host",
    "InvalidationStrategy",
    "ReadSpec",
    "Target",
    "WriteEvent",
    "wildcard",
]

WILD = "*"  # a group id standing for "every id": produced only when lookups are skipped

EventKind = Literal[
    "user_updated",  # detail: "profile" | "preferences" | "verification"
    "expert_updated",  # detail: the experts column written ("hourly_rate")
    "availability_updated",
    "appointment_created",
    "appointment_status_changed",  # detail: the new status
    "appointment_rescheduled",
    "payment_completed",
    "payment_refunded",
    "review_added",
    "user_created",  # a new user with its profile rows
]


@dataclass(frozen=True, slots=True)
class WriteEvent:
    """One committed write, as the application reports it after the commit.

    Attributes
    ----------
    kind:
        What happened (an :data:`EventKind`).
    user_id, expert_id, appointment_id, payment_id, review_id:
        Ids the write touched (``None`` when not applicable). ``expert_id`` is the id of the
        experts row, ``user_id`` of the users row (a patient, or the expert's own user row for
        an expert profile update).
    detail:
        Sub-kind: the update type of ``user_updated``, the column of ``expert_updated``, the
        new status of ``appointment_status_changed``.
    tables:
        Tables the transaction wrote, for table-version strategies.
    committed_at:
        Clock time (the run's clock) at which the write committed.
    columns:
        Columns of the ``detail``'s table the write changed, when the application knows them
        (``()``: unknown, any may have changed; a row-change feed cannot tell).
    """

    kind: EventKind
    user_id: int | None = None
    expert_id: int | None = None
    appointment_id: int | None = None
    payment_id: int | None = None
    review_id: int | None = None
    detail: str | None = None
    tables: tuple[str, ...] = field(default=())
    committed_at: float = 0.0
    columns: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ReadSpec:
    """One cacheable read: what the repository asks a strategy to key and fill.

    Attributes
    ----------
    family: query family (the application's registry name), the counters' label.
    key_family, parts: the entry key (``cache.key(key_family, *parts)``).
    ttl: clock seconds for a value (negative entries use the host's ``negative_ttl``).
    groups: dependency groups of the entry, known before loading.
    tables: tables the query reads.
    args: the normalised query arguments.
    """

    family: str
    key_family: str
    parts: tuple[Part, ...]
    ttl: float
    groups: tuple[str, ...]
    tables: tuple[str, ...]
    args: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Target:
    """Cache keys holding a group's entries: ``cache.key(family, *parts)``, or a SCAN pattern
    when a part is :data:`ANY`."""

    family: str
    parts: tuple[Part | _Any, ...]

    @property
    def is_pattern(self) -> bool:
        return ANY in self.parts


def wildcard(group: str) -> str:
    """The group with its id replaced by :data:`WILD` (every id of its kind)."""
    kind, sep, _ = group.partition(":")
    return f"{kind}:{WILD}" if sep else group


class ChangeFeed(Protocol):
    """Committed row changes delivered asynchronously (``notify``): see ``DependencyMap``.

    ``notifications`` counts what arrived, ``errors`` what could not be handled.
    """

    notifications: int
    errors: int

    def sync(self, timeout: float) -> bool:
        """Wait until every change committed before this call has been delivered."""
        ...

    def close(self) -> None: ...


#: ``(event, commit timestamp in wall seconds)``, called on the feed's own thread
ChangeHandler = Callable[[WriteEvent, float], None]


class DependencyMap(Protocol):
    """The application's invalidation knowledge, as strategies may use it."""

    def groups(self, event: WriteEvent, *, exact: bool = True) -> list[str]:
        """Groups ``event`` makes stale; ``exact=False`` skips database look-ups (wildcards)."""
        ...

    def targets(self, groups: Sequence[str]) -> list[Target]:
        """Deduplicated key targets of ``groups``."""
        ...

    def change_feed(self, handler: ChangeHandler, *, keep_triggers: bool = False) -> ChangeFeed:
        """Start delivering committed row changes as events to ``handler`` (until closed;
        ``keep_triggers`` leaves the database side installed after ``close``)."""
        ...


class Host(Protocol):
    """What a strategy may use of the repository it is bound to."""

    cache: DatabaseCache
    negative_ttl: float
    deps: DependencyMap

    def load(self, spec: ReadSpec) -> Any: ...

    def load_many(self, specs: Sequence[ReadSpec]) -> list[Any]: ...

    def spec_from_key(self, key: str) -> ReadSpec | None: ...


@runtime_checkable
class InvalidationStrategy(Protocol):
    """A pluggable invalidation strategy: how entries are keyed and filled, and what a
    committed write does to the cache.

    Behaviour flags
    ---------------
    race_free: a value loaded before a concurrent write's invalidation is never left cached.
    write_effect: what a write does to the entries it makes stale, as the TTL model
        (``evalcache.model.WRITE_EFFECTS``) knows it: ``key`` deletes them (the next read
        misses), ``family`` deletes every entry of each family whose tables it wrote, whatever
        the id (``pattern``, ``table``), ``refresh`` rewrites them (``write_through``: no miss
        after a write), ``none`` leaves them to their TTL (``ttl``).
    refreshes: fills go through ``get_or_load``, so refresh ahead applies.
    refresh_modes: the run parameter ``refresh`` values the strategy honours (``none``
        always; a run asking for another is refused rather than silently never refreshing).
    """

    name: str
    race_free: bool
    write_effect: str
    refreshes: bool
    refresh_modes: tuple[str, ...]

    def bind(self, host: Host) -> None: ...

    def read(self, spec: ReadSpec, loader: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, loaded)``: ``loaded`` is True when this call ran ``loader`` (a miss)."""
        ...

    def read_many(self, specs: Sequence[ReadSpec]) -> list[tuple[Any, bool]]:
        """Batch read: one round trip for the hits, one query for every miss."""
        ...

    def on_write(self, event: WriteEvent) -> None: ...

    def tick(self, now: float) -> None: ...

    def drain(self, timeout: float = 5.0) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...
