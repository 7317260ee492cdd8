"""``evalcache bench live-vs-overlap``: its arguments, and the side-by-side comparison."""

from __future__ import annotations

import pytest

from evalcache.cli import build_parser, main
from evalcache.errors import ConfigError
from evalcache.runner.livecheck import bench_live_vs_overlap, compare, format_rows, params_of


def _args(*extra: str):  # type: ignore[no-untyped-def]
    return build_parser().parse_args(["bench", "live-vs-overlap", *extra])


def test_one_stream_live_with_n_workers_and_overlap_with_a_pool_of_n() -> None:
    args = _args("--rate", "30", "--workers", "3", "--duration", "60", "--db-service-ms", "2")
    assert args.func is bench_live_vs_overlap
    live, overlap = params_of(args)
    assert live["mode"] == "live" and live["workers"] == 3
    assert overlap["mode"] == "virtual" and overlap["concurrency"] == "overlap"
    assert overlap["db_pool"] == 3 and overlap["db_service_ms"] == 2.0
    stream = ("workload", "strategy", "rate", "duration_s", "seed", "scale", "ttl_scale")
    assert {k: live[k] for k in stream} == {k: overlap[k] for k in stream}
    assert live["rate"] == 30.0 and live["duration_s"] == 60.0
    assert live["baseline"] is False and "warmup_s" not in live
    assert params_of(_args("--warmup", "10"))[1]["warmup_s"] == 10.0


@pytest.mark.parametrize("bad", [["--rate", "-5"], ["--duration", "0"], ["--rate", "x"]])
def test_non_positive_rate_or_duration_is_refused_by_the_parser(bad: list[str]) -> None:
    with pytest.raises(SystemExit):
        _args(*bad)


def test_bad_run_parameters_fail_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="workers"):
        params_of(_args("--workers", "0"))
    assert main(["bench", "live-vs-overlap", "--workload", "nope"]) == 2
    err = capsys.readouterr().err
    assert "workload" in err and "accepted" in err


def test_compare_differences_and_verdicts() -> None:
    live = {"hit_rate": 0.80, "db_statements": 1000, "stale_read_rate": 0.01, "requests": 10}
    near = {"hit_rate": 0.815, "db_statements": 1040, "stale_read_rate": 0.02, "requests": 10}
    rows = {r.name: r for r in compare(live, near)}
    assert rows["hit rate"].difference == pytest.approx(1.5)
    assert rows["hit rate"].ok is True
    assert rows["database statements"].difference == pytest.approx(4.0)
    assert rows["database statements"].ok is True
    assert rows["stale-read rate"].difference == pytest.approx(1.0)
    assert rows["stale-read rate"].ok is None
    far = {**near, "hit_rate": 0.77, "db_statements": 940}
    rows = {r.name: r for r in compare(live, far)}
    assert rows["hit rate"].ok is False and rows["database statements"].ok is False
    text = format_rows(compare(live, far))
    assert "MISSED" in text and "-3.00 pp" in text and "-6.00 %" in text


def test_compare_without_figures_gives_no_verdict() -> None:
    rows = compare({"hit_rate": None, "db_statements": 0}, {"hit_rate": 0.5, "db_statements": 3})
    assert [r.ok for r in rows[:2]] == [None, None]
