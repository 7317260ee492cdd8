"""Run parameters: bad input fails before anything runs, naming what is accepted."""

from __future__ import annotations

import pytest

from evalcache.cli import main
from evalcache.errors import ConfigError
from evalcache.runner import PARAM_NAMES, run, validate_params
from evalcache.settings import Settings
from evalcache.workload import get_workload

# A server that cannot answer: if validation let anything through, the run would fail on it
# with a ServiceError instead of the ConfigError the tests expect.
UNREACHABLE = Settings(
    database_url="postgresql://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0"
)


@pytest.mark.parametrize(
    ("params", "name", "accepted"),
    [
        ({"workload": "nope"}, "workload", "mixed"),
        ({"strategy": "nope"}, "strategy", "tags"),
        ({"ttl_scale": 0}, "ttl_scale", "> 0"),
        ({"ttl_scale": -1.0}, "ttl_scale", "> 0"),
        ({"duration_s": "an hour"}, "duration_s", "1h30m"),
        ({"stale_sample": 1.5}, "stale_sample", "<= 1"),
        ({"stale_sample": -0.1}, "stale_sample", ">= 0"),
        ({"mode": "fast"}, "mode", "virtual, live"),
        ({"refresh": "always"}, "refresh", "threshold"),
        ({"stampede": "x"}, "stampede", "lease"),
        ({"colour": "red"}, "colour", "workload"),
        ({"seed": -1}, "seed", ">= 0"),
        ({"scale": 0}, "scale", "> 0"),
        ({"ttl": {"user_profile": -5}}, "ttl['user_profile']", "> 0"),
        ({"ttl": {"nope": 5}}, "ttl['nope']", "user_profile"),
        ({"rate": 0}, "rate", "> 0"),
        ({"warmup_s": 100, "duration_s": 60}, "warmup_s", "shorter"),
        # a flash crowd whose burst (600-900 s) the measured window would miss
        ({"workload": "flash_crowd", "duration_s": 600}, "duration_s", "beyond 600 s"),
        ({"workload": "flash_crowd", "warmup_s": 900}, "warmup_s", "before 900 s"),
        ({"baseline": "yes"}, "baseline", "true or false"),
        ({"fresh_baseline": 1}, "fresh_baseline", "true or false"),
        # nothing to measure anew: no baseline, or a cache-off run (which has none)
        ({"fresh_baseline": True, "baseline": False}, "fresh_baseline", "baseline is false"),
        ({"fresh_baseline": True, "cache": False}, "fresh_baseline", "cache and baseline true"),
        ({"workload": "synthetic", "write_ratio": 1.5}, "write_ratio", "<= 1"),
    ],
)
def test_bad_params_name_the_parameter(params: dict, name: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_params(params)
    assert info.value.name == name
    assert accepted in str(info.value)


def test_run_rejects_bad_params_before_touching_servers() -> None:
    with pytest.raises(ConfigError, match="strategy"):
        run({"strategy": "nope"}, settings=UNREACHABLE, progress=False)


def test_normalised_params_state_effective_values() -> None:
    p = validate_params(
        {"workload": "profile", "duration_s": "1h30m", "seed": 3, "rate": None, "stale_sample": 0}
    )
    assert p["duration_s"] == 5400.0
    assert p["rate"] == get_workload("profile").rate  # the workload's own rate filled in
    assert p["seed"] == 3 and p["stale_sample"] == 0.0
    assert p["cache"] is True and p["mode"] == "virtual" and p["strategy"] == "tags"
    # the names the notebooks pass are all accepted
    for name in ("workload", "strategy", "ttl_scale", "mode", "duration_s", "seed", "scale",
                 "stale_sample", "refresh", "stampede", "rate"):  # fmt: skip
        assert name in PARAM_NAMES


def test_cli_errors_before_anything_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALCACHE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code = main(["run", "--workload", "mixed", "--duration", "soon", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "duration_s" in err and "'90s'" in err
    code = main(["run", "--strategy", "magic", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "strategy" in err and "explicit" in err
    code = main(["run", "--fresh-baseline", "--no-baseline", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "fresh_baseline" in err and "baseline is false" in err


@pytest.mark.parametrize(
    ("params", "warmup"),
    [
        ({"workload": "mixed", "duration_s": 600}, 150.0),  # a quarter: measured warm
        ({"workload": "cold_start", "duration_s": 600}, 0.0),  # the empty cache is the point
        ({"workload": "flash_crowd", "duration_s": 14400}, 300.0),  # before the 600 s burst
        ({"workload": "mixed", "duration_s": 600, "warmup_s": 10}, 10.0),
    ],
)
def test_default_warmup_measures_a_warm_cache_except_for_cold_start(
    params: dict, warmup: float
) -> None:
    from evalcache.runner.core import run_warmup
    from evalcache.runner.params import parse_params

    assert run_warmup(parse_params(params)) == warmup


def test_fresh_baseline_is_a_cache_only_param() -> None:
    from evalcache.runner.baseline import CACHE_ONLY_PARAMS

    assert validate_params({})["fresh_baseline"] is False
    assert validate_params({"fresh_baseline": True})["fresh_baseline"] is True
    # a cell that asks for a fresh baseline measures the same stream as one that does not
    assert "fresh_baseline" in CACHE_ONLY_PARAMS


def test_a_refresh_the_strategy_never_runs_is_refused() -> None:
    # plain fills (the plan's GET-then-SET) have no refresh ahead; the plan's optimizer (seed)
    # refreshes at a threshold, never by XFetch: a run asking otherwise would not refresh
    for strategy, refresh in (
        ("explicit", "threshold"),
        ("explicit", "xfetch"),
        ("seed", "xfetch"),
    ):
        with pytest.raises(ConfigError, match=rf"refresh: '{refresh}' never runs with strategy"):
            validate_params({"strategy": strategy, "refresh": refresh})
    assert validate_params({"strategy": "seed", "refresh": "threshold"})["refresh"] == "threshold"
    assert validate_params({"strategy": "tags", "refresh": "xfetch"})["refresh"] == "xfetch"
    assert validate_params({"strategy": "explicit", "refresh": "xfetch", "cache": False})
