"""Commit-to-invalidation delays in overlap (``notify_lag``, ``invalidation_delay``).

A hot user's profile is read every millisecond of virtual time while its preferences are
rewritten 20 times a second (seeded Poisson arrivals: a fixed lag against periodic writes
would alias), through the real repository, strategy, Redis and PostgreSQL (the notify
strategy's notifications come from the database's triggers through LISTEN/NOTIFY). A hit that
differs from the database at the moment it is served is stale: the entry a write made stale
is served until its invalidation runs, so stale hits grow with the delay. Then whole runs, and
the parameters' checks.
"""

from __future__ import annotations

import random
import statistics
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, create_engine, text

from evalcache.cache import DatabaseCache
from evalcache.domain.repositories import CachedRepository
from evalcache.errors import ConfigError
from evalcache.runner import validate_params
from evalcache.runner.delays import Delay, parse_delay
from evalcache.runner.des import Simulation
from evalcache.runner.overlap import DeferredInvalidation, ServiceModel, SimHooks, SimQueuePool

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
START = AS_OF.timestamp() + 8 * 3600
DB_POOL = 4
WRITES_PER_S = 20.0
#: Seeded Poisson write times over the 2 virtual seconds (offsets from START).
WRITES: list[float] = []
_rng, _t = random.Random(5), 0.0
while (_t := _t + _rng.expovariate(WRITES_PER_S)) < 2.0:
    WRITES.append(_t)


@pytest.fixture(scope="module")
def db_url(scratch_databases: Any) -> Iterator[str]:
    with scratch_databases.create("lag", scale=0.02, seed=7, as_of=AS_OF) as url:
        yield url


def _hot_user(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT min(id) FROM users WHERE role = 'user'")).scalar_one())


def _run(db_url: str, redis_url: str, strategy: str, delay: Delay) -> dict[str, Any]:
    """Reads every 1 ms and :data:`WRITES` for 2 virtual seconds; the invalidation of
    each write runs ``delay`` after its commit (the runner's wiring: notify always deferred)."""
    sim = Simulation(start=START)
    hooks = SimHooks(sim, ServiceModel(redis_s=100e-6, db_s=2e-3, seed=1))
    app = create_engine(db_url, poolclass=SimQueuePool, pool_size=DB_POOL, max_overflow=-1)
    truth = create_engine(db_url)  # the oracle's engine: no hold points
    client = redis.Redis.from_url(redis_url)
    hooks.attach_redis(client)
    hooks.attach_engine(app, DB_POOL)
    ns = f"lag{uuid.uuid4().hex[:8]}"
    cache = DatabaseCache(client, namespace=ns, clock=sim.clock, default_ttl=3600)
    repo = CachedRepository(app, cache, strategy, clock=sim.clock)
    deferred = None
    if strategy == "notify" or not delay.zero:
        deferred = DeferredInvalidation(repo, sim, hooks, delay, seed=1)
    user = _hot_user(truth)
    out: dict[str, Any] = {"hits": 0, "stale_hits": 0, "outcomes": []}

    def reader() -> None:
        got = repo.read("user_profile", user)
        out["outcomes"].append(got.outcome)
        if got.outcome == "hit":
            out["hits"] += 1
            with truth.connect() as conn:
                if got.value != repo.fresh(conn, "user_profile", user):
                    out["stale_hits"] += 1

    def writer() -> None:
        with hooks.atomic():
            repo.write("user_profile", user, "preferences")

    try:
        for i in range(2000):
            sim.spawn(START + i / 1000, reader)
        for t in WRITES:
            sim.spawn(START + t, writer)
        sim.run()
        out["stats"] = repo.strategy.stats()
        out["applied_ms"] = list(deferred.applied_ms) if deferred is not None else []
    finally:
        repo.close()
        cache.flush_namespace()
        cache.close()
        client.close()
        app.dispose()
        truth.dispose()
    return out


@pytest.mark.postgres
@pytest.mark.redis
def test_notify_stale_reads_grow_with_the_lag(db_url: str, redis_url: str) -> None:
    runs = {ms: _run(db_url, redis_url, "notify", Delay(mean_ms=ms)) for ms in (0.0, 20.0, 200.0)}
    stale = {ms: r["stale_hits"] for ms, r in runs.items()}
    assert all(r["hits"] > 1000 for r in runs.values()), {ms: r["hits"] for ms, r in runs.items()}
    # lag 0: the writer applies its commit's notifications at the commit; nothing stale
    assert stale[0.0] == 0, stale
    # stale from a commit until its delivery: longer lags cover more of the time
    assert 0 < stale[20.0] < stale[200.0], stale
    assert stale[200.0] > 2 * stale[20.0], stale
    # the strategy's stats: virtual lags (commit to invalidation done) and the model stated
    for ms, r in runs.items():
        st = r["stats"]
        assert st["notifications"] > 0 and st["invalidations"] > 0
        lags = st["lag_ms"]
        assert lags and min(lags) >= ms - 1e-3, (ms, min(lags))  # clock seconds near 1.7e9
        assert statistics.median(lags) < ms + 5, (ms, statistics.median(lags))
        assert f"notify_lag fixed {ms:g} ms" in st["lag_model"]
    applied = runs[200.0]["applied_ms"]
    assert applied and all(a == pytest.approx(200.0, abs=1e-3) for a in applied)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("strategy", ["tags", "explicit"])
def test_invalidation_delay_leaves_stale_entries_that_none_does_not(
    db_url: str, redis_url: str, strategy: str
) -> None:
    inline = _run(db_url, redis_url, strategy, Delay())
    delayed = _run(db_url, redis_url, strategy, Delay("exponential", mean_ms=20.0))
    assert inline["hits"] > 1000 and delayed["hits"] > 1000
    stale = (inline["stale_hits"], delayed["stale_hits"])
    if strategy == "tags":  # lease fills: only the delay leaves stale entries
        assert stale[0] == 0, stale
    # explicit's plain fills may race two close writes (a few); the delay serves many
    assert stale[1] > stale[0] + 20, stale
    n = len(WRITES)
    assert inline["stats"]["invalidations"] == delayed["stats"]["invalidations"] == n
    assert len(delayed["applied_ms"]) == n and statistics.mean(delayed["applied_ms"]) > 5


@pytest.mark.postgres
@pytest.mark.redis
def test_same_seed_same_interleaving_with_a_lag(db_url: str, redis_url: str) -> None:
    lag = Delay("exponential", mean_ms=30.0)
    a = _run(db_url, redis_url, "notify", lag)
    b = _run(db_url, redis_url, "notify", lag)
    assert a["applied_ms"] == b["applied_ms"] and len(set(a["applied_ms"])) > 10
    assert a["outcomes"] == b["outcomes"] and a["stale_hits"] == b["stale_hits"] > 0


# -- whole runs ----------------------------------------------------------------------------

HOT_RUN = {
    "workload": "profile",
    "skew": 1.2,
    "write_ratio": 0.2,
    "rate": 50,
    "duration_s": 30,
    "concurrency": "overlap",
    "db_service_ms": 2.0,
    "stale_sample": 1.0,
    "baseline": False,
    "strategy": "notify",
    "seed": 2,
}


@pytest.mark.postgres
@pytest.mark.redis
def test_runs_with_a_notify_lag_are_reproducible_and_state_it(runner_settings: Any) -> None:
    from evalcache.runner import run

    lagged = {**HOT_RUN, "notify_lag": {"dist": "exponential", "mean_ms": 100}}
    a = run(lagged, settings=runner_settings, progress=False).summary
    b = run(lagged, settings=runner_settings, progress=False).summary
    ideal = run(HOT_RUN, settings=runner_settings, progress=False).summary
    assert a["outcome_digest"] == b["outcome_digest"]
    for key in ("hits", "misses", "stale_reads", "stale_checked", "db_statements"):
        assert a[key] == b[key], key
    assert ideal["stale_reads"] == 0 and a["stale_reads"] > 0
    # the oracle attributes them to the lag (tags fills are leases: no fill race)
    assert a["stale_causes"]["late_invalidation"] > 0
    assert sum(a["stale_causes"].values()) == a["stale_reads"]
    assert a["stale_causes"]["fill_race"] == 0
    assert a["params"]["notify_lag"] == {"dist": "exponential", "mean_ms": 100.0}
    assert ideal["params"]["notify_lag"] == 0.0
    assert "notify lag exponential, mean 100 ms" in a["time_model"]
    assert "invalidation at the commit" in ideal["time_model"]
    # virtual lags: spread around the mean, not the listener's wall-clock milliseconds
    assert 30 < a["notify_lag_p50_ms"] < 150 and a["notify_lag_p99_ms"] > 200
    assert ideal["notify_lag_p99_ms"] < 1.0


@pytest.mark.postgres
@pytest.mark.redis
def test_a_run_with_an_invalidation_delay_serves_stale_entries(runner_settings: Any) -> None:
    from evalcache.runner import run

    params = {**HOT_RUN, "strategy": "tags", "invalidation_delay": 100}
    s = run(params, settings=runner_settings, progress=False).summary
    assert s["stale_reads"] > 0 and s["invalidations"] > 0
    assert s["stale_causes"]["late_invalidation"] > 0
    assert sum(s["stale_causes"].values()) == s["stale_reads"]
    assert "invalidation delay fixed 100 ms" in s["time_model"]


# -- parameters ----------------------------------------------------------------------------

OVERLAP = {"concurrency": "overlap"}


@pytest.mark.parametrize(
    ("params", "name", "accepted"),
    [
        ({"notify_lag": -1}, "notify_lag", ">= 0"),
        ({"notify_lag": "soon"}, "notify_lag", "{dist: uniform, low_ms: a, high_ms: b}"),
        ({"notify_lag": True}, "notify_lag", "a number of milliseconds"),
        ({"notify_lag": 1e9}, "notify_lag", "<= 3600000"),
        ({"notify_lag": {"dist": "poisson"}}, "notify_lag.dist", "exponential, uniform"),
        ({"notify_lag": {"mean_ms": 5}}, "notify_lag.dist", "fixed"),
        ({"notify_lag": {"dist": "exponential"}}, "notify_lag.mean_ms", "needs mean_ms"),
        ({"notify_lag": {"dist": "exponential", "mean_ms": 0}}, "notify_lag.mean_ms", "> 0"),
        (
            {"notify_lag": {"dist": "uniform", "low_ms": 9, "high_ms": 1}},
            "notify_lag.high_ms",
            ">= low_ms",
        ),
        (
            {"notify_lag": {"dist": "fixed", "mean_ms": 1, "sigma": 1}},
            "notify_lag.sigma",
            "accepted: dist, mean_ms",
        ),
        (
            {"notify_lag": {"dist": "lognormal", "mean_ms": 5, "sigma": -1}},
            "notify_lag.sigma",
            "[0, 5]",
        ),
        ({"invalidation_delay": -0.5, "strategy": "tags"}, "invalidation_delay", ">= 0"),
    ],
)
def test_bad_delays_name_the_parameter(params: dict, name: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_params({**OVERLAP, "strategy": "notify", **params})
    assert info.value.name == name
    assert accepted in str(info.value)


@pytest.mark.parametrize(
    ("params", "name", "accepted"),
    [
        ({"strategy": "notify", "notify_lag": 50}, "notify_lag", "concurrency 'overlap'"),
        (
            {"strategy": "tags", "invalidation_delay": 5, "mode": "live"},
            "invalidation_delay",
            "concurrency 'overlap'",
        ),
        ({**OVERLAP, "strategy": "explicit", "notify_lag": 50}, "notify_lag", "'notify' only"),
        (
            {**OVERLAP, "strategy": "notify", "invalidation_delay": 5},
            "invalidation_delay",
            "or notify_lag",
        ),
    ],
)
def test_delays_apply_where_they_mean_something(params: dict, name: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_params(params)
    assert info.value.name == name
    assert accepted in str(info.value)


def test_delays_are_normalised() -> None:
    p = validate_params({**OVERLAP, "strategy": "notify", "notify_lag": 20})
    assert p["notify_lag"] == 20.0 and p["invalidation_delay"] == 0.0
    assert validate_params({})["notify_lag"] == 0.0  # serial runs: 0 is accepted
    fixed = {"dist": "fixed", "mean_ms": 7}
    assert (
        validate_params({**OVERLAP, "strategy": "tags", "invalidation_delay": fixed})[
            "invalidation_delay"
        ]
        == 7.0
    )
    lognormal = parse_delay("notify_lag", {"dist": "lognormal", "mean_ms": 10})
    assert lognormal.as_param() == {"dist": "lognormal", "mean_ms": 10.0, "sigma": 1.0}
    flat = parse_delay("notify_lag", {"dist": "uniform", "low_ms": 4, "high_ms": 4})
    assert flat.zero is False and flat.as_param() == 4.0


@pytest.mark.parametrize(
    "value",
    [
        {"dist": "exponential", "mean_ms": 40},
        {"dist": "uniform", "low_ms": 10, "high_ms": 70},
        {"dist": "lognormal", "mean_ms": 40, "sigma": 1.0},
    ],
)
def test_draws_are_seeded_and_have_the_stated_mean(value: dict) -> None:
    delay = parse_delay("notify_lag", value)
    a, b = delay.sampler((1, 101)), delay.sampler((1, 101))
    draws = [a() for _ in range(20000)]
    assert draws[:100] == [b() for _ in range(100)]
    assert min(draws) >= 0 and len(set(draws)) > 1000
    assert statistics.mean(draws) * 1000 == pytest.approx(40.0, rel=0.05)


def test_cli_checks_delays_before_anything_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evalcache.cli import main

    monkeypatch.setenv("EVALCACHE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    lag = "{dist: exponential, mean_ms: 50}"
    code = main(["run", "--strategy", "notify", "--notify-lag", lag, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "notify_lag" in err and "concurrency 'overlap'" in err
    code = main(["run", "--concurrency", "overlap", "--strategy", "tags",
                 "--invalidation-delay", "{dist: gamma}", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "invalidation_delay.dist" in err and "lognormal" in err
