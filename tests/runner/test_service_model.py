"""The service-time model: per-family means, real service times beside virtual ones, and
``evalcache calibrate`` turning a run's real times into a model file that a later run uses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from evalcache.errors import ConfigError
from evalcache.runner import validate_params
from evalcache.runner.calibrate import calibrate
from evalcache.runner.overlap import ServiceModel

RUN = {
    "workload": "profile",
    "strategy": "explicit",
    "duration_s": 60,
    "rate": 20,
    "seed": 5,
    "stale_sample": 0.0,
    "concurrency": "overlap",
    "baseline": False,
}


def test_a_family_mean_replaces_the_statement_mean_for_that_family_only() -> None:
    model = ServiceModel(db_s=0.0005, families={"user_profile": 0.02})
    assert model.db_mean("user_profile") == 0.02
    assert model.db_mean("expert_full") == 0.0005
    assert model.db_mean(None) == 0.0005
    with pytest.raises(ConfigError, match=r"service_model\.families\.user_profile"):
        ServiceModel(families={"user_profile": -1.0})


def test_a_command_mean_replaces_the_round_trip_mean_for_that_command_only() -> None:
    model = ServiceModel(redis_s=0.0001, redis_ops={"GET": 0.002, "PIPELINE": 0.003})
    assert model.redis_mean("GET") == 0.002 and model.redis_mean("PIPELINE") == 0.003
    assert model.redis_mean("SET") == 0.0001
    with pytest.raises(ConfigError, match=r"service_model\.redis_ops\.GET"):
        ServiceModel(redis_ops={"GET": -1.0})


def test_service_model_parameter_is_checked_and_normalised(tmp_path: Path) -> None:
    base = {"concurrency": "overlap"}
    p = validate_params({**base, "service_model": {"db_ms": 2, "families": {"user_profile": 3}}})
    assert p["db_service_ms"] == 2.0
    assert p["service_model"] == {"families": {"user_profile": 3.0}}
    assert validate_params(p) == p  # the normalised form validates to itself
    f = tmp_path / "model.json"
    f.write_text(json.dumps({"redis_ms": 0.2, "sigma": 0, "families": {"write:add_review": 1}}))
    p = validate_params({**base, "service_model": str(f)})
    assert p["redis_service_ms"] == 0.2
    assert p["service_model"] == {"sigma": 0.0, "families": {"write:add_review": 1.0}}
    p = validate_params({**base, "service_model": {"redis_ops": {"get": 0.5, "PIPELINE": 1}}})
    assert p["service_model"]["redis_ops"] == {"GET": 0.5, "PIPELINE": 1.0}  # upper case
    assert validate_params(p) == p
    bad: list[tuple[Any, str]] = [
        ({"families": {"user_profiles": 1}}, r"\['user_profiles'\].*accepted: .*user_profile"),
        ({"families": {"user_profile": -1}}, r"families\['user_profile'\].*>= 0"),
        ({"speed": 1}, r"service_model\.speed.*accepted: db_ms, redis_ms, sigma, families"),
        ({"redis_ops": {"G ET": 1}}, r"redis_ops\['G ET'\].*accepted: GET, SET"),
        ({"redis_ops": {"get": -1}}, r"redis_ops\['get'\].*>= 0"),
        ({"redis_ops": [1]}, r"redis_ops.*must be a mapping"),
        ("/nonexistent/model.json", r"cannot read"),
        (3, r"must be a mapping"),
    ]
    for value, message in bad:
        with pytest.raises(ConfigError, match=message):
            validate_params({**base, "service_model": value})
    with pytest.raises(ConfigError, match=r"db_service_ms.*contradicts service_model\.db_ms"):
        validate_params({**base, "db_service_ms": 1, "service_model": {"db_ms": 2}})
    with pytest.raises(ConfigError, match="concurrency 'overlap' only"):
        validate_params({"service_model": {"db_ms": 2}})


@pytest.mark.postgres
@pytest.mark.redis
def test_calibrated_model_drives_virtual_time_and_real_times_are_reported(
    runner_settings: Any, tmp_path: Path
) -> None:
    from evalcache.runner import run

    # A cache-off run measures every family's statements on the real server.
    off = run({**RUN, "cache": False}, settings=runner_settings, out=tmp_path, progress=False)
    s = off.summary
    times = s["service_times"]
    assert times["model"] == {
        "redis_ms": 0.1,
        "db_ms": 0.5,
        "sigma": 0.25,
        "families": {},
        "redis_ops": {},
    }
    assert times["redis_ops"] == {}  # cache off: no Redis call
    real = times["real"]
    # every statement of the measured window is timed once, under the family it served
    assert real["all"]["db"]["count"] == s["db_statements"] > 0
    assert (
        sum(k["db"]["count"] for lbl, k in real.items() if lbl != "all" and "db" in k)
        == (s["db_statements"])
    )
    assert real["user_profile"]["db"]["count"] > 0 and real["user_profile"]["db"]["mean_ms"] > 0
    assert real["all"]["redis"]["count"] == 0  # cache off: no Redis call
    assert off.folder is not None

    model = calibrate(off.folder)
    assert model["db_ms"] == pytest.approx(real["all"]["db"]["mean_ms"], abs=1e-3)
    assert "redis_ms" not in model
    assert model["families"]["user_profile"] == pytest.approx(
        real["user_profile"]["db"]["mean_ms"], abs=1e-3
    )
    # Exaggerate one family so its effect on virtual latency is unmistakable.
    model["families"]["user_profile"] = 40.0
    model["sigma"] = 0
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    slow = run({**RUN, "service_model": str(path)}, settings=runner_settings, progress=False)
    t = slow.summary
    assert t["service_times"]["model"]["families"]["user_profile"] == 40.0
    assert "user_profile 40 ms" in t["time_model"]
    lat = slow.latency.set_index(["family", "outcome"])
    miss = lat.loc[("user_profile", "miss")]
    assert miss["count"] > 0 and miss["p50_ms"] >= 40.0  # a profile load: >= 1 statement
    others = lat.xs("miss", level="outcome").drop(index="user_profile")
    assert len(others) and (others["p50_ms"] < 20.0).all()  # other families keep 0.5 ms
    default = run(RUN, settings=runner_settings, out=tmp_path / "cached", progress=False)
    base = default.latency.set_index(["family", "outcome"])
    assert base.loc[("user_profile", "miss"), "p50_ms"] < 10.0
    dt = default.summary["service_times"]
    assert dt["real"]["all"]["redis"]["count"] > 0  # Redis timed
    # ... and the same round trips per command: the counts add up, a lookup is a GET
    assert (
        sum(op["count"] for op in dt["redis_ops"].values()) == dt["real"]["all"]["redis"]["count"]
    )
    assert dt["redis_ops"]["GET"]["count"] > 0
    assert default.folder is not None
    cached_model = calibrate(default.folder)
    assert cached_model["redis_ops"]["GET"] == pytest.approx(
        dt["redis_ops"]["GET"]["mean_ms"], abs=1e-3
    )
    # A slow GET (every lookup) slows every hit and miss; only misses pay the load.
    slow_get = run(
        {**RUN, "service_model": {"sigma": 0, "redis_ops": {"GET": 30}}},
        settings=runner_settings,
        progress=False,
    )
    assert "per command of GET 30 ms" in slow_get.summary["time_model"]
    lat = slow_get.latency.set_index(["family", "outcome"])
    hit = lat.loc[("user_profile", "hit")]
    assert hit["count"] > 0 and 30.0 <= hit["p50_ms"] < 35.0  # one GET round trip
    assert base.loc[("user_profile", "hit"), "p50_ms"] < 5.0  # 0.1 ms by default


def test_calibrate_refuses_a_run_without_service_times(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"service_times": None}))
    with pytest.raises(ConfigError, match=r"no measured service times.*overlap"):
        calibrate(tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        calibrate(tmp_path / "missing")


def _summary_file(
    folder: Path, real: dict[str, Any], redis_ops: dict[str, Any], *, cache: bool
) -> Path:
    folder.mkdir()
    times = {"model": {}, "real": real, "redis_ops": redis_ops}
    summary = {"params": {"cache": cache}, "service_times": times}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _st(count: int, mean_ms: float | None) -> dict[str, Any]:
    return {"count": count, "mean_ms": mean_ms, "p50_ms": mean_ms, "p99_ms": mean_ms}


def test_calibrate_pools_cache_off_runs_for_the_database_and_cached_runs_for_redis(
    tmp_path: Path,
) -> None:
    from evalcache.runner.calibrate import calibrate_cli

    def off(name: str, ms: float) -> Path:
        real = {
            "all": {"db": _st(40, ms), "redis": _st(0, None)},
            "user_profile": {"db": _st(30, ms)},
            "dashboard_admin": {"db": _st(10, ms)},
        }
        return _summary_file(tmp_path / name, real, {}, cache=False)

    off1, off2 = off("off1", 2.0), off("off2", 3.0)
    cached_real = {
        "all": {"db": _st(10, 9.0), "redis": _st(50, 0.2)},
        "dashboard_admin": {"db": _st(30, 9.0)},
    }
    ops = {"GET": _st(40, 0.15), "EVALSHA": _st(10, 0.4)}
    cached = _summary_file(tmp_path / "cached", cached_real, ops, cache=True)
    # alone, a cache-off run has no Redis mean and too few dashboard statements
    assert calibrate(off1) == {"db_ms": 2.0, "families": {"user_profile": 2.0}}
    model = calibrate(off1, cached / "summary.json", off2, min_statements=20)
    assert model == {
        "db_ms": 2.5,  # the cache-off runs' 80 statements; the cached run's misses left out
        "redis_ms": 0.2,
        "families": {"dashboard_admin": 2.5, "user_profile": 2.5},  # 10 + 10 pooled
        "redis_ops": {"GET": 0.15},  # EVALSHA: 10 calls only
    }
    assert calibrate(cached, off2, off1, min_statements=20) == model  # the order does not matter
    # cached runs alone: their statements are all there is
    assert calibrate(cached, min_statements=20)["families"] == {"dashboard_admin": 9.0}
    assert validate_params({"concurrency": "overlap", "service_model": model})
    out = tmp_path / "model.json"
    args = argparse.Namespace(
        run=[str(off1), str(cached), str(off2)], out=str(out), min_statements=20
    )
    assert calibrate_cli(args) == 0
    assert json.loads(out.read_text()) == model
    empty = _summary_file(tmp_path / "empty", {"all": {"db": _st(0, None)}}, {}, cache=False)
    with pytest.raises(ConfigError, match="measured no SQL statement"):
        calibrate(empty)
    serial = tmp_path / "serial.json"
    serial.write_text(json.dumps({"service_times": None}))
    with pytest.raises(ConfigError, match=r"serial\.json' has no measured service times"):
        calibrate(off1, serial)  # one source without service times is refused
