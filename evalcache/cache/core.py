"""``DatabaseCache``: the seed plan's cache surface on real Redis, done right.

The class itself holds the read paths (``get``, ``mget``, ``get_with_metadata`` and the hit of
``get_or_load``): the measured hit path runs here without a hop through another object. The
rest is delegated to named parts that share one :class:`~evalcache.cache.context.CacheContext`
(client, keys, codecs, clock, counters, fail-open guard, tag index):

- :class:`~evalcache.cache.writes.Writes`: ``set``, invalidations, flush, cleanup;
- :class:`~evalcache.cache.leases.Loader`: the misses of ``get_or_load`` (leases, single
  flight, compare-and-set stores) and refresh ahead;
- :class:`~evalcache.cache.primitives.Primitives`: guarded counters, EXISTS and SCAN for
  invalidation strategies.

Its settings are one :class:`~evalcache.cache.options.CacheOptions`, validated once. Other
pieces: keys (``keys.py``), envelope (``entry.py``), codec (``codec.py``), tags (``tags.py``),
counters (``stats.py``), fail open (``failopen.py``), leases and locks (``locks.py``), refresh
ahead (``refresh.py``).

A little over 400 lines on purpose: the whole public surface of the cache, each method a thin
delegation or a read path, is one class a reader (and ``help()`` in Jupyter) sees whole.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import redis
from redis.cluster import RedisCluster

from evalcache.cache.context import CacheContext
from evalcache.cache.entry import (
    KIND_LEASE,
    KIND_NEGATIVE,
    NO_VALUE,
    CacheEntry,
    CorruptEntry,
    Version,
    header_of,
    read_header,
    unpack_meta,
)
from evalcache.cache.failopen import REDIS_ERRORS
from evalcache.cache.keys import Part, _Any
from evalcache.cache.leases import Loader, LoadJob
from evalcache.cache.locks import LoadTimer
from evalcache.cache.observe import StoreObserver
from evalcache.cache.options import CacheOptions, CacheOverrides, check_tags, check_ttl
from evalcache.cache.primitives import Primitives
from evalcache.cache.refresh import Spawn
from evalcache.cache.stats import COUNTERS
from evalcache.cache.writes import Writes
from evalcache.clock import Clock
from evalcache.errors import UnknownNameError

T = TypeVar("T")


class DatabaseCache:
    """A Redis query cache with leases, single flight, refresh ahead and fail open.

    Parameters
    ----------
    client_or_url:
        A ``redis.Redis`` or ``redis.cluster.RedisCluster`` (used as is: set its socket
        timeouts yourself) or a ``redis://`` URL (a client with ``socket_timeout`` is made and
        closed by :meth:`close`).
    options:
        A :class:`~evalcache.cache.options.CacheOptions` (namespace, codec, TTLs, fail open,
        refresh ahead, ...); default ``CacheOptions()``.
    clock:
        Expiry is judged against ``clock.now()``; default the wall clock. A clock with
        ``virtual = True`` makes Redis TTLs a memory bound only (``ttl + virtual_slack``).
    load_timer:
        Observes loader durations and derives lock and lease lifetimes from them; default a
        new :class:`~evalcache.cache.locks.LoadTimer`.
    refresh_spawn:
        With ``refresh_mode="spawn"`` (and only then): ``refresh_spawn(job)`` starts each
        refresh as a concurrent task of its own, such as a simulation process (see
        ``refresh.py``).
    **overrides:
        Any field of :class:`~evalcache.cache.options.CacheOptions`, replacing the one in
        ``options`` (``DatabaseCache(client, namespace="x", default_ttl=60)``).

    Examples
    --------
    >>> cache = DatabaseCache("redis://127.0.0.1:6379/0", namespace="demo")  # doctest: +SKIP
    >>> key = cache.key("user_profile", 42)  # doctest: +SKIP
    >>> cache.get_or_load(key, lambda: load(42), ttl=3600, tags=["user:42"])  # doctest: +SKIP
    """

    def __init__(
        self,
        client_or_url: redis.Redis | RedisCluster | str,
        options: CacheOptions | None = None,
        *,
        clock: Clock | None = None,
        load_timer: LoadTimer | None = None,
        refresh_spawn: Spawn | None = None,
        **overrides: Unpack[CacheOverrides],
    ) -> None:
        options = options if options is not None else CacheOptions()
        if overrides:
            options = dataclasses.replace(options, **overrides)
        self.options = options
        ctx = CacheContext(client_or_url, options, clock)
        self._ctx = ctx
        self.namespace = options.namespace
        self.keys = ctx.keys
        self.codec = ctx.codec
        self.clock = ctx.clock
        self.client = ctx.client
        self.cluster = ctx.cluster
        self.scan_batch = options.scan_batch
        self.default_ttl = options.default_ttl
        self.negative_ttl = options.negative_ttl
        self._stats = ctx.stats
        self._guard = ctx.guard
        # Bound once: the hit paths below look these up on every call.
        self._decode = ctx.decode
        self._miss = ctx.miss
        self._read = ctx.stats.read
        self._writes = Writes(ctx)
        self._loader = Loader(ctx, load_timer, refresh_spawn)
        self._primitives = Primitives(ctx)
        self.timer = self._loader.timer

    @property
    def serve_stale(self) -> bool:
        """Default of ``get_or_load(serve_stale=...)``."""
        return self._loader.serve_stale

    @property
    def lock_wait(self) -> float | None:
        """Seconds a caller waits for another caller's load (None: derived from the timer)."""
        return self._loader.lock_wait

    # -- keys ------------------------------------------------------------------------------
    def key(self, family: str, *parts: Part) -> str:
        """The entry key for ``family`` and ids ``parts`` (ids encoded, see ``keys.py``)."""
        return self.keys.key(family, *parts)

    def pattern(self, family: str, *parts: Part | _Any, tail: bool = False) -> str:
        """A pattern for :meth:`invalidate_pattern`; :data:`ANY` matches any one id."""
        return self.keys.pattern(family, *parts, tail=tail)

    # -- counters --------------------------------------------------------------------------
    def stats(self) -> dict[str, int]:
        """Counter totals (see ``evalcache.cache.stats`` for their definitions)."""
        return self._stats.snapshot()

    def family_stats(self) -> dict[str, dict[str, int]]:
        """Outcome counters per ``family=`` label."""
        return self._stats.by_family()

    def reset_stats(self) -> None:
        self._stats.reset()

    def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to ``counter`` (one of ``evalcache.cache.stats.COUNTERS``): for code that
        works around the cache, such as the seed plan's optimizer counting failed refreshes."""
        if counter not in COUNTERS:
            raise UnknownNameError("cache counter", counter, COUNTERS)
        self._stats.incr(counter, n)

    # -- reads -----------------------------------------------------------------------------
    def _decide(self, key: str, raw: bytes | None, family: str | None, now: float) -> Any:
        """The value a read returns for ``raw`` (counting hit or miss)."""
        if raw is None:
            return self._miss(family)
        try:  # named locals, not a Header: see read_header
            _, kind, codec_id, _, created_at, ttl, _, meta_len = read_header(raw)
        except CorruptEntry:
            self._ctx.corrupt(key)
            return self._miss(family)
        if kind == KIND_LEASE:
            return self._miss(family)
        if now >= created_at + ttl:
            return self._miss(family, expired=True)
        value = self._decode(key, raw, kind, codec_id, meta_len)
        if value is NO_VALUE:
            return self._miss(family)
        self._read(len(raw), family, kind == KIND_NEGATIVE)
        return value

    def get(self, key: str, *, family: str | None = None) -> Any:
        """The cached value of ``key``, or :data:`NO_VALUE` on a miss. One round trip.

        A cached ``None`` (negative entry), ``0``, ``""`` or ``[]`` is returned as such.
        """
        if self._guard.blocked and not self._ctx.usable():
            return self._miss(family)
        try:
            raw = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "GET")
            return self._miss(family)
        return self._decide(key, raw, family, self.clock.now())

    def mget(self, keys: Sequence[str], *, family: str | None = None) -> list[Any]:
        """Values of ``keys`` in order (:data:`NO_VALUE` for misses); one round trip per slot."""
        keys = list(keys)
        if not keys:
            return []
        if self._guard.blocked and not self._ctx.usable():
            return [self._miss(family) for _ in keys]
        try:
            raws = self.client.mget_nonatomic(keys) if self.cluster else self.client.mget(keys)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "MGET")
            return [self._miss(family) for _ in keys]
        now = self.clock.now()
        return [self._decide(k, r, family, now) for k, r in zip(keys, raws, strict=True)]

    def get_with_metadata(
        self,
        key: str,
        *,
        include_expired: bool = False,
        count: bool = False,
        family: str | None = None,
    ) -> CacheEntry | None:
        """The entry with created-at, TTL, tags, source version and δ; None when absent.

        An inspection call: it counts no hit or miss unless ``count`` is True, when it counts
        the read as :meth:`get` does (a fresh entry is a hit, anything else a miss; ``family``
        labels it). Expired entries are returned only with ``include_expired=True``.
        """
        entry, nbytes, expired = self._metadata(key, include_expired)
        if count:
            if entry is None or expired:
                self._miss(family, expired=expired)
            else:
                self._read(nbytes, family, entry.negative)
        return entry

    def _metadata(self, key: str, include_expired: bool) -> tuple[CacheEntry | None, int, bool]:
        """:meth:`get_with_metadata`'s entry, its size and whether it had expired."""
        if self._guard.blocked and not self._ctx.usable():
            return None, 0, False
        try:
            raw = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "GET")
            return None, 0, False
        if raw is None:
            return None, 0, False
        h = self._ctx.header(key, raw)
        if h is None or h.kind == KIND_LEASE:
            return None, 0, False
        expired = self.clock.now() >= h.created_at + h.ttl
        if expired and not include_expired:
            return None, 0, True
        try:
            version, tags = unpack_meta(raw, h.meta_len)
        except CorruptEntry:
            self._ctx.corrupt(key)
            return None, 0, False
        value = self._ctx.value(key, raw, h)
        if value is NO_VALUE:
            return None, 0, False
        negative = h.kind == KIND_NEGATIVE
        entry = CacheEntry(value, h.created_at, h.ttl, tags, version, h.delta, negative, h.token)
        return entry, len(raw), expired

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], Any],
        ttl: float | None = None,
        *,
        tags: Iterable[str] = (),
        negative_ttl: float | None = None,
        family: str | None = None,
        version: Version = None,
        serve_stale: bool | None = None,
    ) -> Any:
        """The cached value of ``key``, or ``loader()``'s result, stored for next time.

        A hit costs one round trip (one GET). On a miss the caller takes a lease (single
        flight across threads and processes; others wait, or get the stale value with
        ``serve_stale``), runs ``loader`` and stores its result unless an invalidation of the
        key or one of ``tags`` happened meanwhile. A loader result of ``None`` is cached as a
        negative entry for ``negative_ttl``; any other value, ``[]`` and ``0`` included, is a
        normal entry for ``ttl``. Loader exceptions propagate and nothing is stored.
        """
        job = LoadJob(
            key,
            loader,
            self.default_ttl if ttl is None else check_ttl("ttl", ttl),
            self.negative_ttl if negative_ttl is None else check_ttl("negative_ttl", negative_ttl),
            check_tags(tags),
            family,
            version,
        )
        fills = self._loader
        if self._guard.blocked and not self._ctx.usable():
            self._miss(family)
            return fills.load(job)
        try:
            raw = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "GET")
            self._miss(family)
            return fills.load(job)
        fields = None
        if raw is not None:
            try:
                fields = read_header(raw)
            except CorruptEntry:
                self._ctx.corrupt(key)
        if fields is not None:  # named locals, not a Header: see read_header
            _, kind, codec_id, token, created_at, entry_ttl, delta, meta_len = fields
            if kind != KIND_LEASE and self.clock.now() < created_at + entry_ttl:
                value = self._decode(key, raw, kind, codec_id, meta_len)
                if value is not NO_VALUE:
                    self._read(len(raw), family, kind == KIND_NEGATIVE)
                    if fills.policy.enabled:
                        fills.maybe_refresh(job, token, created_at, entry_ttl, delta)
                    return value
                fields = None  # undecodable: counted and deleted, a plain miss
        h = None if fields is None else header_of(fields)
        self._miss(family, expired=h is not None and h.kind != KIND_LEASE)
        return fills.fill(job, raw, h, serve_stale)

    def load_uncached(self, loader: Callable[[], T], *, family: str | None = None) -> T:
        """``loader()`` without the cache, counted as a miss and a load.

        What ``get_or_load`` does while Redis is unusable, for a caller that cannot even name
        its key now (a strategy whose counters are unreadable: :meth:`read_counters` None).
        """
        self._miss(family)
        return self._loader.run(loader, family)[0]

    # -- writes ----------------------------------------------------------------------------
    def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = None,
        *,
        tags: Iterable[str] = (),
        version: Version = None,
    ) -> bool:
        """Store ``value`` (``None`` = a cached "nothing") for ``ttl`` clock seconds.

        With tags, the value and its tag memberships are written in one MULTI (one round trip).
        Returns False when the write was skipped (Redis unavailable, pending invalidations).
        """
        return self._writes.set(key, value, ttl, tags, version)

    def set_with_tags(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        tags: Iterable[str],
        *,
        version: Version = None,
    ) -> bool:
        """:meth:`set` with tags (the seed plan's name)."""
        return self._writes.set(key, value, ttl, tags, version)

    # -- invalidation ----------------------------------------------------------------------
    def invalidate(self, keys: str | Iterable[str]) -> int:
        """Delete one key or several (UNLINK); return how many existed."""
        return self._writes.invalidate(keys)

    def invalidate_pattern(self, pattern: str) -> int:
        """Delete every entry matching ``pattern`` (SCAN with COUNT batches + UNLINK, never KEYS).

        ``pattern`` must start with this namespace's prefix: build it with :meth:`pattern`, or
        put raw ids through :func:`escape_pattern` (better: :func:`encode_part`).
        """
        return self._writes.invalidate_pattern(pattern)

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Delete every entry carrying any of ``tags``; return the number of keys removed."""
        return self._writes.invalidate_tags(tags)

    def flush_namespace(self) -> int:
        """Delete every key of this namespace (entries, locks, tag sets, counters)."""
        return self._writes.flush_namespace()

    def cleanup_stale_entries(self, older_than: float) -> int:
        """Delete entries not read for ``older_than`` real seconds; prune tag sets.

        Uses ``OBJECT IDLETIME`` (which does not itself count as a read), so the criterion is in
        real seconds even with a virtual clock. Returns the number of entries removed.
        """
        return self._writes.cleanup_stale_entries(older_than)

    def prune_tags(self) -> int:
        """Remove members of expired or deleted entries from every tag set of the namespace."""
        return self._writes.prune_tags()

    # -- guarded primitives for strategies -------------------------------------------------
    def read_counters(self, keys: Sequence[str]) -> list[int] | None:
        """Integer counters under ``keys`` (absent = 0), with one MGET (one per slot).

        ``None`` when Redis is unavailable, the cache is blocked by pending invalidations, or
        the call failed (counted): the caller should then load without caching.
        """
        return self._primitives.read_counters(keys)

    def bump_counters(self, keys: Sequence[str]) -> bool:
        """INCR each counter in one non-transactional pipeline; False if it did not happen.

        A bump that cannot reach Redis is logged as a missed invalidation and replayed before
        the cache serves reads again. Leaves the ``invalidations`` and ``keys_removed``
        counters alone (a bump deletes nothing).
        """
        return self._primitives.bump_counters(keys)

    def existing(self, keys: Sequence[str]) -> list[str] | None:
        """Those of ``keys`` that exist (one pipeline of EXISTS), in order; None on failure."""
        return self._primitives.existing(keys)

    def scan(self, pattern: str) -> list[str] | None:
        """Keys matching ``pattern`` (SCAN with ``scan_batch``), as str; None on failure.

        ``pattern`` must start with this namespace's prefix (build it with :meth:`pattern`).
        """
        return self._primitives.scan(pattern)

    # -- lifecycle -------------------------------------------------------------------------
    def observe_stores(self, observer: StoreObserver | None) -> None:
        """Call ``observer(value, origin, stored)`` after each store (see ``observe.py``)."""
        self._ctx.store_observer = observer

    def close(self) -> None:
        """Stop the refresh pool (waiting for running refreshes) and close an owned client."""
        self._loader.refresher.close()
        if self._ctx.owns_client:
            self.client.close()

    def __enter__(self) -> DatabaseCache:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start_refresh(self, job: Callable[[], None]) -> bool:
        """Run ``job`` the way this cache runs refreshes (``refresh_mode``: inline, on the
        refresh pool, or spawned), with no per-key dedupe; False once closed.

        For code that refreshes around ``get_or_load``, such as the seed plan's optimizer.
        """
        return self._loader.refresher.start(job)

    def wait_for_refreshes(self, timeout: float = 5.0) -> bool:
        """Block until no background refresh is running; False on timeout."""
        return self._loader.refresher.wait_idle(timeout)
