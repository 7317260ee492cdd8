"""``DatabaseCache``: the seed plan's cache surface on real Redis, done right.

Read paths (``get``, ``mget``, ``get_with_metadata``) and write paths (``set``,
``set_with_tags``, invalidations) live here; ``get_or_load`` (leases, single flight, refresh
ahead) lives in :mod:`evalcache.cache.loading`. Pieces: keys (``keys.py``), envelope
(``entry.py``), codec (``codec.py``), tags (``tags.py``), counters (``stats.py``), fail open
(``failopen.py``), leases and locks (``locks.py``), refresh ahead (``refresh.py``).

Time: an entry is fresh while ``clock.now() < created_at + ttl``, read from its metadata. With
the wall clock the Redis TTL equals ``ttl + stale_grace`` (Redis expires keys itself: live
mode). With a virtual clock (``clock.virtual``) Redis only bounds memory: its TTL is ``ttl +
virtual_slack`` real seconds, so a virtual run slower than real time never loses an entry
before its virtual TTL.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster

from evalcache.cache.codec import Codec, codecs_by_id, get_codec
from evalcache.cache.entry import (
    HEADER_SIZE,
    KIND_LEASE,
    KIND_NEGATIVE,
    KIND_VALUE,
    NO_VALUE,
    CacheEntry,
    CorruptEntry,
    Version,
    pack,
    unpack_header,
    unpack_meta,
)
from evalcache.cache.failopen import REDIS_ERRORS, Guard, PendingOp
from evalcache.cache.keys import KeyBuilder, Part, _Any
from evalcache.cache.stats import CacheStats
from evalcache.cache.tags import TagIndex
from evalcache.clock import Clock, SystemClock
from evalcache.errors import ConfigError
from evalcache.settings import validate_redis_url

Header = tuple[bytes, int, bytes, float, float, float, int]


def _check_ttl(name: str, ttl: float) -> float:
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigError(name, f"{ttl!r} is not a positive number of seconds")
    if not math.isfinite(ttl):
        raise ConfigError(name, f"{ttl!r} is not finite")
    return float(ttl)


def _check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tags, str):
        raise ConfigError("tags", f"{tags!r} is a string; pass a list or tuple of tags")
    out = tuple(tags)
    for t in out:
        if not isinstance(t, str) or not t:
            raise ConfigError("tags", f"{t!r} is not a non-empty string")
    return out


class CacheBase:
    """Construction, reads, writes and invalidations. See :class:`DatabaseCache`."""

    def __init__(
        self,
        client_or_url: redis.Redis | RedisCluster | str,
        *,
        namespace: str = "evalcache",
        codec: str | Codec = "orjson",
        clock: Clock | None = None,
        default_ttl: float = 600.0,
        negative_ttl: float = 60.0,
        fail_open: bool = True,
        socket_timeout: float = 0.25,
        retry_interval: float = 1.0,
        max_pending: int = 10_000,
        virtual_slack: float = 3600.0,
        stale_grace: float = 0.0,
        tag_prune_threshold: int = 1000,
        scan_batch: int = 500,
    ) -> None:
        self.keys = KeyBuilder(namespace)
        self.namespace = namespace
        self.codec = get_codec(codec)
        self._codecs = {**codecs_by_id(), self.codec.codec_id: self.codec}
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.default_ttl = _check_ttl("default_ttl", default_ttl)
        self.negative_ttl = _check_ttl("negative_ttl", negative_ttl)
        if virtual_slack < 0 or stale_grace < 0:
            raise ConfigError("virtual_slack/stale_grace", "must be >= 0 seconds")
        self._virtual = bool(getattr(self.clock, "virtual", False))
        self._slack = virtual_slack if self._virtual else stale_grace
        if isinstance(client_or_url, str):
            url = validate_redis_url(client_or_url, "client_or_url")
            self.client: Any = redis.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
            self._owns_client = True
        elif isinstance(client_or_url, redis.Redis | RedisCluster):
            self.client = client_or_url
            self._owns_client = False
        else:
            raise ConfigError(
                "client_or_url",
                f"{type(client_or_url).__name__}; accepted: redis.Redis, "
                "redis.cluster.RedisCluster or a redis:// URL",
            )
        self.cluster = isinstance(self.client, RedisCluster)
        self._stats = CacheStats()
        self._guard = Guard(
            self._stats, enabled=fail_open, retry_interval=retry_interval, max_pending=max_pending
        )
        self.scan_batch = scan_batch
        self._tags = TagIndex(
            self.client,
            self.keys,
            cluster=self.cluster,
            prune_threshold=tag_prune_threshold,
            batch=scan_batch,
        )

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

    # -- plumbing --------------------------------------------------------------------------
    def _px(self, ttl: float) -> int:
        """Redis TTL in milliseconds for an entry of clock TTL ``ttl``."""
        return max(1, math.ceil((ttl + self._slack) * 1000))

    def _usable(self) -> bool:
        """False while Redis is down or missed invalidations are still pending."""
        return not self._guard.blocked or self._guard.recover(self._replay, self._flush)

    def _replay(self, op: PendingOp) -> None:
        kind, args = op
        if kind == "keys":
            self.client.unlink(*args)
        elif kind == "pattern":
            self._unlink_matching(args[0])
        else:
            self._tags.invalidate(args)

    def _flush(self) -> None:
        for pattern in self.keys.namespace_patterns():
            self._unlink_matching(pattern)

    def _unlink_matching(self, pattern: str) -> int:
        removed = 0
        batch: list[Any] = []
        for k in self.client.scan_iter(match=pattern, count=self.scan_batch):
            batch.append(k)
            if len(batch) >= self.scan_batch:
                removed += int(self.client.unlink(*batch))
                batch = []
        if batch:
            removed += int(self.client.unlink(*batch))
        return removed

    def _header(self, key: str, raw: bytes) -> Header | None:
        """The entry header, or None for a corrupt or foreign entry (counted and deleted)."""
        try:
            return unpack_header(raw)
        except CorruptEntry:
            self._corrupt(key)
            return None

    def _corrupt(self, key: str) -> None:
        self._stats.incr("corrupt")
        try:
            self.client.unlink(key)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "UNLINK")

    def _value(self, key: str, raw: bytes, h: Header) -> Any:
        """Decode the value of a V or N entry; NO_VALUE (counted, deleted) if undecodable."""
        if h[0] != KIND_VALUE:
            return None
        codec = self._codecs.get(h[1])
        try:
            if codec is None:
                raise CorruptEntry(f"unknown codec id {h[1]}")
            return codec.decode(memoryview(raw)[HEADER_SIZE + h[6] :])
        except Exception:  # any codec failure means a foreign or damaged entry
            self._corrupt(key)
            return NO_VALUE

    def _miss(self, family: str | None, expired: bool = False) -> Any:
        self._stats.incr("misses", family=family)
        if expired:
            self._stats.incr("expirations", family=family)
        return NO_VALUE

    def _decide(self, key: str, raw: bytes | None, family: str | None, now: float) -> Any:
        """The value a read returns for ``raw`` (counting hit or miss)."""
        if raw is None:
            return self._miss(family)
        h = self._header(key, raw)
        if h is None or h[0] == KIND_LEASE:
            return self._miss(family)
        if now >= h[3] + h[4]:
            return self._miss(family, expired=True)
        value = self._value(key, raw, h)
        if value is NO_VALUE:
            return self._miss(family)
        self._stats.read(len(raw), family, negative=h[0] == KIND_NEGATIVE)
        return value

    # -- reads -----------------------------------------------------------------------------
    def get(self, key: str, *, family: str | None = None) -> Any:
        """The cached value of ``key``, or :data:`NO_VALUE` on a miss. One round trip.

        A cached ``None`` (negative entry), ``0``, ``""`` or ``[]`` is returned as such.
        """
        if self._guard.blocked and not self._usable():
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
        if self._guard.blocked and not self._usable():
            return [self._miss(family) for _ in keys]
        try:
            raws = self.client.mget_nonatomic(keys) if self.cluster else self.client.mget(keys)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "MGET")
            return [self._miss(family) for _ in keys]
        now = self.clock.now()
        return [self._decide(k, r, family, now) for k, r in zip(keys, raws, strict=True)]

    def get_with_metadata(self, key: str, *, include_expired: bool = False) -> CacheEntry | None:
        """The entry with created-at, TTL, tags, source version and δ; None when absent.

        Does not count hits or misses (an inspection call). Expired entries are returned only
        with ``include_expired=True``.
        """
        if self._guard.blocked and not self._usable():
            return None
        try:
            raw = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "GET")
            return None
        if raw is None:
            return None
        h = self._header(key, raw)
        if h is None or h[0] == KIND_LEASE:
            return None
        if not include_expired and self.clock.now() >= h[3] + h[4]:
            return None
        try:
            version, tags = unpack_meta(raw, h[6])
        except CorruptEntry:
            self._corrupt(key)
            return None
        value = self._value(key, raw, h)
        if value is NO_VALUE:
            return None
        return CacheEntry(value, h[3], h[4], tags, version, h[5], h[0] == KIND_NEGATIVE, token=h[2])

    # -- writes ----------------------------------------------------------------------------
    def _envelope(
        self,
        value: Any,
        ttl: float,
        tags: tuple[str, ...],
        version: Version,
        delta: float,
        created_at: float,
    ) -> bytes:
        if value is None:
            env, _ = pack(KIND_NEGATIVE, 0, b"", created_at, ttl, delta, version, tags)
        else:
            try:
                payload = self.codec.encode(value)
            except (TypeError, ValueError, OverflowError) as exc:
                raise ConfigError(
                    "value",
                    f"{self.codec.name} cannot encode it ({exc}); accepted: JSON-like values "
                    "(dict, list, str, int, float, bool, None), datetime, Decimal, UUID",
                ) from exc
            env, _ = pack(
                KIND_VALUE, self.codec.codec_id, payload, created_at, ttl, delta, version, tags
            )
        return env

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
        ttl = self.default_ttl if ttl is None else _check_ttl("ttl", ttl)
        tags = _check_tags(tags)
        env = self._envelope(value, ttl, tags, version, 0.0, self.clock.now())
        if self._guard.blocked and not self._usable():
            return False
        px = self._px(ttl)
        try:
            if tags:
                pipe = self.client.pipeline(transaction=not self.cluster)
                positions = self._tags.register(pipe, key, tags, px)
                pipe.set(key, env, px=px)
                self._tags.after(pipe.execute(), positions)
            else:
                self.client.set(key, env, px=px)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "SET")
            return False
        self._stats.incr("sets")
        self._stats.incr("bytes_written", len(env))
        return True

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
        return self.set(key, value, ttl, tags=tags, version=version)

    # -- invalidation ----------------------------------------------------------------------
    def _invalidate(self, op: PendingOp) -> int:
        self._stats.incr("invalidations")
        if self._guard.blocked and not self._usable():
            self._guard.missed_invalidation(op)
            return 0
        try:
            if op[0] == "keys":
                n = int(self.client.unlink(*op[1]))
            elif op[0] == "pattern":
                n = self._unlink_matching(op[1][0])
            else:
                n = self._tags.invalidate(op[1])
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "invalidation")
            self._guard.missed_invalidation(op)
            return 0
        self._stats.incr("keys_removed", n)
        return n

    def invalidate(self, keys: str | Iterable[str]) -> int:
        """Delete one key or several (UNLINK); return how many existed."""
        ks = (keys,) if isinstance(keys, str) else tuple(keys)
        return self._invalidate(("keys", ks)) if ks else 0

    def invalidate_pattern(self, pattern: str) -> int:
        """Delete every entry matching ``pattern`` (SCAN with COUNT batches + UNLINK, never KEYS).

        ``pattern`` must start with this namespace's prefix: build it with :meth:`pattern`, or
        put raw ids through :func:`escape_pattern` (better: :func:`encode_part`).
        """
        return self._invalidate(("pattern", (self.keys.check_pattern(pattern),)))

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Delete every entry carrying any of ``tags``; return the number of keys removed."""
        tags = _check_tags(tags)
        return self._invalidate(("tags", tags)) if tags else 0

    def flush_namespace(self) -> int:
        """Delete every key of this namespace (entries, locks, tag sets)."""
        self._stats.incr("invalidations")
        try:
            n = sum(self._unlink_matching(p) for p in self.keys.namespace_patterns())
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "flush")
            self._guard.missed_invalidation(("pattern", (self.keys.namespace_patterns()[0],)))
            return 0
        self._stats.incr("keys_removed", n)
        return n

    def cleanup_stale_entries(self, older_than: float) -> int:
        """Delete entries not read for ``older_than`` real seconds; prune tag sets.

        Uses ``OBJECT IDLETIME`` (which does not itself count as a read), so the criterion is in
        real seconds even with a virtual clock. Returns the number of entries removed.
        """
        if older_than < 0:
            raise ConfigError("older_than", f"{older_than!r} is not >= 0 seconds")
        if self._guard.blocked and not self._usable():
            return 0
        removed = 0
        try:
            pattern = self.keys.namespace_patterns()[0]
            batch = [k for k in self.client.scan_iter(match=pattern, count=self.scan_batch)]
            for i in range(0, len(batch), self.scan_batch):
                chunk = batch[i : i + self.scan_batch]
                pipe = self.client.pipeline(transaction=False)
                for k in chunk:
                    pipe.object("idletime", k)
                idle = pipe.execute(raise_on_error=False)
                old = [
                    k
                    for k, t in zip(chunk, idle, strict=True)
                    if isinstance(t, int) and t >= older_than
                ]
                if old:
                    removed += int(self.client.unlink(*old))
            self._tags.prune_all()
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "cleanup")
        self._stats.incr("keys_removed", removed)
        return removed

    def prune_tags(self) -> int:
        """Remove members of expired or deleted entries from every tag set of the namespace."""
        try:
            return self._tags.prune_all()
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "prune")
            return 0
