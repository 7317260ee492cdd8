"""The invalidation-strategy contract and a base class with the common fill paths.

A strategy sees the repository through :class:`Host` (cache, engine, admin id, specialization
map, the uncached loader and key parsing) and decides three things: the key of an entry
(:meth:`keys`: generation/table embed counters), how an entry is filled (:meth:`fetch`:
race-free ``get_or_load`` leases, or the seed plan's plain GET-then-SET) and what a committed
write does to the cache (:meth:`on_write`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import Engine

from evalcache.cache.entry import NO_VALUE
from evalcache.cache.keys import ANY, Part
from evalcache.events import WriteEvent
from evalcache.strategies.deps import (
    Related,
    Target,
    event_groups,
    lookup_related,
    needs_lookup,
)

if TYPE_CHECKING:
    from evalcache.cache.loading import DatabaseCache


@dataclass(frozen=True, slots=True)
class ReadSpec:
    """One cacheable read: what the repository asks a strategy to key and fill.

    Attributes
    ----------
    family: contract family (``evalcache.workload.spec.FAMILIES``), the counters' label.
    key_family, parts: the seed plan's key (``cache.key(key_family, *parts)``).
    ttl: clock seconds for a value (negative entries use the repository's negative TTL).
    groups: dependency groups (``strategies.deps``), known before loading.
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


class Host(Protocol):
    """What a strategy may use of the repository it is bound to."""

    cache: DatabaseCache
    engine: Engine
    admin_id: int
    negative_ttl: float

    def specs_of(self, expert_id: int) -> tuple[str, ...]: ...

    def load(self, spec: ReadSpec) -> Any: ...

    def load_many(self, specs: Sequence[ReadSpec]) -> list[Any]: ...

    def spec_from_key(self, key: str) -> ReadSpec | None: ...


@runtime_checkable
class InvalidationStrategy(Protocol):
    """A pluggable invalidation strategy (see :mod:`evalcache.strategies`)."""

    name: str
    race_free: bool

    def bind(self, host: Host) -> None: ...

    def keys(self, specs: Sequence[ReadSpec]) -> list[str]: ...

    def tags(self, spec: ReadSpec) -> tuple[str, ...]: ...

    def fetch(self, spec: ReadSpec, key: str, loader: Callable[[], Any]) -> tuple[Any, bool]: ...

    def fetch_many(
        self, specs: Sequence[ReadSpec], keys: Sequence[str]
    ) -> list[tuple[Any, bool]]: ...

    def on_write(self, event: WriteEvent) -> None: ...

    def tick(self, now: float) -> None: ...

    def drain(self, timeout: float = 5.0) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class BaseStrategy:
    """Defaults: seed-plan keys, race-free ``get_or_load`` fills, no invalidation.

    ``plain_fills = True`` switches to the seed plan's cache-aside (GET, load, SET), which can
    store a value loaded before a concurrent invalidation (``race_free`` must then be False).
    """

    name = "base"
    race_free = True
    plain_fills = False

    def __init__(self) -> None:
        self._host: Host | None = None
        self._lock = threading.Lock()
        self._counts: dict[str, float] = {"invalidations": 0, "keys_removed": 0, "time_ms": 0.0}

    # -- binding ---------------------------------------------------------------------------
    def bind(self, host: Host) -> None:
        self._host = host

    @property
    def host(self) -> Host:
        if self._host is None:
            raise RuntimeError(f"strategy {self.name!r} is not bound to a repository")
        return self._host

    @property
    def cache(self) -> DatabaseCache:
        return self.host.cache

    # -- keys and tags ---------------------------------------------------------------------
    def keys(self, specs: Sequence[ReadSpec]) -> list[str]:
        return [self.cache.key(s.key_family, *s.parts) for s in specs]

    def tags(self, spec: ReadSpec) -> tuple[str, ...]:
        return ()

    # -- fills -----------------------------------------------------------------------------
    def fetch(self, spec: ReadSpec, key: str, loader: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, loaded)``: ``loaded`` is True when this call ran ``loader`` (a miss)."""
        cache = self.cache
        if self.plain_fills:
            value = cache.get(key, family=spec.family)
            if value is not NO_VALUE:
                return value, False
            value = loader()
            ttl = self.host.negative_ttl if value is None else spec.ttl
            cache.set(key, value, ttl, tags=self.tags(spec))
            return value, True
        ran = False

        def run() -> Any:
            nonlocal ran
            ran = True
            return loader()

        value = cache.get_or_load(
            key,
            run,
            spec.ttl,
            tags=self.tags(spec),
            negative_ttl=self.host.negative_ttl,
            family=spec.family,
        )
        return value, ran

    def fetch_many(self, specs: Sequence[ReadSpec], keys: Sequence[str]) -> list[tuple[Any, bool]]:
        """Batch fill: one MGET, then ONE query for the missing entries.

        Plain fills SET the loaded values afterwards (the seed plan). Race-free fills first
        take every missing key's lease (nested ``get_or_load`` calls, the innermost loader runs
        the single query for every lease still held), so a concurrent invalidation of any of
        them drops that late result exactly as for single reads.
        """
        cache = self.cache
        got = cache.mget(keys, family=specs[0].family if specs else None)
        out: list[tuple[Any, bool]] = [(v, False) for v in got]
        missing = [i for i, v in enumerate(got) if v is NO_VALUE]
        if not missing:
            return out
        if self.plain_fills:
            values = self.host.load_many([specs[i] for i in missing])
            for i, v in zip(missing, values, strict=True):
                ttl = self.host.negative_ttl if v is None else specs[i].ttl
                cache.set(keys[i], v, ttl, tags=self.tags(specs[i]))
                out[i] = (v, True)
            return out
        loaded: dict[int, Any] = {}
        stack: list[int] = []

        def chain(pos: int) -> None:
            if pos == len(missing):
                todo = [i for i in stack if i not in loaded]
                if todo:
                    vals = self.host.load_many([specs[i] for i in todo])
                    loaded.update(zip(todo, vals, strict=True))
                return
            i = missing[pos]
            ran = False

            def loader() -> Any:
                nonlocal ran
                ran = True
                stack.append(i)
                try:
                    chain(pos + 1)
                finally:
                    stack.pop()
                if i not in loaded:  # our lease was taken after the query ran: load alone
                    loaded[i] = self.host.load_many([specs[i]])[0]
                return loaded[i]

            value = cache.get_or_load(
                keys[i],
                loader,
                specs[i].ttl,
                tags=self.tags(specs[i]),
                negative_ttl=self.host.negative_ttl,
            )
            out[i] = (value, ran)
            if not ran:
                chain(pos + 1)

        chain(0)
        return out

    # -- writes ----------------------------------------------------------------------------
    def on_write(self, event: WriteEvent) -> None:
        """Time and count :meth:`invalidate` (the strategy's reaction to a committed write)."""
        t0 = time.perf_counter()
        removed = self.invalidate(event)
        ms = (time.perf_counter() - t0) * 1000
        with self._lock:
            self._counts["invalidations"] += 1
            self._counts["keys_removed"] += removed
            self._counts["time_ms"] += ms

    def invalidate(self, event: WriteEvent) -> int:
        """React to ``event``; return the number of keys removed (or written)."""
        return 0

    def groups_of(self, event: WriteEvent, *, lookup: bool = True) -> list[str]:
        """The dependency groups ``event`` makes stale (exact with ``lookup``)."""
        related: Related | None = None
        if lookup and needs_lookup(event):
            with self.host.engine.connect() as conn:
                related = lookup_related(conn, event)
        return event_groups(event, self.host.specs_of, related)

    def apply_targets(self, targets: Sequence[Target]) -> int:
        """Delete direct keys in one UNLINK; SCAN + UNLINK each target containing ``ANY``."""
        cache = self.cache
        direct = [cache.key(f, *p) for f, p in targets if ANY not in p]  # type: ignore[arg-type]
        removed = cache.invalidate(direct) if direct else 0
        for f, p in targets:
            if ANY in p:
                removed += cache.invalidate_pattern(cache.pattern(f, *p))
        return removed

    def tick(self, now: float) -> None:
        return None

    def drain(self, timeout: float = 5.0) -> bool:
        return True

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
        out["strategy"] = self.name
        out["race_free"] = self.race_free
        return out

    def close(self) -> None:
        return None
