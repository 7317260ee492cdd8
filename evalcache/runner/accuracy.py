"""Invalidation accuracy per write, checked the way Meta's Polaris checks cache invalidations.

After each write's invalidation steps, every cached entry that depends on the written rows is
compared with the database. The stale-read rate answers "how often is a read wrong"; this
answers "how often does a write leave something wrong behind, and for how long", which a
strategy that invalidates nothing cannot pass by being read mostly on keys nobody writes.

Which entries depend on a write comes from the application, never from the strategy under
test: the write's groups from :meth:`AppDependencies.groups` (``exact=True``: the post-commit
look-ups run on the oracle's engine) and each entry's groups from the family registry
(:func:`~evalcache.domain.families.entry_groups`, carried by its ``ReadSpec``). Which entries
are cached: an index group -> entries, fed by the stores the staleness oracle observes (a
fill's or a refresh's store of a value it loaded; the entries of ``user_profiles_batch`` and
``user_profiles_scan`` are ``user_profile`` entries). An entry found gone, or whose TTL has run
out since its last store, is dropped from the index until stored again; one deleted by an
invalidation wider than the dependency map (a pattern, a table version, the seed plan's periodic
flush) stays indexed until a write it depends on finds it gone, and counts then as a consistent
dependent.

An entry is **consistent** when a reader would not be served a stale value: its key is absent
(a lease, an undecodable entry or one past its TTL on the run's clock count as absent), or its
value equals the database's answer now, or the answer at the entry's creation time over
today's data (a time-dependent answer drifts with the clock, not with a write: not the
invalidation's business). The key is the one a reader would look up: the spec's key, or, for
the strategies that key entries by counters (``generation``, ``table``), that key with the
counters' current values (the one thing read from the strategy: it defines what a reader
reaches).

Time until consistent: a stale entry is re-checked when something may have changed it (a
later write, the cache's invalidation count moving, a store of its key, a deferred
invalidation's process ending) and at the latest at its TTL, which ends it exactly. The time
is that instant minus the write that left it stale (an upper bound of the true time, within
one request). One still stale when the run ends is "never", with its age then. Only writes in
the measured window are judged.

Cost to the measured system: none. The database is read on the oracle's engine (uncounted,
untracked by pg_stat_statements), Redis through the checker's own client, whose commands are
counted apart (:attr:`InvalidationChecker.commands`) so the server-wide count can leave them
out; neither has hold points, so in overlap no check takes virtual time. Its GETs refresh the
keys' idle time in Redis (7.0 has no ``CLIENT NO-TOUCH``), which matters only to LRU eviction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import Connection

from evalcache.cache import DatabaseCache
from evalcache.cache.codec import Codec, codecs_by_id
from evalcache.cache.entry import (
    HEADER,
    HEADER_SIZE,
    KIND_LEASE,
    KIND_NEGATIVE,
    KIND_VALUE,
    MAGIC,
    CorruptEntry,
    read_header,
)
from evalcache.clock import Clock
from evalcache.domain.readspecs import run_query
from evalcache.metrics import CommandCount, age_percentiles
from evalcache.strategies.api import DependencyMap, ReadSpec, WriteEvent
from evalcache.strategies.counters import CounterKeyed

#: An entry as the staleness oracle names a load: ``(family, *args)``.
Ref = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Found:
    """An entry a reader would be served: its value and header fields."""

    value: Any
    token: bytes
    created_at: float
    expires_at: float


@dataclass
class _Stale:
    """An entry a measured write left stale, until it becomes consistent."""

    spec: ReadSpec
    token: bytes
    expires_at: float
    since: list[tuple[str, float]]  # (write op, when it left the entry stale)
    stored_at: float | None = None  # its key's latest observed store since


@dataclass
class _Tally:
    """Figures of one write op (or of all)."""

    writes: int = 0
    with_dependents: int = 0
    fully: int = 0
    entries: int = 0
    stale: int = 0
    consistent_s: list[float] = field(default_factory=list)
    never_s: list[float] = field(default_factory=list)

    def add(self, other: _Tally) -> None:
        self.writes += other.writes
        self.with_dependents += other.with_dependents
        self.fully += other.fully
        self.entries += other.entries
        self.stale += other.stale
        self.consistent_s += other.consistent_s
        self.never_s += other.never_s

    def figures(self) -> dict[str, Any]:
        """The ``invalidation_accuracy`` figures (``results_schema.WriteAccuracy``)."""
        later = age_percentiles(self.consistent_s)
        return {
            "writes": self.writes,
            "writes_with_dependents": self.with_dependents,
            "writes_fully_invalidated": self.fully,
            "fully_invalidated_share": (
                self.fully / self.with_dependents if self.with_dependents else None
            ),
            "entries_checked": self.entries,
            "entries_stale": self.stale,
            "entries_consistent_later": len(self.consistent_s),
            "entries_never_consistent": len(self.never_s),
            "consistent_p50_s": later.p50_s,
            "consistent_p99_s": later.p99_s,
            "consistent_max_s": later.max_s,
            "never_age_max_s": max(self.never_s) if self.never_s else None,
        }


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class InvalidationChecker:
    """Checks every cached dependent of each write against the database (module docstring).

    Parameters
    ----------
    repo:
        The cached repository (its strategy, and ``spec`` to rebuild an entry's spec).
    cache:
        The run's cache (key layout, codec and its invalidation count; never its client).
    client:
        The checker's own Redis client (same server and database as the cache's).
    deps:
        The dependency map on the oracle's engine (its look-ups are not the run's load).
    connection:
        The oracle's database connection of the calling thread.
    clock:
        The run's clock.
    commands:
        Counts the commands ``client`` sends (:func:`evalcache.metrics.count_commands`).
    """

    def __init__(
        self,
        repo: Any,
        cache: DatabaseCache,
        client: redis.Redis,
        deps: DependencyMap,
        connection: Callable[[], Connection],
        clock: Clock,
        commands: CommandCount,
    ) -> None:
        self._repo = repo
        self._strategy = repo.strategy
        self._cache = cache
        self._keys = cache.keys
        self._codecs: dict[int, Codec] = {**codecs_by_id(), cache.codec.codec_id: cache.codec}
        self._client = client
        self._deps = deps
        self._connection = connection
        self._clock = clock
        self.commands = commands
        self._lock = threading.RLock()
        self._index: dict[str, set[Ref]] = {}  # dependency group -> cached entries
        self._specs: dict[Ref, ReadSpec] = {}
        self._until: dict[Ref, float] = {}  # an indexed entry's TTL end after its last store
        self._stored: dict[Ref, float] = {}  # stores not yet indexed: entry -> clock time
        self._stale: dict[Ref, _Stale] = {}
        self._touched = False  # a stale entry's key was stored since the last re-check
        self._seen = -1  # the cache's invalidation count at the last re-check
        self._tallies: dict[str, _Tally] = {}

    # -- hooks -----------------------------------------------------------------------------
    def stored(self, key: Ref) -> None:
        """The cache stored a loaded value of ``key`` (the oracle's store hook; cheap: it runs
        inside the measured request)."""
        now = self._clock.now()
        with self._lock:
            self._stored[key] = now

    def wrote(self, op: str, event: WriteEvent, measured: bool) -> None:
        """Write ``op`` committed ``event`` and ran its invalidation steps: judge every cached
        entry that depends on it (``measured``: the write is in the measured window)."""
        with self._lock:
            now = self._clock.now()
            self._index_stores()
            self.recheck()
            if not measured:
                return
            groups = self._deps.groups(event, exact=True)
            refs = list(dict.fromkeys(r for g in groups for r in self._index.get(g, ())))
            tally = self._tallies.setdefault(op, _Tally())
            tally.writes += 1
            specs = [self._specs[r] for r in refs]
            checked = stale = 0
            for ref, spec, found in zip(refs, specs, self._read(specs, now), strict=True):
                if found is None:
                    # gone: a dependent this write's invalidation (or an earlier one) deleted,
                    # unless its TTL had already run out, when it was no longer cached at all
                    checked += int(self._until[ref] > now)
                    self._drop(ref)
                    continue
                checked += 1
                self._until[ref] = found.expires_at  # a store the oracle did not see may renew it
                if self._agrees(spec, found, now):
                    continue
                stale += 1
                rec = self._stale.get(ref)
                if rec is None:
                    self._stale[ref] = _Stale(spec, found.token, found.expires_at, [(op, now)])
                else:
                    rec.token, rec.expires_at = found.token, found.expires_at
                    rec.since.append((op, now))
            if not checked:
                return
            tally.with_dependents += 1
            tally.entries += checked
            tally.stale += stale
            tally.fully += int(stale == 0)

    def settle(self) -> None:
        """A request ended: index its stores; re-check stale entries if anything may have
        changed them (a store of their key, an invalidation the cache counted)."""
        with self._lock:
            self._index_stores()
            if not self._stale:
                return
            if not self._touched and self._cache.stats()["invalidations"] == self._seen:
                return
            self.recheck()

    def recheck(self) -> None:
        """Re-check every stale entry now (a deferred invalidation ran, a write came, the end)."""
        with self._lock:
            self._touched = False
            self._seen = self._cache.stats()["invalidations"]
            if not self._stale:
                return
            now = self._clock.now()
            refs = list(self._stale)
            recs = [self._stale[r] for r in refs]
            keys = self._reader_keys([rec.spec for rec in recs])
            pipe = self._client.pipeline(transaction=False)
            for k in keys:
                pipe.getrange(k, 0, HEADER_SIZE - 1)
            heads = pipe.execute()
            changed: list[int] = []
            for i, (ref, rec, head) in enumerate(zip(refs, recs, heads, strict=True)):
                state = _header_state(head)
                if state is None:  # gone: deleted, a lease, undecodable
                    self._resolve(ref, min(now, rec.expires_at))
                elif state == rec.token:
                    if now >= rec.expires_at:
                        self._resolve(ref, rec.expires_at)
                else:
                    changed.append(i)
            if not changed:
                return
            # a new entry under the key: judge its value
            specs = [recs[i].spec for i in changed]
            raws: list[Any] = self._client.mget([keys[i] for i in changed])
            for i, spec, raw in zip(changed, specs, raws, strict=True):
                ref, rec = refs[i], recs[i]
                found = self._decode(raw, now)
                if found is None:
                    self._resolve(ref, min(now, rec.expires_at))
                elif self._agrees(spec, found, now):
                    at = rec.stored_at if rec.stored_at is not None else now
                    self._resolve(ref, min(at, rec.expires_at))
                else:  # stored stale again (a fill or refresh race): it lives on
                    rec.token, rec.expires_at = found.token, found.expires_at

    def finish(self) -> None:
        """The run ended: a last re-check; what is still stale never became consistent."""
        with self._lock:
            self._index_stores()
            self.recheck()
            now = self._clock.now()
            for rec in self._stale.values():
                for op, since in rec.since:
                    self._tallies[op].never_s.append(max(0.0, now - since))
            self._stale.clear()

    def figures(self) -> dict[str, Any]:
        """``{"overall": ..., "by_write": {"write:<op>": ...}}`` (``results_schema``)."""
        with self._lock:
            overall = _Tally()
            for t in self._tallies.values():
                overall.add(t)
            by = {op: t.figures() for op, t in sorted(self._tallies.items())}
            return {"overall": overall.figures(), "by_write": by}

    # -- internals -------------------------------------------------------------------------
    def _index_stores(self) -> None:
        if not self._stored:
            return
        stored, self._stored = self._stored, {}
        for ref, at in stored.items():
            spec = self._specs.get(ref)
            if spec is None:
                spec = self._specs[ref] = self._repo.spec(ref[0], *ref[1:])
                for g in spec.groups:
                    self._index.setdefault(g, set()).add(ref)
            self._until[ref] = at + spec.ttl  # a negative entry's shorter TTL is not known here
            rec = self._stale.get(ref)
            if rec is not None:
                rec.stored_at = at
                self._touched = True

    def _drop(self, ref: Ref) -> None:
        self._until.pop(ref, None)
        spec = self._specs.pop(ref, None)
        if spec is not None:
            for g in spec.groups:
                self._index[g].discard(ref)

    def _resolve(self, ref: Ref, at: float) -> None:
        rec = self._stale.pop(ref)
        for op, since in rec.since:
            self._tallies[op].consistent_s.append(max(0.0, at - since))

    def _reader_keys(self, specs: Sequence[ReadSpec]) -> list[str]:
        """The keys a reader would look up now (counter-keyed strategies: current counters)."""
        keys = self._keys
        strategy = self._strategy
        if not isinstance(strategy, CounterKeyed):
            return [keys.key(s.key_family, *s.parts) for s in specs]
        names = [strategy.counters(s) for s in specs]
        wanted = list(dict.fromkeys(n for ns in names for n in ns))
        values: dict[str, int] = {}
        if wanted:
            raw = self._client.mget([strategy.counter_key(n) for n in wanted])
            values = {n: int(v or 0) for n, v in zip(wanted, raw, strict=True)}
        return [
            keys.key(s.key_family, *s.parts, ".".join(str(values[n]) for n in ns))
            for s, ns in zip(specs, names, strict=True)
        ]

    def _read(self, specs: Sequence[ReadSpec], now: float) -> list[Found | None]:
        if not specs:
            return []
        raws: list[Any] = self._client.mget(self._reader_keys(specs))
        return [self._decode(raw, now) for raw in raws]

    def _decode(self, raw: bytes | None, now: float) -> Found | None:
        """What a reader would be served from ``raw`` at ``now`` (``None``: a miss)."""
        if raw is None:
            return None
        try:
            _, kind, codec_id, token, created_at, ttl, _, meta_len = read_header(raw)
        except CorruptEntry:
            return None
        if kind == KIND_LEASE or now >= created_at + ttl:
            return None
        if kind == KIND_NEGATIVE:
            value = None
        else:
            codec = self._codecs.get(codec_id)
            if codec is None:
                return None
            try:
                value = codec.decode(memoryview(raw)[HEADER_SIZE + meta_len :])
            except Exception:  # the cache deletes such an entry on read: a miss
                return None
        return Found(value, token, created_at, created_at + ttl)

    def _agrees(self, spec: ReadSpec, found: Found, now: float) -> bool:
        """The database says the same now, or at the entry's creation over today's data."""
        conn = self._connection()
        if run_query(conn, spec, _when(now)) == found.value:
            return True
        return bool(run_query(conn, spec, _when(found.created_at)) == found.value)


def _header_state(head: bytes | None) -> bytes | None:
    """The token of a value or negative entry from its first :data:`HEADER_SIZE` bytes
    (``None``: no key, a lease, not an entry)."""
    if not head or len(head) < HEADER_SIZE:
        return None
    magic, kind, _, token, _, _, _, _ = HEADER.unpack_from(head)
    if magic != MAGIC or kind not in (KIND_VALUE, KIND_NEGATIVE):
        return None
    return bytes(token)
