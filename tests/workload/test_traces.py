"""Trace files without servers: the Parquet round trip, exports, log import errors, the fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from evalcache.errors import ConfigError
from evalcache.workload import (
    OPERATIONS,
    PopularitySpec,
    WorkloadGenerator,
    WorkloadSpec,
    get_workload,
)
from evalcache.workload.export import LIBCACHESIM_PARAMS, export_trace, obj_id
from evalcache.workload.fit import fit_trace, generated_trace, zipf_mle
from evalcache.workload.logimport import import_log
from evalcache.workload.trace import (
    OUTCOMES,
    SCHEMA,
    Trace,
    TraceMeta,
    TraceSource,
    read_trace,
    trace_spec,
    write_trace,
)


def _hand_trace() -> Trace:
    """Five requests with known outcomes: miss, hit, a write invalidating, a miss, a batch."""
    names = (
        "read:expert_full",
        "read:user_profile",
        "read:user_profiles_batch",
        "write:user_profile",
    )
    rows = [  # t, op, args (ids, then detail index), outcome
        (0.5, 1, [7, -1], "miss"),
        (1.0, 1, [7, -1], "hit"),
        (2.0, 3, [7, 1], "write"),  # detail 1: preferences
        (3.0, 0, [3, -1], "miss"),
        (4.0, 2, [7, 8], "miss"),
    ]
    meta = TraceMeta(
        source="run",
        duration_s=5.0,
        batch_size=2,
        specializations=("Cardiology",),
        ttl={"user_profile": 3600.0, "expert_full": 300.0},
        value_bytes={"user_profile": 650.0},
        origin=1.7e9,
        admin_id=1,
    )
    n = len(rows)
    return Trace(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows], dtype=np.int16),
        np.array([r[2] for r in rows], dtype=np.int64),
        names,
        meta,
        np.array([OUTCOMES.index(r[3]) for r in rows], dtype=np.int8),
        np.full(n, -1, dtype=np.int8),
        [None, None, ["user:7"], None, None],
    )


def test_parquet_round_trip_keeps_rows_and_metadata(tmp_path: Path) -> None:
    path = write_trace(_hand_trace(), tmp_path / "t.parquet")
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(SCHEMA)
    assert table.column("ids").to_pylist() == [[7], [7], [7], [3], [7, 8]]
    assert table.column("detail").to_pylist() == [None, None, "preferences", None, None]
    assert table.column("family").to_pylist()[:2] == ["user_profile", "user_profile"]
    back = read_trace(path)
    assert back.op_names == _hand_trace().op_names and back.meta == _hand_trace().meta
    assert np.array_equal(back.args, _hand_trace().args)
    assert [OUTCOMES[c] for c in back.outcome] == ["miss", "hit", "write", "miss", "miss"]
    assert back.invalidates == [None, None, ["user:7"], None, None]
    spec = trace_spec("trace:x", trace=back)
    assert spec.rate == 1.0 and spec.write_ratio == pytest.approx(0.2) and spec.batch_size == 2


def test_a_trace_source_replays_a_generated_stream_exactly(tmp_path: Path) -> None:
    pools = {
        "users": np.arange(100, 150),
        "experts": np.arange(1, 20),
        "open_appointments": np.arange(1, 60),
        "pending_payments": np.arange(1, 30),
        "succeeded_payments": np.arange(40, 10, -1),
        "specializations": np.arange(5),
    }
    spec = get_workload("mixed", rate=20, duration=60)
    gen = WorkloadGenerator(spec, pools, seed=3)
    batches = list(gen.batches())
    meta = TraceMeta(
        source="run", duration_s=60.0, batch_size=spec.batch_size, specializations=tuple("abcde")
    )
    none = np.full(sum(len(b) for b in batches), -1, np.int8)
    tr = Trace(
        np.concatenate([b.t for b in batches]),
        np.concatenate([b.op for b in batches]),
        np.concatenate([b.args for b in batches]),
        gen.op_names,
        meta,
        none,
        none,
    )
    back = read_trace(write_trace(tr, tmp_path / "g.parquet"))
    # the database lists the specializations in another order: ids are re-indexed by name
    source = TraceSource(trace_spec("trace:g", trace=back), pools, list("edcba"), trace=back)
    want = [(r.t, r.op, r.args) for r in gen]
    got = [(r.t, r.op, r.args) for r in source]
    flip = {"read:experts_by_spec"}
    assert [w for w in want if w[1] not in flip] == [g for g in got if g[1] not in flip]
    specs = [(w[2][0], g[2][0]) for w, g in zip(want, got, strict=True) if w[1] in flip]
    assert specs and all(g == 4 - w for w, g in specs)
    bad = {**pools, "users": np.arange(120, 150)}  # ids 100..119 no longer exist
    with pytest.raises(ConfigError, match=r"trace row \d+: ids.*not in pool 'users'"):
        TraceSource(trace_spec("trace:g", trace=back), bad, list("abcde"), trace=back)


def test_twitter_export_maps_reads_misses_and_writes(tmp_path: Path) -> None:
    out = tmp_path / "tw.csv"
    stats = export_trace(_hand_trace(), "twitter", out)
    rows = [line.split(",") for line in out.read_text().splitlines()]
    # client id: the operation (the application's endpoint), numbered in registry order
    read, write, full = (
        str(list(OPERATIONS).index(o) + 1)
        for o in ("read:user_profile", "write:user_profile", "read:expert_full")
    )
    assert rows[:4] == [
        ["0", "user_profile:7", "14", "650", read, "get", "0"],
        ["0", "user_profile:7", "14", "650", read, "set", "3600"],  # a miss loads and sets
        ["1", "user_profile:7", "14", "650", read, "get", "0"],  # a hit only gets
        ["2", "user_profile:7", "14", "0", write, "delete", "0"],  # the write invalidates it
    ]
    assert rows[4:6] == [
        ["3", "expert_profile:3:full", "21", "4470", full, "get", "0"],  # size: the estimate
        ["3", "expert_profile:3:full", "21", "4470", full, "set", "300"],
    ]
    # a batch that missed: each id gets; the deleted and the never-set entries are set again
    assert [r[1] + " " + r[5] for r in rows[6:]] == [
        "user_profile:7 get",
        "user_profile:7 set",
        "user_profile:8 get",
        "user_profile:8 set",
    ]
    assert stats.ops == {"get": 5, "set": 4, "delete": 1}


def test_libcachesim_export_has_one_get_per_entry_read(tmp_path: Path) -> None:
    out = tmp_path / "lcs.csv"
    stats = export_trace(_hand_trace(), "libcachesim", out)
    lines = out.read_text().splitlines()
    assert lines[0] == "time,obj_id,obj_size,ttl"
    assert lines[1] == f"0.500000,{obj_id('user_profile:7')},{14 + 650},3600"
    assert lines[3] == f"3.000000,{obj_id('expert_profile:3:full')},{21 + 4470},300"
    assert len(lines) == 1 + 5 and stats.ops == {"get": 5}  # the write is left out
    assert "obj-id-is-num=true" in LIBCACHESIM_PARAMS and 0 < obj_id("x") < 2**63


LOG_HEADER = "time,op,family,ids,detail\n"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("0.1,read,user_profile,12,\n0.0,read,user_profile,12,\n", "line 3: time"),
        ("abc,read,user_profile,12,\n", "line 2: time"),
        ("0.1,read,user_profile,12,\n0.2,peek,user_profile,12,\n", "line 3: op"),
        ("0.1,read,user_profil,12,\n", "line 2: family"),
        ("0.1,write,create_appointment,12,\n", "line 2: ids"),
        ("0.1,read,user_profile,12x,\n", "line 2: ids"),
        ("0.1,write,user_profile,12,colour\n", "line 2: detail"),
        ("0.1,read,user_profiles_batch,1 2 3,\n0.2,read,user_profiles_batch,1 2,\n", "line 3: ids"),
        ("0.1,read,user_profile,12\n", "line 2"),
    ],
)
def test_import_errors_name_the_line_and_field(tmp_path: Path, body: str, where: str) -> None:
    log = tmp_path / "app.csv"
    log.write_text(LOG_HEADER + body)
    with pytest.raises(ConfigError) as err:
        import_log(log)
    assert f"{log} {where}" in str(err.value)


def test_import_builds_a_trace_from_a_log(tmp_path: Path) -> None:
    log = tmp_path / "app.csv"
    log.write_text(
        "time,family,op,ids,detail\n"  # any column order
        "1000.0,user_profile,read,12,\n"
        "1000.5,experts_by_spec,read,Cardiology,\n"
        "1001.0,user_profile,write,12,preferences\n"
        "1002.0,dashboard_admin,read,,\n"
    )
    tr = read_trace(write_trace(import_log(log), tmp_path / "t.parquet"))
    assert tr.t.tolist() == [0.0, 0.5, 1.0, 2.0] and tr.meta.duration_s == pytest.approx(2 + 2 / 3)
    assert tr.meta.source == "import" and tr.meta.specializations == ("Cardiology",)
    assert [tr.op_names[o] for o in tr.op] == [
        "read:user_profile",
        "read:experts_by_spec",
        "write:user_profile",
        "read:dashboard_admin",
    ]
    assert tr.where(2) == f"{log} line 4"


THETAS = {"read:user_profile": 0.8, "read:expert_basic": 1.1}


def test_fit_recovers_the_exponents_and_the_ttl_hit_rate() -> None:
    spec = WorkloadSpec(
        "gen",
        {"read:user_profile": 3, "read:expert_basic": 2, "write:user_profile": 1},
        write_ratio=0.05,
        rate=20.0,
        duration_s=1800.0,
        op_popularity={op: PopularitySpec("zipf", th) for op, th in THETAS.items()},
    )
    sizes = {"users": 1000, "experts": 300}
    trace = generated_trace(
        spec, sizes, TraceMeta(source="run", duration_s=1800.0, pool_sizes=sizes), seed=11
    )
    fit = fit_trace(trace, check_scales=(0.01, 0.05, 0.3))
    for op, theta in THETAS.items():
        assert fit.ops[op].theta == pytest.approx(theta, abs=0.05), op
    assert fit.key_space_from == "database pools" and fit.burst.poisson
    assert fit.spec.rate == pytest.approx(len(trace) / 1800.0)
    assert fit.spec.write_ratio == pytest.approx(fit.ops["write:user_profile"].count / len(trace))
    # the check spans the range where TTLs matter, and agrees within 1 pp there
    rates = [c["trace"] for c in fit.check]
    assert rates[0] < 0.7 and rates[-1] > 0.9
    assert all(c["error_pp"] is not None and c["error_pp"] < 1.0 for c in fit.check)
    fields = fit.spec_fields()
    assert fields["op_popularity"]["read:expert_basic"]["kind"] == "zipf"
    pops = {op: PopularitySpec(**p) for op, p in fields["op_popularity"].items()}
    again = WorkloadSpec(**{**fields, "op_popularity": pops})  # the fields make a spec
    assert again.rate == pytest.approx(fit.spec.rate) and again.op_popularity == pops


def test_the_mle_ranks_by_counts_and_the_bursty_is_not_poisson() -> None:
    assert zipf_mle(np.array([10.0, 10.0, 10.0]), 3) == 0.0  # uniform
    assert zipf_mle(np.array([1.0, 100.0, 0.0]), 3) > 2  # ranked by count
    crowd = get_workload("flash_crowd", duration=1200)
    pools = {"users": np.arange(200), "experts": np.arange(60), "specializations": np.arange(8)}
    gen = WorkloadGenerator(crowd, pools, seed=2)
    bs = list(gen.batches())
    none = np.full(sum(len(b) for b in bs), -1, np.int8)
    tr = Trace(
        np.concatenate([b.t for b in bs]),
        np.concatenate([b.op for b in bs]),
        np.concatenate([b.args for b in bs]),
        gen.op_names,
        TraceMeta(source="run", duration_s=1200.0),
        none,
        none,
    )
    assert not fit_trace(tr, check_scales=()).burst.poisson


def test_run_parameters_refuse_what_a_trace_cannot_take(tmp_path: Path) -> None:
    from evalcache.runner.params import parse_params

    log = tmp_path / "app.csv"
    log.write_text(LOG_HEADER + "".join(f"{t},read,user_profile,{t % 7 + 1},\n" for t in range(40)))
    name = f"trace:{write_trace(import_log(log), tmp_path / 'app.parquet')}"
    for key, value in (("rate", 5), ("skew", 0.5), ("write_ratio", 0.1)):
        with pytest.raises(ConfigError, match=key):
            parse_params({"workload": name, key: value})
    with pytest.raises(ConfigError, match="longer than the trace"):
        parse_params({"workload": name, "duration_s": 60})
    rp = parse_params({"workload": name, "duration_s": 10})  # its first seconds
    assert rp.spec().duration_s == 10 and rp.spec().rate == 1.0
    assert parse_params({"workload": name}).as_dict()["rate"] == pytest.approx(40 / 40)
    with pytest.raises(ConfigError, match="cannot be read"):
        parse_params({"workload": f"trace:{tmp_path}/none.parquet"})
    with pytest.raises(ConfigError, match="trace:PATH"):
        parse_params({"workload": "no_such_workload"})
