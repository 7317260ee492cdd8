"""The misses of ``get_or_load``: leases, single flight, compare-and-set stores, refresh ahead.

:class:`~evalcache.cache.DatabaseCache` answers a ``get_or_load`` hit itself; on a miss it
hands the :class:`LoadJob` to :meth:`Loader.fill`, and on a hit due for refresh to
:meth:`Loader.maybe_refresh`. See ``locks.py`` for why a late load can never store a stale
result, and ``refresh.py`` for refresh ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from evalcache.cache.context import CacheContext
from evalcache.cache.entry import (
    KIND_LEASE,
    NO_VALUE,
    Header,
    Version,
    lease,
    new_token,
)
from evalcache.cache.failopen import REDIS_ERRORS
from evalcache.cache.locks import CAS_SET, RELEASE_LEASE, RELEASE_LOCK, LoadTimer
from evalcache.cache.observe import origin
from evalcache.cache.refresh import Refresher, RefreshPolicy, Spawn

T = TypeVar("T")

_FAILED: Final = b""  # _acquire's answer when Redis failed (distinct from None = not acquired)


@dataclass(frozen=True, slots=True)
class LoadJob:
    """One ``get_or_load`` call: its key, loader and validated storage settings."""

    key: str
    loader: Callable[[], Any]
    ttl: float
    negative_ttl: float
    tags: tuple[str, ...]
    family: str | None
    version: Version


class Loader:
    """The misses of one cache's ``get_or_load`` and the refresh jobs its hits start."""

    def __init__(
        self, ctx: CacheContext, timer: LoadTimer | None, spawn: Spawn | None = None
    ) -> None:
        o = ctx.options
        self._ctx = ctx
        self.policy = RefreshPolicy(o.refresh_threshold, o.xfetch_beta, o.seed)
        self.refresher = Refresher(o.refresh_mode, o.refresh_workers, spawn)
        self.serve_stale = o.serve_stale
        self.lock_wait = o.lock_wait
        self.timer = timer or LoadTimer()
        client = ctx.client
        self._cas = client.register_script(CAS_SET)
        self._release_lease = client.register_script(RELEASE_LEASE)
        self._release_lock = client.register_script(RELEASE_LOCK)
        self._client = client
        self._guard = ctx.guard
        self._clock = ctx.clock
        self._stats = ctx.stats
        self._header = ctx.header
        self._value = ctx.value

    def load(self, job: LoadJob) -> Any:
        """Run the loader without caching its result (Redis unusable, or lock wait over)."""
        return self.run(job.loader, job.family)[0]

    def maybe_refresh(
        self, job: LoadJob, token: bytes, created_at: float, ttl: float, delta: float
    ) -> None:
        """After a hit on the entry ``token``: start a refresh if the policy says it is due."""
        if self.policy.due(self._clock.now(), created_at, ttl, delta):
            self.refresher.submit(job.key, lambda: self._refresh(job, token))

    def fill(
        self, job: LoadJob, raw: bytes | None, h: Header | None, serve_stale: bool | None
    ) -> Any:
        """After a miss (``raw``/``h``: what the GET found): load under a lease, or wait."""
        if serve_stale is None:
            serve_stale = self.serve_stale
        key = job.key
        lease_seen = h is not None and h.kind == KIND_LEASE
        stale_token: bytes | None = None
        stale_value: Any = NO_VALUE
        if h is not None and not lease_seen and raw is not None:
            stale_token, stale_value = h.token, self._value(key, raw, h)
            if stale_value is NO_VALUE:
                stale_token = None
        lock_s = self.timer.lock_ttl(job.family)
        clock = self._clock
        deadline = clock.elapsed() + (
            self.lock_wait if self.lock_wait is not None else 1.5 * lock_s
        )
        delay = 0.001
        while True:
            if not lease_seen:
                token = self._acquire(job, stale_token, lock_s)
                if token == _FAILED:
                    return self.load(job)
                if token is not None:
                    return self._load_and_store(job, token, stale_token)
                if stale_token is not None and serve_stale:
                    self._stats.incr("stale_served", family=job.family)
                    return stale_value
            if clock.elapsed() >= deadline:
                self._stats.incr("lock_timeouts")
                return self.load(job)
            clock.sleep(delay)
            delay = min(delay * 2, 0.05)
            try:
                raw = self._client.get(key)
            except REDIS_ERRORS as exc:
                self._guard.failed(exc, "GET")
                return self.load(job)
            h = self._header(key, raw) if raw is not None else None
            lease_seen = h is not None and h.kind == KIND_LEASE
            if h is None or lease_seen or raw is None:
                stale_token = None
                continue
            value = self._value(key, raw, h)
            if value is NO_VALUE:
                stale_token = None
            elif self._clock.now() < h.created_at + h.ttl:
                self._stats.incr("coalesced", family=job.family)
                self._stats.incr("bytes_read", len(raw))
                return value
            else:
                stale_token, stale_value = h.token, value

    def _acquire(self, job: LoadJob, stale_token: bytes | None, lock_s: float) -> bytes | None:
        """Take the lease (absent key) or the lock (stale key); register tags; None if taken."""
        token = new_token()
        px = max(1, int((lock_s + self._ctx.lock_slack) * 1000))
        if stale_token is None:
            target, val = job.key, lease(token, self._clock.now())
        else:
            target, val = self._ctx.keys.lock(job.key), token
        try:
            if job.tags:
                pipe = self._client.pipeline(transaction=False)
                pipe.set(target, val, nx=True, px=px)
                entry_px = self._ctx.px(max(job.ttl, job.negative_ttl))
                positions = self._ctx.tags.register(pipe, job.key, job.tags, entry_px)
                res = pipe.execute()
                self._ctx.tags.after(res, positions)
                ok = res[0]
            else:
                ok = self._client.set(target, val, nx=True, px=px)
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "lease")
            return _FAILED
        return token if ok else None

    def run(self, loader: Callable[[], T], family: str | None) -> tuple[T, float]:
        """``loader()`` and its duration in seconds, counted (``loads``, ``load_errors``)."""
        elapsed = self._clock.elapsed
        t0 = elapsed()
        try:
            value = loader()
        except Exception:
            self._stats.incr("load_errors")
            raise
        delta = elapsed() - t0
        self.timer.observe(family, delta)
        self._stats.incr("loads", family=family)
        return value, delta

    def _release(self, job: LoadJob, token: bytes, stale_token: bytes | None) -> None:
        try:
            if stale_token is None:
                self._release_lease(keys=[job.key], args=[token])
            else:
                self._release_lock(keys=[self._ctx.keys.lock(job.key)], args=[token])
        except REDIS_ERRORS as exc:
            self._guard.failed(exc, "release")

    def _load_and_store(self, job: LoadJob, token: bytes, stale_token: bytes | None) -> Any:
        created = self._clock.now()
        try:
            value, delta = self.run(job.loader, job.family)
        except BaseException:
            self._release(job, token, stale_token)
            raise
        self._store(job, token, stale_token, value, delta, created)
        return value

    def _store(
        self,
        job: LoadJob,
        token: bytes,
        stale_token: bytes | None,
        value: Any,
        delta: float,
        created: float,
    ) -> bool:
        """CAS the loaded value over the lease (or the stale entry); release the lock."""
        ok = self._cas_store(job, token, stale_token, value, delta, created)
        observer = self._ctx.store_observer
        if observer is not None:
            observer(value, origin(), ok)
        return ok

    def _cas_store(
        self,
        job: LoadJob,
        token: bytes,
        stale_token: bytes | None,
        value: Any,
        delta: float,
        created: float,
    ) -> bool:
        ttl = job.negative_ttl if value is None else job.ttl
        env = self._ctx.envelope(value, ttl, job.tags, job.version, delta, created)
        if self._guard.blocked and not self._ctx.usable():
            return False  # pending invalidations: storing could resurrect what they removed
        compare = token if stale_token is None else stale_token
        try:
            ok = self._cas(keys=[job.key], args=[compare, env, self._ctx.px(ttl)])
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

    def _refresh(self, job: LoadJob, token: bytes) -> None:
        """Recompute a fresh-but-due entry; store only over the same entry (CAS on its token)."""
        lock_token = self._acquire(job, token, self.timer.lock_ttl(job.family))
        if not lock_token:
            return
        self._stats.incr("refreshes_tried")
        created = self._clock.now()
        try:
            value, delta = self.run(job.loader, job.family)
        except Exception:
            self._release(job, lock_token, token)
            return
        # CAS over the entry it refreshed: dropped if that was invalidated or replaced meanwhile
        if self._store(job, lock_token, token, value, delta, created):
            self._stats.incr("refreshes_succeeded")
