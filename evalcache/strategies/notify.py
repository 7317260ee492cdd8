"""``notify``: the database reports committed row changes; a listener invalidates their tags.

The application's change feed (:meth:`DependencyMap.change_feed`: PostgreSQL row triggers and
LISTEN/NOTIFY in ``evalcache.domain.changefeed``) calls :meth:`NotifyStrategy.on_change` on its
own thread for each committed change, outside the application's write path: :meth:`on_write`
does nothing. The strategy invalidates the change's groups as tags (exactly as ``tags`` would,
look-ups included).

Lag: invalidation done minus the commit timestamp the feed reports (the writing statement's
``statement_timestamp()``), so it is an upper bound of commit-to-invalidation.

Virtual time ("ideal lag" model): :meth:`drain` waits until the feed delivered everything
committed so far, i.e. the runner waits for the effect where it would have completed.

Overlapping requests in virtual time (``notify_lag``, 0 by default): after
:meth:`buffer` the listener only keeps what the feed delivers; the writer collects the
notifications of its commit (:meth:`collect`, a real sync with the feed) and applies them at
the commit, or a simulation process applies them later, with :meth:`deliver`, which records
the lag on the run's clock.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

from evalcache.strategies.api import ChangeFeed, Host, WriteEvent
from evalcache.strategies.tags import TagsStrategy


class NotifyStrategy(TagsStrategy):
    """Tag invalidation driven by the database's change notifications.

    Parameters
    ----------
    keep_triggers:
        Leave the database side of the feed installed on :meth:`close`.
    """

    name = "notify"
    # Stale between the commit and the listener's invalidation (the lag), but no value loaded
    # before a write survives that invalidation (tag leases), which is what race_free means.
    race_free = True

    def __init__(self, keep_triggers: bool = False) -> None:
        super().__init__()
        self.keep_triggers = keep_triggers
        self._feed: ChangeFeed | None = None
        self.lag_ms: list[float] = []
        self.lag_model = "ideal (drain waits for the listener)"
        self._pending: list[WriteEvent] | None = None  # a list while buffering

    def bind(self, host: Host) -> None:
        super().bind(host)
        self._feed = host.deps.change_feed(self.on_change, keep_triggers=self.keep_triggers)

    def invalidate(self, event: WriteEvent) -> int:
        return 0  # the listener invalidates, outside the write path

    def on_write(self, event: WriteEvent) -> None:
        return None

    def on_change(self, event: WriteEvent, committed_ts: float) -> None:
        """Invalidate what a committed change makes stale (called on the feed's thread)."""
        with self._lock:
            if self._pending is not None:
                self._pending.append(event)
                return
        groups = self.host.deps.groups(event)
        t0 = time.perf_counter()
        removed = self.cache.invalidate_tags(groups)
        done = time.time()
        with self._lock:
            self._counts["invalidations"] += 1
            self._counts["keys_removed"] += removed
            self._counts["time_ms"] += (time.perf_counter() - t0) * 1000
            self.lag_ms.append(max(0.0, (done - committed_ts) * 1000))

    def buffer(self, lag_model: str) -> None:
        """From now on keep delivered changes for :meth:`collect` instead of invalidating on the
        feed's thread; ``lag_model`` says who applies them and when (stated in :meth:`stats`)."""
        with self._lock:
            self._pending = []
            self.lag_model = lag_model

    def collect(self, timeout: float = 5.0) -> list[WriteEvent]:
        """The changes delivered for everything committed before this call (after :meth:`buffer`),
        not yet collected."""
        self.drain(timeout)
        with self._lock:
            if self._pending is None:
                return []
            out, self._pending = self._pending, []
        return out

    def deliver(self, changes: Sequence[WriteEvent], committed_at: float) -> None:
        """Invalidate ``changes`` now, on the caller's thread; each one's lag is the cache clock's
        time when it is done minus ``committed_at`` (that clock's time of the commit)."""
        clock = self.cache.clock
        for event in changes:
            groups = self.host.deps.groups(event)
            t0 = time.perf_counter()
            removed = self.cache.invalidate_tags(groups)
            lag = (clock.now() - committed_at) * 1000
            with self._lock:
                self._counts["invalidations"] += 1
                self._counts["keys_removed"] += removed
                self._counts["time_ms"] += (time.perf_counter() - t0) * 1000
                self.lag_ms.append(max(0.0, lag))

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until the feed delivered every change committed before this call."""
        return self._feed.sync(timeout) if self._feed is not None else False

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        with self._lock:
            lags = list(self.lag_ms)
            lag_model = self.lag_model
        out["lag_ms"] = lags
        out["lag_ms_p50"] = statistics.median(lags) if lags else None
        out["lag_ms_max"] = max(lags) if lags else None
        out["notifications"] = self._feed.notifications if self._feed is not None else 0
        out["listener_errors"] = self._feed.errors if self._feed is not None else 0
        out["lag_model"] = lag_model
        return out

    def close(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None
