"""Committed row changes as write events: PostgreSQL row triggers and LISTEN/NOTIFY.

Row triggers (``AFTER INSERT OR UPDATE OR DELETE``) on the mutable domain tables call
``pg_notify('evalcache_rows', json)`` with the table, the operation, ``statement_timestamp()``
and the row's ``user_id``/``expert_id`` (its ``id`` for ``users``/``experts``). PostgreSQL
delivers them after the commit, in commit order, and folds identical payloads of one
transaction (the rows of one statement), so a 20-slot availability rewrite is one or two
notifications.

:class:`PgChangeFeed` listens on its own psycopg connection and thread, maps each row change to
the :class:`WriteEvent` it stands for (:func:`row_event`) and hands it to the strategy's
handler. :meth:`PgChangeFeed.sync` sends a marker NOTIFY after everything committed so far and
waits until the listener has seen it (notifications arrive in commit order).

Triggers are installed idempotently (``CREATE OR REPLACE``) when the feed starts and removed
when it closes unless ``keep_triggers``; they cost every write in the database, so two feeds
must not share one database concurrently.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, text

from evalcache.strategies.api import ChangeHandler, WriteEvent

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
    'op', TG_OP,
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


def row_event(
    payload: dict[str, Any], expert_of_user: Callable[[Any], int | None]
) -> WriteEvent | None:
    """The write event a row change stands for (``None`` for tables nothing depends on).

    A row change does not say which columns changed (``columns`` stays unknown) nor what the
    application did: an appointments row stands for a status change (a reschedule and a
    cancellation have the same groups, their slots arrive as ``availability_slots`` rows), a
    payments row for a completion (a refund has the same groups)."""
    t, u, e = payload.get("t"), payload.get("u"), payload.get("e")
    if t == "users":  # a new user: a cached "not found" of it and the user count go stale
        if payload.get("op") == "INSERT":
            return WriteEvent("user_created", user_id=payload.get("id"))
        return WriteEvent("user_updated", user_id=payload.get("id"))
    if t in _DETAIL:
        detail = _DETAIL[str(t)]
        eid = expert_of_user(u) if detail == "profile" else None
        return WriteEvent("user_updated", user_id=u, expert_id=eid, detail=detail)
    if t == "experts":  # a fee, a verification flag, a review's rating: the same groups
        return WriteEvent("expert_updated", expert_id=payload.get("id"))
    if t == "reviews":
        return WriteEvent("review_added", expert_id=e)
    if t == "availability_slots":
        return WriteEvent("availability_updated", expert_id=e)
    if t == "appointments":
        return WriteEvent("appointment_status_changed", user_id=u, expert_id=e)
    if t == "payments":
        return WriteEvent("payment_completed", user_id=u, expert_id=e)
    return None


class PgChangeFeed:
    """Row changes of ``engine``'s database, delivered to ``handler`` on a listener thread.

    Raises
    ------
    RuntimeError: the listener did not start within 10 s.
    """

    def __init__(self, engine: Engine, handler: ChangeHandler, *, keep_triggers: bool = False):
        self.engine = engine
        self.handler = handler
        self.keep_triggers = keep_triggers
        self.notifications = 0
        self.errors = 0
        self._token = uuid.uuid4().hex[:12]
        self._cond = threading.Condition()
        self._sent = 0
        self._synced = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        install_triggers(engine)
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, args=(dsn,), name="evalcache-notify", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("notify listener did not start within 10 s")

    def _expert_of_user(self, user_id: Any) -> int | None:
        with self.engine.connect() as conn:
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
        if event is not None:
            self.handler(event, float(payload["ts"]))

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

    def sync(self, timeout: float) -> bool:
        """Wait until the listener processed every notification committed before this call."""
        if self._thread is None or not self._thread.is_alive():
            return False
        with self._cond:
            self._sent += 1
            n = self._sent
        with self.engine.connect() as conn:
            conn.execute(
                text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": f"sync:{self._token}:{n}"}
            )
            conn.commit()
        with self._cond:
            return self._cond.wait_for(lambda: self._synced >= n, timeout)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
            if not self.keep_triggers:
                remove_triggers(self.engine)
