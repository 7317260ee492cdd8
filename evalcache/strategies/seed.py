"""``seed``: the seed plan's invalidation code, exactly as written.

The seed plan (``database-cache-integration-plan.md``) invalidates with the calls listed below;
each is reproduced with its own key strings, including those that match nothing in the plan's
own key layout (kept on purpose: the workbench must show what the plan delivers).

Each write of the application goes through the plan's code for it (the writes the plan has
no code for through the nearest it has):

- ``user_updated`` (a patient's or an expert's own name or bio, preferences, verification;
  ``U`` the expert's user for an expert): ``updateUserProfile(U)`` then
  ``invalidateOnUserUpdate(U, type)``, ``type`` the event's detail (``profile`` for a name or
  a bio). An expert's verification also flips ``is_verified``; the plan knows nothing of it.
- ``expert_updated`` (an expert's fee): the plan has no expert profile update, so the fee
  goes through the same profile path of the expert's user: ``updateUserProfile(U)`` and
  ``invalidateOnUserUpdate(U, 'profile')``; neither names ``expert_profile:E:*`` nor the
  listings, which show the fee.
- ``availability_updated``: ``invalidateAvailabilityCaches(E)``.
- ``appointment_created``: ``invalidateAppointmentCaches(U, E)``.
- ``appointment_status_changed`` (confirm, complete, no-show, cancel):
  ``invalidateOnAppointmentChange(A, 'status_change')``; the slot a cancellation frees
  (``expert_profile:E:full``, the expert's dashboard availability) is not its concern.
- ``appointment_rescheduled``: ``invalidateOnAppointmentChange(A, 'reschedule')``, the same
  keys without the admin dashboard (only ``'status_change'`` adds it), nothing for the slots.
- ``payment_completed``: ``invalidateOnPaymentComplete(P)``.
- ``payment_refunded``: nothing (the plan has no refund path).
- ``review_added``: nothing.
- ``user_created``: nothing either (the plan has no user-creation path, so a cached "not
  found" of a new id, or the admin dashboard's user count, waits for its TTL or the flush).

The calls, with their key strings:

- ``UserProfileCache.updateUserProfile``: ``invalidate(user_profile:U)`` then
  ``invalidateRelatedCaches(U)``: ``invalidate(user_appointments:U)`` (no status suffix: the
  real keys are ``user_appointments:U:<status|all>``, so it matches nothing),
  ``invalidate(user_payments:U)`` (no such family), ``invalidatePattern(dashboard:*:U)`` (U is
  a users id: matches ``dashboard:user:U``, and an expert dashboard only if some *expert* id
  happens to equal U).
- ``DatabaseCacheInvalidation.invalidateOnUserUpdate(U, type)``: profile ->
  ``user_profile:U``, ``dashboard:user:U``; preferences -> ``user_profile:U``,
  ``user_preferences:U``; verification -> ``user_profile:U``, ``dashboard:admin:*``,
  ``pending_verifications:*``.
- ``ExpertProfileCache.invalidateAvailabilityCaches(E)``: ``expert_profile:E:full``,
  ``expert_availability:E:*``, ``available_experts:*``.
- ``AppointmentCache.invalidateAppointmentCaches(U, E)`` (on create): ``user_appointments:U:*``,
  ``expert_appointments:E:*``, ``dashboard:appointments:*`` (matches nothing),
  ``expert_profile:E:full``.
- ``invalidateOnAppointmentChange(A, changeType)``: ``user_appointments:U:*``,
  ``expert_appointments:E:*``, ``dashboard:user:U``, ``dashboard:expert:E``, and
  ``dashboard:admin:*`` for ``'status_change'`` only.
- ``invalidateOnPaymentComplete(P)``: ``user_payments:U:*``, ``expert_earnings:E:*``,
  ``dashboard:admin:*``, ``revenue_metrics:*``.
- ``schedulePeriodicInvalidation``: every 30 minutes (clock time, driven by
  :meth:`tick`) ``dashboard:*``, ``*:expired:*`` and ``cleanupStaleEntries(24 h)``.

Fills are the plan's GET-then-SET (not race-free). With a refresh threshold on the cache
(``refresh: threshold``) single reads go through the plan's ``QueryOptimizer.optimizedQuery``
(:func:`~evalcache.strategies.optimizer.optimized_read`): every hit older than ``threshold × ttl``
starts the plan's ``refreshInBackground`` (load, then an unconditional SET; no single flight,
no dedupe) the way the cache runs refreshes (inline in serial virtual runs, a simulation
process with overlapping requests, the cache's refresh pool live). Batch reads stay plain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evalcache.cache.keys import ANY, escape_pattern
from evalcache.strategies.api import ReadSpec, WriteEvent
from evalcache.strategies.base import PlainFills
from evalcache.strategies.optimizer import optimized_read

FLUSH_EVERY = 30 * 60.0
STALE_THRESHOLD = 24 * 60 * 60.0


class SeedStrategy(PlainFills):
    """The seed plan's invalidation calls, key strings and all (see the module docstring).

    Parameters
    ----------
    flush_every:
        Clock seconds between periodic flushes (plan: 30 minutes).
    """

    name = "seed"
    refresh_modes = ("none", "threshold")  # the plan's optimizer: 80 % of the TTL, no XFetch

    def __init__(self, flush_every: float = FLUSH_EVERY) -> None:
        super().__init__()
        self.flush_every = float(flush_every)
        self._last_flush: float | None = None
        self.flushes = 0

    def fill(self, spec: ReadSpec, key: str, loader: Callable[[], Any]) -> tuple[Any, bool]:
        cache = self.cache
        threshold = cache.options.refresh_threshold
        if threshold is None:
            return super().fill(spec, key, loader)
        return optimized_read(
            cache,
            key,
            loader,
            spec.ttl,
            self.tags(spec),
            refresh_threshold=threshold,
            submit=cache.start_refresh,
            negative_ttl=self.host.negative_ttl,
            family=spec.family,
        )

    # DatabaseCache.invalidate / invalidatePattern with the plan's strings
    def _key(self, family: str, *parts: str | int) -> int:
        return self.cache.invalidate(self.cache.key(family, *parts))

    def _pattern(self, family: str, *parts: object, tail: bool = False) -> int:
        return self.cache.invalidate_pattern(
            self.cache.pattern(family, *parts, tail=tail)  # type: ignore[arg-type]
        )

    def _update_user_profile(self, u: int) -> int:
        n = self._key("user_profile", u)
        # invalidateRelatedCaches
        n += self._key("user_appointments", u)
        n += self._key("user_payments", u)
        n += self._pattern("dashboard", ANY, u)
        return n

    def _on_user_update(self, u: int, update_type: str | None) -> int:
        if update_type == "profile":
            return self._key("user_profile", u) + self._key("dashboard", "user", u)
        if update_type == "preferences":
            return self._key("user_profile", u) + self._key("user_preferences", u)
        if update_type == "verification":
            return (
                self._key("user_profile", u)
                + self._pattern("dashboard", "admin", tail=True)
                + self._pattern("pending_verifications", tail=True)
            )
        return 0  # invalidationMap[updateType] || []

    def _on_appointment_change(self, u: int, e: int, change_type: str) -> int:
        n = (
            self._pattern("user_appointments", u, tail=True)
            + self._pattern("expert_appointments", e, tail=True)
            + self._key("dashboard", "user", u)
            + self._key("dashboard", "expert", e)
        )
        if change_type == "status_change":
            n += self._pattern("dashboard", "admin", tail=True)
        return n

    def invalidate(self, event: WriteEvent) -> int:
        u, e = event.user_id, event.expert_id
        if event.kind == "user_updated" and u is not None:
            return self._update_user_profile(u) + self._on_user_update(u, event.detail)
        if event.kind == "expert_updated" and u is not None:
            return self._update_user_profile(u) + self._on_user_update(u, "profile")
        if event.kind == "availability_updated" and e is not None:
            return (
                self._key("expert_profile", e, "full")
                + self._pattern("expert_availability", e, tail=True)
                + self._pattern("available_experts", tail=True)
            )
        if event.kind == "appointment_created" and u is not None and e is not None:
            return (
                self._pattern("user_appointments", u, tail=True)
                + self._pattern("expert_appointments", e, tail=True)
                + self._pattern("dashboard", "appointments", tail=True)
                + self._key("expert_profile", e, "full")
            )
        if event.kind == "appointment_status_changed" and u is not None and e is not None:
            return self._on_appointment_change(u, e, "status_change")
        if event.kind == "appointment_rescheduled" and u is not None and e is not None:
            return self._on_appointment_change(u, e, "reschedule")
        if event.kind == "payment_completed" and u is not None and e is not None:
            return (
                self._pattern("user_payments", u, tail=True)
                + self._pattern("expert_earnings", e, tail=True)
                + self._pattern("dashboard", "admin", tail=True)
                + self._pattern("revenue_metrics", tail=True)
            )
        return 0  # payment_refunded, review_added, user_created: the plan has no invalidation

    def tick(self, now: float) -> None:
        """The plan's ``setInterval`` flush, on clock time: due every ``flush_every``."""
        if self._last_flush is None:
            self._last_flush = now  # the interval starts when the service starts
            return
        if now - self._last_flush < self.flush_every:
            return
        self._last_flush = now
        self.flushes += 1
        cache = self.cache
        cache.invalidate_pattern(cache.pattern("dashboard", tail=True))
        cache.invalidate_pattern(escape_pattern(cache.keys.prefix) + "*:expired:*")
        cache.cleanup_stale_entries(STALE_THRESHOLD)

    def stats(self) -> dict[str, object]:  # type: ignore[override]
        out = super().stats()
        out["periodic_flushes"] = self.flushes
        return out
