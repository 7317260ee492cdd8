"""Workloads as data: YAML workload files, their round trip and their validation errors."""

from __future__ import annotations

import copy
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalcache.errors import ConfigError
from evalcache.runner.params import parse_params, validate_params
from evalcache.workload import WORKLOADS, WorkloadGenerator, WorkloadSpec, get_workload
from evalcache.workload.files import (
    dump_workload,
    is_workload_file,
    load_workload,
    read_workload_file,
    spec_fields,
    workload_from_mapping,
    workload_to_mapping,
)

from .test_spec_generator import POOLS

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD_FILES = sorted((ROOT / "workloads").glob("*.yaml"))


def test_mixed_as_yaml_is_the_python_spec_and_stream() -> None:
    from_file = load_workload(ROOT / "workloads" / "mixed.yaml")
    assert from_file == get_workload("mixed")
    digest = WorkloadGenerator(from_file, POOLS, seed=3, duration=600).digest()
    assert digest == WorkloadGenerator(get_workload("mixed"), POOLS, seed=3, duration=600).digest()


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_every_builtin_round_trips_through_yaml(name: str) -> None:
    spec = WORKLOADS[name]
    assert workload_from_mapping(yaml.safe_load(dump_workload(spec))) == spec


@pytest.mark.parametrize("path", WORKLOAD_FILES, ids=lambda p: p.name)
def test_shipped_workload_files_are_valid_and_round_trip(path: Path) -> None:
    spec = load_workload(path)
    assert spec.name == path.stem
    assert workload_from_mapping(workload_to_mapping(spec)) == spec
    validate_params({"workload": str(path), "concurrency": "overlap"})


def test_shipped_shapes_do_what_their_files_say() -> None:
    diurnal = load_workload(ROOT / "workloads" / "diurnal.yaml")
    assert diurnal.cycles[0].peak_s == 14 * 3600 and diurnal.cycles[0].period_s == 86_400
    assert diurnal.bursts[0].start_s == 19 * 3600
    launch = load_workload(ROOT / "workloads" / "launch.yaml")
    assert launch.mean_rate() == pytest.approx(200 * (0.55 * 20 + 20) / 40)
    closed = load_workload(ROOT / "workloads" / "closed-loop.yaml")
    assert (closed.clients, closed.think_time_s, closed.think) == (16, 0.05, "exponential")


def _mapping(**change: Any) -> dict[str, Any]:
    data = {
        "name": "t",
        "operations": {"read:user_profile": 9, "write:user_profile": 1},
        "write_ratio": 0.1,
        "popularity": {"users": {"kind": "zipf", "theta": 0.8}},
        "rate": 50,
        "duration_s": "2h",
        "bursts": [
            {"start_s": "10m", "duration_s": 60, "multiplier": 4},
            {"start_s": 1200, "duration_s": 60, "multiplier": 2, "focus_pool": "users"},
        ],
        "cycles": [{"amplitude": 0.5, "period_s": "1h", "peak_s": "30m"}],
        "ramps": [{"start_s": 0, "duration_s": "5m", "start_multiplier": 0.1}],
    }
    data.update(change)
    return data


def test_a_full_mapping_builds_the_spec() -> None:
    spec = workload_from_mapping(_mapping())
    assert spec.duration_s == 7200.0 and spec.bursts[0].start_s == 600.0
    assert spec.cycles[0].period_s == 3600.0 and spec.cycles[0].peak_s == 1800.0
    assert spec.ramps[0].end_multiplier == 1.0  # the default
    assert spec.popularity_of("users").theta == 0.8
    assert workload_from_mapping(workload_to_mapping(spec)) == spec


def _with(path: str, value: Any) -> dict[str, Any]:
    """The mapping with the field at ``path`` (``bursts.1.multiplier``) set (or removed)."""
    data = copy.deepcopy(_mapping())
    *parents, last = path.split(".")
    node: Any = data
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node[p]
    key: Any = int(last) if isinstance(node, list) else last
    if value is _REMOVE:
        del node[key]
    else:
        node[key] = value
    return data


_REMOVE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "accepted"),
    [
        ("bursts.1.multiplier", -2, "bursts[1].multiplier", "> 0"),
        ("bursts.0.start_s", "soon", "bursts[0].start_s", "'15m'"),
        ("bursts.0.multiplyer", 3, "bursts[0].multiplyer", "multiplier"),
        ("bursts.0.multiplier", _REMOVE, "bursts[0].multiplier", "required"),
        ("bursts.1.focus_pool", "doctors", "bursts[1].focus_pool", "experts"),
        ("bursts.1.focus_share", 2, "bursts[1].focus_share", "[0, 1]"),
        ("bursts", {"start_s": 1}, "bursts", "list"),
        ("cycles.0.amplitude", 1.5, "cycles[0].amplitude", "[0, 1]"),
        ("cycles.0.period_s", 0.1, "cycles[0].period_s", ">= 1"),
        ("ramps.0.duration_s", 0, "ramps[0].duration_s", "> 0"),
        ("ramps.0.start_multiplier", "low", "ramps[0].start_multiplier", "number"),
        ("popularity.users.theta", 20, "popularity['users'].theta", "[0, 10"),
        ("popularity.users.kind", "pareto", "popularity['users'].kind", "zipf"),
        ("popularity.doctors", {"kind": "zipf"}, "popularity['doctors']", "users"),
        ("operations.read:nope", 1, "operations['read:nope']", "read:user_profile"),
        ("operations.read:user_profile", 0, "operations['read:user_profile']", "> 0"),
        ("operations", _REMOVE, "operations", "required"),
        ("write_ratio", 1.5, "write_ratio", "[0, 1]"),
        ("rate", 0, "rate", "> 0"),
        ("duration_s", "forever", "duration_s", "'1h30m'"),
        ("batch_size", 2.5, "batch_size", "integer"),
        ("cold_start", "yes", "cold_start", "true or false"),
        ("name", "no spaces", "name", "[A-Za-z0-9_.-]"),
        ("clients", -1, "clients", "[1, 10000]"),
        ("think", "gamma", "think", "exponential"),
        ("nonsense", 1, "nonsense", "cycles"),
    ],
)
def test_each_problem_names_its_field_and_what_is_accepted(
    path: str, value: Any, field: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as info:
        workload_from_mapping(_with(path, value), source="x.yaml")
    assert info.value.name == field, str(info.value)
    assert accepted in str(info.value) and "x.yaml" in str(info.value)


def test_unknown_keys_list_every_accepted_one() -> None:
    with pytest.raises(ConfigError) as info:
        workload_from_mapping(_mapping(burts=[]))
    assert all(k in str(info.value) for k in (*spec_fields(), "ycsb"))


def test_clients_and_think_in_a_file() -> None:
    data = _mapping(clients=8, think_time_s="50ms", think="fixed")
    del data["bursts"], data["cycles"], data["ramps"]
    spec = workload_from_mapping(data)
    assert (spec.clients, spec.think_time_s, spec.think) == (8, 0.05, "fixed")
    with pytest.raises(ConfigError) as info:  # closed loops do not take arrival shapes
        workload_from_mapping(_mapping(clients=8))
    assert info.value.name == "clients"


def test_reading_a_file(tmp_path: Path) -> None:
    path = tmp_path / "evening.yml"
    path.write_text(yaml.safe_dump({k: v for k, v in _mapping().items() if k != "name"}))
    assert is_workload_file(str(path)) and not is_workload_file("mixed")
    assert read_workload_file(path)["name"] == "evening"  # the stem, when the file has none
    assert load_workload(path).name == "evening"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_workload(path)
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_workload(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_workload(tmp_path / "missing.yaml")


def test_ycsb_form_calls_the_ycsb_module_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[dict[str, Any], str]] = []

    def from_properties(props: dict[str, Any], name: str) -> WorkloadSpec:
        calls.append((props, name))
        return WorkloadSpec(name, {"read:user_profile": 1.0}, rate=float(props["target"]))

    fake = types.ModuleType("evalcache.workload.ycsb")
    fake.from_properties = from_properties  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "evalcache.workload.ycsb", fake)
    spec = workload_from_mapping({"name": "yc", "ycsb": {"target": 300}, "duration_s": "5m"})
    assert calls == [({"target": 300}, "yc")]
    assert (spec.name, spec.rate, spec.duration_s) == ("yc", 300.0, 300.0)  # fields beside win


def test_ycsb_form_without_the_module_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "evalcache.workload.ycsb", None)  # as if not there
    with pytest.raises(ConfigError) as info:
        workload_from_mapping({"name": "yc", "ycsb": {"operationcount": 10}})
    assert info.value.name == "ycsb" and "evalcache.workload.ycsb" in str(info.value)


def test_run_params_take_a_workload_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(_mapping(name="mine")))
    monkeypatch.chdir(tmp_path)  # a run's path is relative to where it starts
    params = validate_params({"workload": "mine.yaml", "rate": 80})
    assert params["workload"] == "mine" and params["rate"] == 80.0
    mine = workload_from_mapping(_mapping(name="mine"))
    assert params["workload_def"] == workload_to_mapping(mine)
    rp = parse_params(params)  # the normalised parameters are valid parameters
    assert rp.as_dict() == params and rp.spec().cycles[0].amplitude == 0.5
    with pytest.raises(ConfigError) as info:
        validate_params({"workload": "other", "workload_def": params["workload_def"]})
    assert info.value.name == "workload"
    with pytest.raises(ConfigError) as info:
        validate_params({"workload": _mapping(rate=-1)})  # a file's mapping, as a sweep passes
    assert info.value.name == "rate"
    with pytest.raises(ConfigError, match="workload file"):
        validate_params({"workload": "nope"})
    # a run without a file or clients states exactly the parameters it stated before them
    assert not {"workload_def", "clients", "think_time_s", "think"} & set(
        validate_params({"workload": "mixed"})
    )
