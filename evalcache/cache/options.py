"""The settings of one :class:`~evalcache.cache.DatabaseCache`, as one frozen, validated object.

``DatabaseCache(client, namespace="x", default_ttl=60)`` builds a :class:`CacheOptions` from its
keyword arguments; ``DatabaseCache(client, options)`` takes one ready made (a sweep can build
it once and reuse it), and ``DatabaseCache(client, options, default_ttl=60)`` overrides some of
its fields. Either way the values are checked once, here, before anything touches Redis.

The clock and the :class:`~evalcache.cache.locks.LoadTimer` are not options: they are
collaborators with state of their own, passed to the cache beside its options.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypedDict

from evalcache.cache.codec import Codec, get_codec
from evalcache.cache.keys import check_name
from evalcache.cache.refresh import check_mode, check_policy
from evalcache.errors import ConfigError


def check_ttl(name: str, ttl: float) -> float:
    """``ttl`` as a float; ConfigError unless it is a finite positive number of seconds."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ConfigError(name, f"{ttl!r} is not a positive number of seconds")
    if not math.isfinite(ttl):
        raise ConfigError(name, f"{ttl!r} is not finite")
    return float(ttl)


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    """``tags`` as a tuple; ConfigError for a bare string or an empty or non-string tag."""
    if isinstance(tags, str):
        raise ConfigError("tags", f"{tags!r} is a string; pass a list or tuple of tags")
    out = tuple(tags)
    for t in out:
        if not isinstance(t, str) or not t:
            raise ConfigError("tags", f"{t!r} is not a non-empty string")
    return out


def _at_least(name: str, value: float, low: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= low:
        raise ConfigError(name, f"{value!r} is not a number >= {low}")


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """How one cache behaves. Every field has the default a bare ``DatabaseCache(url)`` uses.

    Attributes
    ----------
    namespace:
        Prefix of every key (``[A-Za-z0-9_-]``, at most 64 characters).
    codec:
        ``"orjson"`` (default), ``"msgpack"`` or a :class:`~evalcache.cache.codec.Codec`.
    default_ttl, negative_ttl:
        Clock seconds for entries and for negative entries (a loader that returned ``None``).
    fail_open:
        When True (default) Redis errors become misses/no-ops and are counted; when False they
        raise :class:`~evalcache.errors.CacheError`.
    socket_timeout:
        Socket timeout of the client the cache makes from a URL (a client passed in is used
        as is).
    retry_interval, max_pending:
        Fail open: real seconds the circuit stays open after an outage error; how many missed
        invalidations are remembered before recovery flushes the namespace instead.
    virtual_slack, stale_grace:
        Seconds added to an entry's Redis TTL beyond its clock TTL: ``virtual_slack`` with a
        virtual clock (Redis only bounds memory), ``stale_grace`` with the wall clock.
    tag_prune_threshold:
        A tag set that grows past this many members is pruned of members that expired.
    scan_batch:
        ``COUNT`` of each SCAN and size of each UNLINK batch.
    refresh_threshold, xfetch_beta, refresh_mode, refresh_workers, seed:
        Refresh ahead (off by default): refresh at ``threshold × ttl`` (seed plan: 0.8) and/or
        XFetch with ``beta``; ``"background"`` thread pool, ``"inline"`` or ``"spawn"`` (a
        callable the cache is given starts each refresh: a simulation process); ``seed``
        seeds XFetch's random draws.
    serve_stale:
        While another caller reloads an expired entry, return the stale value instead of
        waiting (per call overridable).
    lock_wait:
        Seconds a caller waits for another caller's load before loading itself (uncached);
        default 1.5 × the lock TTL, which the load timer derives from loader times.
    """

    namespace: str = "evalcache"
    codec: str | Codec = "orjson"
    default_ttl: float = 600.0
    negative_ttl: float = 60.0
    fail_open: bool = True
    socket_timeout: float = 0.25
    retry_interval: float = 1.0
    max_pending: int = 10_000
    virtual_slack: float = 3600.0
    stale_grace: float = 0.0
    tag_prune_threshold: int = 1000
    scan_batch: int = 500
    refresh_threshold: float | None = None
    xfetch_beta: float | None = None
    refresh_mode: str = "background"
    refresh_workers: int = 2
    seed: int | None = None
    serve_stale: bool = False
    lock_wait: float | None = None

    def __post_init__(self) -> None:
        check_name("namespace", self.namespace)
        get_codec(self.codec)  # an unknown name raises, listing the known ones
        # Normalised to float as before: the TTLs are written into entry headers.
        object.__setattr__(self, "default_ttl", check_ttl("default_ttl", self.default_ttl))
        object.__setattr__(self, "negative_ttl", check_ttl("negative_ttl", self.negative_ttl))
        if self.virtual_slack < 0 or self.stale_grace < 0:
            raise ConfigError("virtual_slack/stale_grace", "must be >= 0 seconds")
        if not self.socket_timeout > 0:
            raise ConfigError("socket_timeout", f"{self.socket_timeout!r} is not > 0 seconds")
        _at_least("retry_interval", self.retry_interval, 0)
        _at_least("max_pending", self.max_pending, 0)
        _at_least("tag_prune_threshold", self.tag_prune_threshold, 0)
        _at_least("scan_batch", self.scan_batch, 1)
        if self.lock_wait is not None:
            _at_least("lock_wait", self.lock_wait, 0)
        check_policy(self.refresh_threshold, self.xfetch_beta)
        check_mode(self.refresh_mode, self.refresh_workers)


class CacheOverrides(TypedDict, total=False):
    """Keyword arguments of ``DatabaseCache(...)``: any field of :class:`CacheOptions`."""

    namespace: str
    codec: str | Codec
    default_ttl: float
    negative_ttl: float
    fail_open: bool
    socket_timeout: float
    retry_interval: float
    max_pending: int
    virtual_slack: float
    stale_grace: float
    tag_prune_threshold: int
    scan_batch: int
    refresh_threshold: float | None
    xfetch_beta: float | None
    refresh_mode: str
    refresh_workers: int
    seed: int | None
    serve_stale: bool
    lock_wait: float | None
