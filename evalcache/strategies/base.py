"""Default strategy behaviour: seed-plan keys, lease fills, no invalidation, counted writes.

:class:`BaseStrategy` fills through the cache core's ``get_or_load`` (leases: a load that
raced an invalidation is dropped). :class:`PlainFills` is the seed plan's cache-aside instead
(GET, load, SET), which can store a value loaded before a concurrent invalidation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evalcache.cache.entry import NO_VALUE
from evalcache.strategies.api import Host, ReadSpec, Target, WriteEvent

if TYPE_CHECKING:
    from evalcache.cache import DatabaseCache


class BaseStrategy:
    """Defaults of the contract (:class:`~evalcache.strategies.api.InvalidationStrategy`):
    entries under the spec's own key, race-free lease fills, writes do nothing."""

    name = "base"
    race_free = True
    write_effect = "key"
    refreshes = True
    refresh_modes: tuple[str, ...] = ("none", "threshold", "xfetch")

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
    def keys(self, specs: Sequence[ReadSpec]) -> list[str] | None:
        """Entry keys of ``specs``; ``None`` when they cannot be known now (Redis down)."""
        cache = self.cache
        return [cache.key(s.key_family, *s.parts) for s in specs]

    def tags(self, spec: ReadSpec) -> tuple[str, ...]:
        return ()

    # -- reads -----------------------------------------------------------------------------
    def read(self, spec: ReadSpec, loader: Callable[[], Any]) -> tuple[Any, bool]:
        keys = self.keys([spec])
        if keys is None:
            return self.cache.load_uncached(loader, family=spec.family), True
        return self.fill(spec, keys[0], loader)

    def read_many(self, specs: Sequence[ReadSpec]) -> list[tuple[Any, bool]]:
        keys = self.keys(specs)
        if keys is None:
            family = specs[0].family if specs else None
            values = self.cache.load_uncached(lambda: self.host.load_many(specs), family=family)
            return [(v, True) for v in values]
        return self.fill_many(specs, keys)

    def cached(
        self, specs: Sequence[ReadSpec], keys: Sequence[str]
    ) -> tuple[list[tuple[Any, bool]], list[int]]:
        """One MGET: ``(value, False)`` per key (:data:`NO_VALUE` on a miss), and the misses."""
        got = self.cache.mget(keys, family=specs[0].family if specs else None)
        return [(v, False) for v in got], [i for i, v in enumerate(got) if v is NO_VALUE]

    def fill(self, spec: ReadSpec, key: str, loader: Callable[[], Any]) -> tuple[Any, bool]:
        """``(value, loaded)`` of one entry through ``get_or_load`` (leases, single flight)."""
        ran = False

        def run() -> Any:
            nonlocal ran
            ran = True
            return loader()

        value = self.cache.get_or_load(
            key,
            run,
            spec.ttl,
            tags=self.tags(spec),
            negative_ttl=self.host.negative_ttl,
            family=spec.family,
        )
        return value, ran

    def fill_many(self, specs: Sequence[ReadSpec], keys: Sequence[str]) -> list[tuple[Any, bool]]:
        """Batch fill: one MGET, then ONE query for the missing entries.

        Every missing key's lease is taken first (nested ``get_or_load`` calls; the innermost
        loader runs the single query for every lease still held), so a concurrent
        invalidation of any of them drops that late result exactly as for single reads.
        """
        cache = self.cache
        out, missing = self.cached(specs, keys)
        if not missing:
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
        self.count_invalidation(removed, (time.perf_counter() - t0) * 1000)

    def count_invalidation(self, removed: int, ms: float) -> None:
        with self._lock:
            self._counts["invalidations"] += 1
            self._counts["keys_removed"] += removed
            self._counts["time_ms"] += ms

    def invalidate(self, event: WriteEvent) -> int:
        """React to ``event``; return the number of keys removed (or written)."""
        return 0

    def apply_targets(self, targets: Sequence[Target]) -> int:
        """Delete direct keys in one UNLINK; SCAN + UNLINK each pattern target."""
        cache = self.cache
        direct = [cache.key(t.family, *t.parts) for t in targets if not t.is_pattern]  # type: ignore[arg-type]
        removed = cache.invalidate(direct) if direct else 0
        for t in targets:
            if t.is_pattern:
                removed += cache.invalidate_pattern(cache.pattern(t.family, *t.parts))
        return removed

    # -- time and lifecycle ----------------------------------------------------------------
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


class PlainFills(BaseStrategy):
    """The seed plan's cache-aside fills: GET; on a miss load and SET (no lease).

    A reader that loaded before a write and SETs after its invalidation leaves a stale entry,
    so strategies filling this way are not race-free; the cache's refresh ahead never runs
    (no ``get_or_load``; ``seed`` runs the plan's own threshold refresh instead).
    """

    race_free = False
    refreshes = False
    refresh_modes: tuple[str, ...] = ("none",)

    def fill(self, spec: ReadSpec, key: str, loader: Callable[[], Any]) -> tuple[Any, bool]:
        cache = self.cache
        value = cache.get(key, family=spec.family)
        if value is not NO_VALUE:
            return value, False
        value = loader()
        ttl = self.host.negative_ttl if value is None else spec.ttl
        cache.set(key, value, ttl, tags=self.tags(spec))
        return value, True

    def fill_many(self, specs: Sequence[ReadSpec], keys: Sequence[str]) -> list[tuple[Any, bool]]:
        cache = self.cache
        out, missing = self.cached(specs, keys)
        if not missing:
            return out
        values = self.host.load_many([specs[i] for i in missing])
        for i, v in zip(missing, values, strict=True):
            ttl = self.host.negative_ttl if v is None else specs[i].ttl
            cache.set(keys[i], v, ttl, tags=self.tags(specs[i]))
            out[i] = (v, True)
        return out
