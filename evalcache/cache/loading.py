"""``DatabaseCache``: :class:`CacheBase` plus ``get_or_load`` (leases, single flight, refresh).

See ``locks.py`` for why a late load can never store a stale result, and ``refresh.py`` for
refresh ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import redis
from redis.cluster import RedisCluster

from evalcache.cache.codec import Codec
from evalcache.cache.core import CacheBase, Header, _check_tags, _check_ttl
from evalcache.cache.entry import KIND_LEASE, KIND_NEGATIVE, NO_VALUE, Version, lease, new_token
from evalcache.cache.failopen import REDIS_ERRORS
from evalcache.cache.locks import CAS_SET, RELEASE_LEASE, RELEASE_LOCK, LoadTimer
from evalcache.cache.refresh import Refresher, RefreshPolicy
from evalcache.clock import Clock

_FAILED: Final = b""  # _acquire's answer when Redis failed (distinct from None = not acquired)


@dataclass(frozen=True, slots=True)
class _Job:
    key: str
    loader: Callable[[], Any]
    ttl: float
    negative_ttl: float
    tags: tuple[str, ...]
    family: str | None
    version: Version


class DatabaseCache(CacheBase):
    """A Redis query cache with leases, single flight, refresh ahead and fail open.

    Parameters
    ----------
    client_or_url:
        A ``redis.Redis`` or ``redis.cluster.RedisCluster`` (used as is: set its socket
        timeouts yourself) or a ``redis://`` URL (a client with ``socket_timeout`` is made and
        closed by :meth:`close`).
    namespace:
        Prefix of every key (``[A-Za-z0-9_-]``, at most 64 characters).
    codec:
        ``"orjson"`` (default), ``"msgpack"`` or a :class:`~evalcache.cache.codec.Codec`.
    clock:
        Expiry is judged against ``clock.now()``; default the wall clock. A clock with
        ``virtual = True`` makes Redis TTLs a memory bound only (``ttl + virtual_slack``).
    default_ttl, negative_ttl:
        Clock seconds for entries and for negative entries (a loader that returned ``None``).
    fail_open:
        When True (default) Redis errors become misses/no-ops and are counted; when False they
        raise :class:`~evalcache.errors.CacheError`.
    refresh_threshold, xfetch_beta, refresh_mode, refresh_workers, seed:
        Refresh ahead (off by default): refresh at ``threshold × ttl`` (seed plan: 0.8) and/or
        XFetch with ``beta``; ``"background"`` thread pool or ``"inline"``; ``seed`` seeds
        XFetch's random draws.
    serve_stale:
        While another caller reloads an expired entry, return the stale value instead of
        waiting (per call overridable).
    lock_wait:
        Seconds a caller waits for another caller's load before loading itself (uncached);
        default 1.5 × the lock TTL, which :class:`LoadTimer` derives from loader times.

    Examples
    --------
    >>> cache = DatabaseCache("redis://127.0.0.1:6379/0", namespace="demo")  # doctest: +SKIP
    >>> key = cache.key("user_profile", 42)  # doctest: +SKIP
    >>> cache.get_or_load(key, lambda: load(42), ttl=3600, tags=["user:42"])  # doctest: +SKIP
    """

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
        refresh_threshold: float | None = None,
        xfetch_beta: float | None = None,
        refresh_mode: str = "background",
        refresh_workers: int = 2,
        seed: int | None = None,
        serve_stale: bool = False,
        lock_wait: float | None = None,
        load_timer: LoadTimer | None = None,
        socket_timeout: float = 0.25,
        retry_interval: float = 1.0,
        max_pending: int = 10_000,
        virtual_slack: float = 3600.0,
        stale_grace: float = 0.0,
        tag_prune_threshold: int = 1000,
        scan_batch: int = 500,
    ) -> None:
        self._policy = RefreshPolicy(refresh_threshold, xfetch_beta, seed)
        self._refresher = Refresher(refresh_mode, refresh_workers)
        super().__init__(
            client_or_url,
            namespace=namespace,
            codec=codec,
            clock=clock,
            default_ttl=default_ttl,
            negative_ttl=negative_ttl,
            fail_open=fail_open,
            socket_timeout=socket_timeout,
            retry_interval=retry_interval,
            max_pending=max_pending,
            virtual_slack=virtual_slack,
            stale_grace=stale_grace,
            tag_prune_threshold=tag_prune_threshold,
            scan_batch=scan_batch,
        )
        self.serve_stale = serve_stale
        self.lock_wait = lock_wait
        self.timer = load_timer or LoadTimer()
        self._cas = self.client.register_script(CAS_SET)
        self._release_lease = self.client.register_script(RELEASE_LEASE)
        self._release_lock = self.client.register_script(RELEASE_LOCK)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop the refresh pool (waiting for running refreshes) and close an owned client."""
        self._refresher.close()
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> DatabaseCache:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def wait_for_refreshes(self, timeout: float = 5.0) -> bool:
        """Block until no background refresh is running; False on timeout."""
        return self._refresher.wait_idle(timeout)

    # -- get_or_load -----------------------------------------------------------------------
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
        job = _Job(
            key,
            loader,
            self.default_ttl if ttl is None else _check_ttl("ttl", ttl),
            self.negative_ttl if negative_ttl is None else _check_ttl("negative_ttl", negative_ttl),
            _check_tags(tags),
            family,
            version,
        )
        if self._guard.blocked and not self._usable():
            self._miss(family)
            return self._load(job)[0]
        try:
            raw = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "GET")
            self._miss(family)
            return self._load(job)[0]
        h = self._header(key, raw) if raw is not None else None
        if h is not None and h[0] != KIND_LEASE and self.clock.now() < h[3] + h[4]:
            value = self._value(key, raw, h)  # type: ignore[arg-type]
            if value is not NO_VALUE:
                self._stats.read(len(raw), family, negative=h[0] == KIND_NEGATIVE)  # type: ignore[arg-type]
                if self._policy.enabled and self._policy.due(self.clock.now(), h[3], h[4], h[5]):
                    token = h[2]
                    self._refresher.submit(key, lambda: self._refresh(job, token))
                return value
            h = None
        self._miss(family, expired=h is not None and h[0] != KIND_LEASE)
        stale = serve_stale if serve_stale is not None else self.serve_stale
        return self._fill(job, raw, h, stale)

    def _fill(self, job: _Job, raw: bytes | None, h: Header | None, serve_stale: bool) -> Any:
        key = job.key
        lease_seen = h is not None and h[0] == KIND_LEASE
        stale_token: bytes | None = None
        stale_value: Any = NO_VALUE
        if h is not None and not lease_seen and raw is not None:
            stale_token, stale_value = h[2], self._value(key, raw, h)
            if stale_value is NO_VALUE:
                stale_token = None
        lock_s = self.timer.lock_ttl(job.family)
        deadline = time.monotonic() + (
            self.lock_wait if self.lock_wait is not None else 1.5 * lock_s
        )
        delay = 0.001
        while True:
            if not lease_seen:
                token = self._acquire(job, stale_token, lock_s)
                if token == _FAILED:
                    return self._load(job)[0]
                if token is not None:
                    return self._load_and_store(job, token, stale_token)
                if stale_token is not None and serve_stale:
                    self._stats.incr("stale_served", family=job.family)
                    return stale_value
            if time.monotonic() >= deadline:
                self._stats.incr("lock_timeouts")
                return self._load(job)[0]
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            try:
                raw = self.client.get(key)
            except REDIS_ERRORS as exc:
                self._guard.failed(exc, "GET")
                return self._load(job)[0]
            h = self._header(key, raw) if raw is not None else None
            lease_seen = h is not None and h[0] == KIND_LEASE
            if h is None or lease_seen or raw is None:
                stale_token = None
                continue
            value = self._value(key, raw, h)
            if value is NO_VALUE:
                stale_token = None
            elif self.clock.now() < h[3] + h[4]:
                self._stats.incr("coalesced", family=job.family)
                self._stats.incr("bytes_read", len(raw))
                return value
            else:
                stale_token, stale_value = h[2], value

    def _acquire(self, job: _Job, stale_token: bytes | None, lock_s: float) -> bytes | None:
        """Take the lease (absent key) or the lock (stale key); register tags; None if taken."""
        token = new_token()
        px = max(1, int(lock_s * 1000))
        if stale_token is None:
            target, val = job.key, lease(token, self.clock.now())
        else:
            target, val = self.keys.lock(job.key), token
        try:
            if job.tags:
                pipe = self.client.pipeline(transaction=False)
                pipe.set(target, val, nx=True, px=px)
                entry_px = self._px(max(job.ttl, job.negative_ttl))
                positions = self._tags.register(pipe, job.key, job.tags, entry_px)
                res = pipe.execute()
                self._tags.after(res, positions)
                ok = res[0]
            else:
                ok = self.client.set(target, val, nx=True, px=px)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "lease")
            return _FAILED
        return token if ok else None

    def _load(self, job: _Job) -> tuple[Any, float]:
        t0 = time.perf_counter()
        try:
            value = job.loader()
        except Exception:
            self._stats.incr("load_errors")
            raise
        delta = time.perf_counter() - t0
        self.timer.observe(job.family, delta)
        self._stats.incr("loads", family=job.family)
        return value, delta

    def _release(self, job: _Job, token: bytes, stale_token: bytes | None) -> None:
        try:
            if stale_token is None:
                self._release_lease(keys=[job.key], args=[token])
            else:
                self._release_lock(keys=[self.keys.lock(job.key)], args=[token])
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "release")

    def _load_and_store(self, job: _Job, token: bytes, stale_token: bytes | None) -> Any:
        created = self.clock.now()
        try:
            value, delta = self._load(job)
        except BaseException:
            self._release(job, token, stale_token)
            raise
        self._store(job, token, stale_token, value, delta, created)
        return value

    def _store(
        self,
        job: _Job,
        token: bytes,
        stale_token: bytes | None,
        value: Any,
        delta: float,
        created: float,
    ) -> bool:
        """CAS the loaded value over the lease (or the stale entry); release the lock."""
        ttl = job.negative_ttl if value is None else job.ttl
        env = self._envelope(value, ttl, job.tags, job.version, delta, created)
        if self._guard.blocked and not self._usable():
            return False  # pending invalidations: storing could resurrect what they removed
        compare = token if stale_token is None else stale_token
        try:
            ok = self._cas(keys=[job.key], args=[compare, env, self._px(ttl)])
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "CAS SET")
            ok = 0
        if stale_token is not None:
            self._release(job, token, stale_token)
        if ok:
            self._stats.incr("sets")
            self._stats.incr("bytes_written", len(env))
        else:
            self._stats.incr("stale_sets_prevented")
        return bool(ok)

    def _refresh(self, job: _Job, token: bytes) -> None:
        """Recompute a fresh-but-due entry; store only over the same entry (CAS on its token)."""
        lock_token = self._acquire(job, token, self.timer.lock_ttl(job.family))
        if not lock_token:
            return
        self._stats.incr("refreshes_tried")
        created = self.clock.now()
        try:
            value, delta = self._load(job)
        except Exception:
            self._release(job, lock_token, token)
            return
        if self._store(job, lock_token, token, value, delta, created):
            self._stats.incr("refreshes_succeeded")
