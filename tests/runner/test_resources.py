"""``execute`` closes every resource it opened, even when one of the closes raises.

The closers are wrapped to count their calls (and to make one of them raise); the closing is
not a measured path, the run itself is real (PostgreSQL copy, Redis namespace, engines).
"""

from __future__ import annotations

import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from evalcache.cache import DatabaseCache
from evalcache.domain.repositories import CachedRepository
from evalcache.metrics import ServerStatsProbe, StatementCounter
from evalcache.runner import execute, parse_params
from evalcache.runner.oracle import StalenessOracle
from evalcache.settings import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: name -> (class, method) of everything ``execute`` closes.
CLOSERS: dict[str, tuple[type, str]] = {
    "counter": (StatementCounter, "close"),
    "oracle": (StalenessOracle, "close"),
    "repository": (CachedRepository, "close"),
    "cache_flush": (DatabaseCache, "flush_namespace"),
    "cache": (DatabaseCache, "close"),
    "redis_client": (redis.Redis, "close"),
    "redis_pool": (redis.ConnectionPool, "disconnect"),
    "probe": (ServerStatsProbe, "close"),
    "engine": (Engine, "dispose"),
}


class CloseFailed(RuntimeError):
    pass


class Closes:
    """How often each closer ran on objects born during the run.

    Objects made before the run (other tests' clients, collected meanwhile) are not counted,
    and redis-py's close on ``__del__`` is off meanwhile (when it runs depends on the collector).
    """

    def __init__(self, failing: str | None) -> None:
        self.failing = failing
        self._born: dict[int, weakref.ref[object]] = {}
        self._closed: list[str] = []

    def install(self, mp: pytest.MonkeyPatch) -> None:
        for cls in {cls for cls, _ in CLOSERS.values()}:
            mp.setattr(cls, "__init__", self._init(cls.__dict__["__init__"]))
        for name, (cls, attr) in CLOSERS.items():
            mp.setattr(cls, attr, self._closer(name, getattr(cls, attr)))
        mp.setattr(redis.Redis, "__del__", lambda obj: None)

    def _init(self, original: Callable[..., None]) -> Callable[..., None]:
        def init(obj: object, *args: Any, **kwargs: Any) -> None:
            original(obj, *args, **kwargs)
            self._born[id(obj)] = weakref.ref(obj)

        return init

    def _closer(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def closer(obj: object, *args: Any, **kwargs: Any) -> Any:
            ref = self._born.get(id(obj))
            if ref is not None and ref() is obj:
                self._closed.append(name)
            if name == self.failing:
                raise CloseFailed(name)
            return original(obj, *args, **kwargs)

        return closer

    def counts(self) -> Counter[str]:
        return Counter(self._closed)


def _execute(urls: tuple[str, str], failing: str | None) -> tuple[Counter[str], str]:
    """One short cached run; returns the closers' call counts and the run's key prefix."""
    prefix = f"rt{uuid.uuid4().hex[:8]}"
    rp = parse_params(
        {
            "workload": "mixed",
            "strategy": "tags",
            "scale": 0.02,
            "duration_s": 20,
            "rate": 20.0,
            "stale_sample": 0.5,
            "namespace": prefix,
        }
    )
    closes = Closes(failing)
    with pytest.MonkeyPatch.context() as mp:
        closes.install(mp)
        if failing is None:
            execute(rp, *urls, cache_on=True)
        else:
            with pytest.raises(CloseFailed, match=failing):
                execute(rp, *urls, cache_on=True)
    return closes.counts(), prefix


def _copies(template_url: str) -> set[str]:
    """The databases named like copies of the template (``database_copy``'s names)."""
    template = str(make_url(template_url).database)
    admin = make_url(template_url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False)) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (template[:30],)
        ).fetchall()
    return {str(r[0]) for r in rows} - {template}


@pytest.fixture(scope="module")
def urls(runner_settings: Settings) -> tuple[str, str]:
    """The template database's URL and the Redis URL."""
    assert runner_settings.database_url and runner_settings.redis_url
    return runner_settings.database_url, runner_settings.redis_url


@pytest.fixture(scope="module")
def closes_of_a_clean_run(urls: tuple[str, str]) -> Counter[str]:
    calls, _ = _execute(urls, None)
    assert set(calls) == set(CLOSERS), "every closer must be exercised"
    return calls


@pytest.fixture
def redis_client(urls: tuple[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(urls[1])
    yield client
    client.close()


@pytest.mark.parametrize("failing", ["counter", "repository", "cache_flush", "probe"])
def test_a_failing_close_leaves_no_other_resource_open(
    urls: tuple[str, str],
    closes_of_a_clean_run: Counter[str],
    redis_client: redis.Redis,
    failing: str,
) -> None:
    before = _copies(urls[0])
    calls, prefix = _execute(urls, failing)
    try:
        # every other resource was closed as often as in a run where no close fails
        assert calls == closes_of_a_clean_run
        assert _copies(urls[0]) == before  # the copy was dropped
        left = list(redis_client.scan_iter(match=f"{prefix}-*"))
        if failing == "cache_flush":
            assert left  # the flush really did not happen: the check below can fail
        else:
            assert left == []  # the namespace was flushed
    finally:
        for key in redis_client.scan_iter(match=f"{prefix}-*"):
            redis_client.unlink(key)
