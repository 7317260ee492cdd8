"""What the parts of a :class:`~evalcache.cache.DatabaseCache` share.

One :class:`CacheContext` per cache holds the client, keys, codecs, clock, counters, the
fail-open guard and the tag index, plus the entry helpers every path uses: decode a header or a
value (a corrupt entry is counted, deleted and answered as a miss), count a miss, build an
envelope, and run a logged invalidation (:data:`~evalcache.cache.failopen.PendingOp`) both when
it first happens and when recovery replays it.

Time: an entry is fresh while ``clock.now() < created_at + ttl``, read from its metadata. With
the wall clock the Redis TTL equals ``ttl + stale_grace`` (Redis expires keys itself: live
mode). With a virtual clock (``clock.virtual``) Redis only bounds memory: its TTL is ``ttl +
virtual_slack`` real seconds, so a virtual run slower than real time never loses an entry
before its virtual TTL.
"""

from __future__ import annotations

import math
from typing import Any, assert_never

import redis
from redis.cluster import RedisCluster

from evalcache.cache.codec import codecs_by_id, get_codec
from evalcache.cache.entry import (
    HEADER_SIZE,
    KIND_NEGATIVE,
    KIND_VALUE,
    NO_VALUE,
    CorruptEntry,
    Header,
    Version,
    pack,
    unpack_header,
)
from evalcache.cache.failopen import REDIS_ERRORS, Guard, PendingOp
from evalcache.cache.keys import KeyBuilder
from evalcache.cache.observe import StoreObserver
from evalcache.cache.options import CacheOptions
from evalcache.cache.stats import CacheStats
from evalcache.cache.tags import TagIndex
from evalcache.clock import Clock, SystemClock
from evalcache.errors import ConfigError
from evalcache.settings import validate_redis_url


def make_client(client_or_url: redis.Redis | RedisCluster | str, socket_timeout: float) -> Any:
    """The client to use: one passed in as is, or one made from a ``redis://`` URL."""
    if isinstance(client_or_url, str):
        url = validate_redis_url(client_or_url, "client_or_url")
        return redis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
    if isinstance(client_or_url, redis.Redis | RedisCluster):
        return client_or_url
    raise ConfigError(
        "client_or_url",
        f"{type(client_or_url).__name__}; accepted: redis.Redis, "
        "redis.cluster.RedisCluster or a redis:// URL",
    )


class CacheContext:
    """Shared state and entry helpers of one cache (see the module docstring)."""

    def __init__(
        self,
        client_or_url: redis.Redis | RedisCluster | str,
        options: CacheOptions,
        clock: Clock | None,
    ) -> None:
        self.options = options
        self.keys = KeyBuilder(options.namespace)
        self.codec = get_codec(options.codec)
        self.codecs = {**codecs_by_id(), self.codec.codec_id: self.codec}
        self.clock: Clock = clock if clock is not None else SystemClock()
        virtual = bool(getattr(self.clock, "virtual", False))
        self.slack = options.virtual_slack if virtual else options.stale_grace
        # A lease's Redis lifetime counts real time: on a virtual clock a slow run must not
        # lose a live lease (waiters give up after their own wait, measured on the clock).
        self.lock_slack = options.virtual_slack if virtual else 0.0
        self.client: Any = make_client(client_or_url, options.socket_timeout)
        self.owns_client = isinstance(client_or_url, str)
        self.cluster = isinstance(self.client, RedisCluster)
        self.store_observer: StoreObserver | None = None  # see observe.py
        self.stats = CacheStats()
        self.guard = Guard(
            self.stats,
            enabled=options.fail_open,
            retry_interval=options.retry_interval,
            max_pending=options.max_pending,
        )
        self.scan_batch = options.scan_batch
        self.tags = TagIndex(
            self.client,
            self.keys,
            cluster=self.cluster,
            prune_threshold=options.tag_prune_threshold,
            batch=options.scan_batch,
        )

    # -- fail open -------------------------------------------------------------------------
    def usable(self) -> bool:
        """False while Redis is down or missed invalidations are still pending."""
        return not self.guard.blocked or self.guard.recover(self.apply, self.flush)

    def apply(self, op: PendingOp) -> int:
        """Run one invalidation on Redis; the number of keys it removed (raises Redis errors).

        Recovery replays logged operations through here too: each kind is safe to repeat.
        """
        kind, args = op
        if kind == "keys":
            return int(self.client.unlink(*args))
        if kind == "pattern":
            return self.unlink_matching(args[0])
        if kind == "tags":
            return self.tags.invalidate(args)
        if kind == "counters":  # repeating an INCR only invalidates more; deletes nothing
            pipe = self.client.pipeline(transaction=False)
            for k in args:
                pipe.incr(k)
            pipe.execute()
            return 0
        assert_never(kind)

    def flush(self) -> None:
        """Delete every key of the namespace (recovery after too many missed invalidations)."""
        for pattern in self.keys.namespace_patterns():
            self.unlink_matching(pattern)

    def unlink_matching(self, pattern: str) -> int:
        """SCAN for ``pattern`` and UNLINK the matches in batches; how many were removed."""
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

    # -- entries ---------------------------------------------------------------------------
    def px(self, ttl: float) -> int:
        """Redis TTL in milliseconds for an entry of clock TTL ``ttl``."""
        return max(1, math.ceil((ttl + self.slack) * 1000))

    def header(self, key: str, raw: bytes) -> Header | None:
        """The entry header, or None for a corrupt or foreign entry (counted and deleted)."""
        try:
            return unpack_header(raw)
        except CorruptEntry:
            self.corrupt(key)
            return None

    def corrupt(self, key: str) -> None:
        self.stats.incr("corrupt")
        try:
            self.client.unlink(key)
        except REDIS_ERRORS as exc:
            self.guard.failed(exc, "UNLINK")

    def value(self, key: str, raw: bytes, h: Header) -> Any:
        """Decode the value of the V or N entry ``raw`` with header ``h`` (see :meth:`decode`)."""
        return self.decode(key, raw, h.kind, h.codec_id, h.meta_len)

    def decode(self, key: str, raw: bytes, kind: bytes, codec_id: int, meta_len: int) -> Any:
        """The value of a V or N entry; NO_VALUE (counted, deleted) if undecodable.

        Takes the header fields it needs, not a :class:`Header`: the hit paths have them as
        locals (see :func:`~evalcache.cache.entry.read_header`).
        """
        if kind != KIND_VALUE:
            return None
        codec = self.codecs.get(codec_id)
        try:
            if codec is None:
                raise CorruptEntry(f"unknown codec id {codec_id}")
            return codec.decode(memoryview(raw)[HEADER_SIZE + meta_len :])
        except Exception:  # any codec failure means a foreign or damaged entry
            self.corrupt(key)
            return NO_VALUE

    def miss(self, family: str | None, expired: bool = False) -> Any:
        """Count a miss (and an expiration); :data:`NO_VALUE`."""
        self.stats.incr("misses", family=family)
        if expired:
            self.stats.incr("expirations", family=family)
        return NO_VALUE

    def envelope(
        self,
        value: Any,
        ttl: float,
        tags: tuple[str, ...],
        version: Version,
        delta: float,
        created_at: float,
    ) -> bytes:
        """The bytes to store for ``value`` (``None`` = a negative entry)."""
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
