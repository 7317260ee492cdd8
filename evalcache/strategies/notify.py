"""``notify``: PostgreSQL triggers publish row changes; a listener thread invalidates tags.

Row triggers (``AFTER INSERT OR UPDATE OR DELETE``) on the mutable domain tables call
``pg_notify('evalcache_rows', json)`` with the table, ``statement_timestamp()`` and the row's
``user_id``/``expert_id`` (its ``id`` for ``users``/``experts``). PostgreSQL delivers them
after the commit, in commit order, and folds identical payloads of one transaction (the rows of
one statement), so a 20-slot availability rewrite is one or two notifications.

The listener (its own psycopg connection, its own thread) maps a row change to the write event
it stands for and invalidates that event's groups as tags (exactly as ``tags`` would, lookups
included), outside the application's write path: :meth:`on_write` does nothing.

Lag: invalidation done minus ``statement_timestamp()`` of the writing statement, so it is an
upper bound of commit-to-invalidation (it also includes the rest of the tiny transaction).

Virtual time ("ideal lag" model): :meth:`drain` sends a marker NOTIFY after everything
committed so far and waits until the listener has processed it (notifications arrive in commit
order), i.e. the runner waits for the effect where it would have completed.

Triggers are installed idempotently (``CREATE OR REPLACE``) when the strategy is bound and
removed by :meth:`close` unless ``keep_triggers=True``; they cost every write in the database,
so two ``notify`` runs must not share one database concurrently.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from evalcache.events import WriteEvent
from evalcache.strategies.base import Host, ReadSpec
from evalcache.strategies.deps import event_groups, lookup_related, needs_lookup
from evalcache.strategies.keyed import TagsStrategy

CHANNEL = "evalcache_rows"
TRIGGER = "evalcache_notify"
TRIGGER_TABLES: tuple[str, ...] = (
    "users",
    "profiles",
    "preferences",
    "verifications",
    "experts",
    "reviews",
    "availability_slots",
    "appointments",
    "payments",
)
_FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION evalcache_notify_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  IF TG_OP = 'DELETE' THEN r := to_jsonb(OLD); ELSE r := to_jsonb(NEW); END IF;
  PERFORM pg_notify('{CHANNEL}', json_build_object(
    't', TG_TABLE_NAME,
    'ts', extract(epoch FROM statement_timestamp()),
    'id', CASE WHEN TG_TABLE_NAME IN ('users', 'experts') THEN r->'id' END,
    'u', r->'user_id',
    'e', r->'expert_id')::text);
  RETURN NULL;
END $$
"""


def install_triggers(engine: Engine) -> None:
    """Create (or replace) the notify function and one row trigger per mutable table."""
    with engine.begin() as conn:
        conn.execute(text(_FUNCTION_SQL))
        for t in TRIGGER_TABLES:
            conn.execute(
                text(
                    f"CREATE OR REPLACE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE "
                    f"ON {t} FOR EACH ROW EXECUTE FUNCTION evalcache_notify_row()"
                )
            )


def remove_triggers(engine: Engine) -> None:
    """Drop the triggers and the function (no error when absent)."""
    with engine.begin() as conn:
        for t in TRIGGER_TABLES:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {t}"))
        conn.execute(text("DROP FUNCTION IF EXISTS evalcache_notify_row()"))


_DETAIL = {"profiles": "profile", "preferences": "preferences", "verifications": "verification"}


def row_event(payload: dict[str, Any], expert_of_user: Any) -> WriteEvent | None:
    """The write event a row change stands for (``None`` for tables nothing depends on)."""
    t, u, e = payload.get("t"), payload.get("u"), payload.get("e")
    if t == "users":
        return WriteEvent("user_updated", user_id=payload.get("id"))
    if t in _DETAIL:
        detail = _DETAIL[str(t)]
        eid = expert_of_user(u) if detail == "profile" else None
        return WriteEvent("user_updated", user_id=u, expert_id=eid, detail=detail)
    if t == "experts":
        return WriteEvent("review_added", expert_id=payload.get("id"))
    if t == "reviews":
        return WriteEvent("review_added", expert_id=e)
    if t == "availability_slots":
        return WriteEvent("availability_updated", expert_id=e)
    if t == "appointments":
        return WriteEvent("appointment_status_changed", user_id=u, expert_id=e)
    if t == "payments":
        return WriteEvent("payment_completed", user_id=u, expert_id=e)
    return None


class NotifyStrategy(TagsStrategy):
    """Tag invalidation driven by PostgreSQL LISTEN/NOTIFY (see the module docstring).

    Parameters
    ----------
    keep_triggers:
        Leave the triggers installed on :meth:`close`.
    """

    name = "notify"
    # Stale between the commit and the listener's invalidation (the lag), but no value loaded
    # before a write survives that invalidation (tag leases), which is what race_free means.
    race_free = True

    def __init__(self, keep_triggers: bool = False) -> None:
        super().__init__()
        self.keep_triggers = keep_triggers
        self._token = uuid.uuid4().hex[:12]
        self._cond = threading.Condition()
        self._sent = 0
        self._synced = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.lag_ms: list[float] = []
        self.errors = 0
        self.notifications = 0

    def bind(self, host: Host) -> None:
        super().bind(host)
        install_triggers(host.engine)
        dsn = host.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._thread = threading.Thread(
            target=self._run, args=(dsn,), name="evalcache-notify", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("notify listener did not start within 10 s")

    def tags(self, spec: ReadSpec) -> tuple[str, ...]:
        return spec.groups

    def invalidate(self, event: WriteEvent) -> int:
        return 0  # the listener invalidates, outside the write path

    def on_write(self, event: WriteEvent) -> None:
        return None

    # -- listener --------------------------------------------------------------------------
    def _expert_of_user(self, user_id: Any) -> int | None:
        with self.host.engine.connect() as conn:
            v = conn.execute(
                text("SELECT id FROM experts WHERE user_id = :u"), {"u": user_id}
            ).scalar()
        return None if v is None else int(v)

    def _handle(self, payload_text: str) -> None:
        if payload_text.startswith("sync:"):
            _, token, n = payload_text.split(":")
            if token == self._token:
                with self._cond:
                    self._synced = max(self._synced, int(n))
                    self._cond.notify_all()
            return
        payload = json.loads(payload_text)
        event = row_event(payload, self._expert_of_user)
        if event is None:
            return
        related = None
        if needs_lookup(event):
            with self.host.engine.connect() as conn:
                related = lookup_related(conn, event)
        t0 = time.perf_counter()
        removed = self.cache.invalidate_tags(event_groups(event, self.host.specs_of, related))
        done = time.time()
        with self._lock:
            self._counts["invalidations"] += 1
            self._counts["keys_removed"] += removed
            self._counts["time_ms"] += (time.perf_counter() - t0) * 1000
            self.lag_ms.append(max(0.0, (done - float(payload["ts"])) * 1000))

    def _run(self, dsn: str) -> None:
        try:
            conn = psycopg.connect(dsn, autocommit=True)
        except psycopg.Error:
            self.errors += 1
            self._ready.set()
            return
        with conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self._ready.set()
            while not self._stop.is_set():
                try:
                    for n in conn.notifies(timeout=0.1):
                        self.notifications += 1
                        try:
                            self._handle(n.payload)
                        except Exception:  # one bad payload must not stop the listener
                            self.errors += 1
                        if self._stop.is_set():
                            break
                except psycopg.Error:
                    self.errors += 1
                    return

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until the listener processed every notification committed before this call."""
        if self._thread is None or not self._thread.is_alive():
            return False
        with self._cond:
            self._sent += 1
            n = self._sent
        with self.host.engine.connect() as conn:
            conn.execute(
                text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": f"sync:{self._token}:{n}"}
            )
            conn.commit()
        with self._cond:
            return self._cond.wait_for(lambda: self._synced >= n, timeout)

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        with self._lock:
            lags = list(self.lag_ms)
        out["lag_ms"] = lags
        out["lag_ms_p50"] = statistics.median(lags) if lags else None
        out["lag_ms_max"] = max(lags) if lags else None
        out["notifications"] = self.notifications
        out["listener_errors"] = self.errors
        out["lag_model"] = "ideal (drain waits for the listener)"
        return out

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._host is not None and not self.keep_triggers:
            remove_triggers(self.host.engine)
