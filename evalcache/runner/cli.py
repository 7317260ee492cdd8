"""``evalcache run`` and ``evalcache bench replay``."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis
import yaml

from evalcache.embedded import scratch_redis
from evalcache.runner.params import MODES, REFRESH, STAMPEDE, validate_params
from evalcache.settings import Settings
from evalcache.workload.spec import THINK_KINDS

#: Figures printed at the end of ``evalcache run``.
KEY_FIGURES = (
    "requests",
    "hit_rate",
    "model_hit_rate",
    "stale_read_rate",
    "stale_read_rate_upper95",
    "stale_age_p50_s",
    "stale_age_p99_s",
    "db_statements",
    "db_statements_server",
    "db_statements_baseline",
    "db_reduction",
    "baseline_reused",
    "oracle_loads_checked",
    "oracle_errors",
    "errors",
    "cache_errors",
    "saturated",
    "offered_rate",
    "achieved_rate",
    "stream_exhausted",
    "simulated_s",
    "elapsed_s",
    "time_model",
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _delay(text: str) -> Any:
    """A delay flag's text as the literal a sweep would pass: ``50`` or
    ``'{dist: exponential, mean_ms: 50}'`` (YAML); the run's validation judges it."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"not a number or a YAML mapping: {text!r}") from exc


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params = {
        "workload": args.workload,
        "strategy": args.strategy,
        "ttl_scale": args.ttl_scale,
        "mode": args.mode,
        "duration_s": args.duration,
        "seed": args.seed,
        "scale": args.scale,
        "stale_sample": args.stale_sample,
        "rate": args.rate,
        "refresh": args.refresh,
        "stampede": args.stampede,
        "skew": args.skew,
        "write_ratio": args.write_ratio,
        "warmup_s": args.warmup,
        "workers": args.workers,
        "concurrency": args.concurrency,
        "db_pool": args.db_pool,
        "notify_lag": args.notify_lag,
        "invalidation_delay": args.invalidation_delay,
        "service_model": args.service_model,
        "clients": args.clients,
        "think_time_s": args.think_time,
        "think": args.think,
        "baseline": False if args.no_baseline else None,
        "fresh_baseline": True if args.fresh_baseline else None,
        "cache": False if args.no_cache else None,
        "record_trace": True if args.record_trace else None,
    }
    return {k: v for k, v in params.items() if v is not None}


def run_cli(args: argparse.Namespace) -> int:
    """``evalcache run``: validate, run with a progress bar, print key figures."""
    params = _params(args)
    validate_params(params)  # before anything runs
    from evalcache.runner.core import run

    result = run(params, out=Path(args.out) if args.out else None, progress=not args.no_progress)
    s = result.summary
    width = max(len(k) for k in KEY_FIGURES)
    for key in KEY_FIGURES:
        print(f"{key:<{width}}  {_fmt(s.get(key))}")
    lat = s["latency"]
    for outcome in ("hit", "miss", "uncached", "write"):
        if lat[outcome]["count"]:
            print(
                f"{'latency ' + outcome:<{width}}  p50 {_fmt(lat[outcome]['p50_ms'])} ms, "
                f"p99 {_fmt(lat[outcome]['p99_ms'])} ms (n={lat[outcome]['count']})"
            )
    # what a null or a non-zero above means, in words
    for key in ("db_statements_server_note", "oracle_error_example"):
        if s.get(key):
            print(f"{key}: {s[key]}")
    if result.folder is not None:
        print(f"{'saved':<{width}}  {result.folder}")
    return 0


def _pinned_redis(cpu: int) -> contextlib.AbstractContextManager[str]:
    """A private Redis on a free port, pinned to ``cpu`` (nothing on disk)."""
    return scratch_redis(prefix=("taskset", "-c", str(cpu)))


def _get_p50_us(url: str, n: int = 2000) -> float:
    client = redis.Redis.from_url(url)
    client.set("evalcache-bench-probe", b"x" * 1024)
    samples = []
    for _ in range(n):
        t = time.perf_counter_ns()
        client.get("evalcache-bench-probe")
        samples.append(time.perf_counter_ns() - t)
    client.delete("evalcache-bench-probe")
    client.close()
    return float(np.median(samples)) / 1000


def bench_replay(args: argparse.Namespace) -> int:
    """``evalcache bench replay``: virtual-mode replay speed, mostly hits, no oracle/baseline.

    Two placements in one run, since a Redis round trip costs ~40 us when client and server
    share a vCPU and 2-3x that when they do not: the configured Redis with the client
    unpinned, then a private Redis and the client pinned to the same CPU. Each line shows the
    raw GET p50 measured just before, so the replay's own cost per request can be read off.
    The pinned placement runs twice, serial and with overlapping requests (``concurrency:
    overlap``), so the scheduler's cost is read as a ratio of the two, side by side.
    """
    from evalcache.runner.core import run
    from evalcache.services import resolve

    params = {
        "workload": args.workload,
        "strategy": args.strategy,
        "ttl_scale": args.ttl_scale,
        "mode": "virtual",
        "duration_s": args.duration,
        "rate": args.rate,
        "seed": 1,
        "scale": args.scale,
        "stale_sample": 0.0,
        "baseline": False,
    }
    validate_params(params)
    settings = Settings.from_env()
    shared_url = resolve(settings, start=False).redis.url
    all_cpus = os.sched_getaffinity(0)
    rows = []
    print(f"evalcache bench replay: {platform.python_implementation()} {platform.python_version()}")
    print(
        f"workload={args.workload} strategy={args.strategy} ttl_scale={args.ttl_scale} "
        f"duration={args.duration} rate={args.rate:g}/s scale={args.scale:g}"
    )
    placements: list[tuple[str, str | None, int | None, str]] = [
        ("configured Redis, client unpinned", shared_url, None, "serial"),
        (f"private Redis + client on CPU {args.cpu}", None, args.cpu, "serial"),
        ("same, overlapping requests", None, args.cpu, "overlap"),
    ]
    for label, url, cpu, concurrency in placements:
        with contextlib.ExitStack() as stack:
            if url is None:
                url = stack.enter_context(_pinned_redis(int(cpu or 0)))
            os.sched_setaffinity(0, {cpu} if cpu is not None else all_cpus)
            get_us = _get_p50_us(url)
            s = run(
                {**params, "concurrency": concurrency},
                settings=settings.with_(redis_url=url),
                progress=False,
            ).summary
            os.sched_setaffinity(0, all_cpus)
        speed = s["requests"] / s["elapsed_s"]
        per_req = 1e6 / speed
        rows.append((label, get_us, speed, per_req, s["hit_rate"], s["latency"]["hit"]["p50_ms"]))
    print(f"requests per run   {s['requests']:,} (simulated {s['simulated_s']:g} s)")
    print(
        f"{'placement':<38} {'GET p50 us':>10} {'req/s':>9} {'us/req':>7} "
        f"{'us/req - GET':>12} {'hit rate':>8} {'hit p50 ms':>10}"
    )
    for label, get_us, speed, per_req, hit_rate, hit_p50 in rows:
        print(
            f"{label:<38} {get_us:>10.1f} {speed:>9,.0f} {per_req:>7.1f} "
            f"{per_req - get_us:>12.1f} {hit_rate:>8.4f} {hit_p50:>10.4f}"
        )
    print(f"goal >= 10,000 req/s; ratio pinned/unpinned speed: {rows[1][2] / rows[0][2]:.2f}x")
    print(
        f"goal overlap >= 0.8x serial; ratio overlap/serial speed: {rows[2][2] / rows[1][2]:.2f}x"
    )
    return 0


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache run``."""
    p = subparsers.add_parser(
        "run",
        help="run one experiment (workload x strategy x TTLs) and save its results",
        description="Run one experiment; parameters are checked before anything runs.",
    )
    p.add_argument(
        "--workload",
        help="workload name (default mixed), a workload file (a path ending in .yaml/.yml, "
        "e.g. workloads/diurnal.yaml), or trace:PATH to replay a trace file",
    )
    p.add_argument("--strategy", help="invalidation strategy (default tags)")
    p.add_argument("--ttl-scale", type=float, help="factor on every TTL (> 0, default 1)")
    p.add_argument("--mode", choices=MODES, help="virtual (default) or live")
    p.add_argument(
        "--duration", help="simulated duration: seconds or 90s, 15m, 1h (default: workload's)"
    )
    p.add_argument("--seed", type=int, help="workload seed (default 1)")
    p.add_argument("--scale", type=float, help="seeded database scale (default 0.1)")
    p.add_argument("--stale-sample", type=float, help="share of cached answers checked, 0-1")
    p.add_argument("--rate", type=float, help="requests per second (default: workload's)")
    p.add_argument("--refresh", choices=REFRESH, help="refresh ahead (default none)")
    p.add_argument("--stampede", choices=STAMPEDE, help="stampede protection (default lease)")
    p.add_argument("--skew", type=float, help="Zipf theta override")
    p.add_argument("--write-ratio", type=float, help="write share override, 0-1")
    p.add_argument(
        "--warmup",
        type=float,
        help="simulated seconds replayed before measuring (default: a quarter of the run; "
        "two profile TTLs for synthetic; 0 for cold_start)",
    )
    p.add_argument("--workers", type=int, help="live mode worker threads (default 4)")
    p.add_argument(
        "--concurrency",
        choices=("serial", "overlap"),
        help="serial (default) or overlap: requests overlap in virtual time",
    )
    p.add_argument("--db-pool", type=int, help="database connections in overlap (default 4)")
    delay = (
        "virtual ms, a number or a YAML mapping such as '{dist: exponential, mean_ms: 50}' "
        "(dist: fixed, exponential, uniform with low_ms/high_ms, lognormal with sigma)"
    )
    p.add_argument(
        "--notify-lag",
        type=_delay,
        help=f"overlap, notify: commit to the listener's invalidation; {delay} (default 0)",
    )
    p.add_argument(
        "--invalidation-delay",
        type=_delay,
        help=f"overlap, other strategies: commit to the invalidation; {delay} (default 0)",
    )
    p.add_argument(
        "--service-model",
        help="overlap: a service_model file (JSON/YAML, see `evalcache calibrate`)",
    )
    p.add_argument(
        "--clients",
        type=int,
        help="closed loop: N clients, each issuing its next request when the previous "
        "completed plus a think time (default: the workload's; open loop for the built-ins)",
    )
    p.add_argument("--think-time", type=float, help="closed loop: mean think time, seconds")
    p.add_argument(
        "--think",
        choices=THINK_KINDS,
        help="closed loop: how think times are drawn (default exponential)",
    )
    p.add_argument("--no-baseline", action="store_true", help="skip the cache-off baseline")
    p.add_argument(
        "--fresh-baseline",
        action="store_true",
        help="measure the cache-off baseline anew instead of reusing a memoised one, and "
        "replace the memo",
    )
    p.add_argument("--no-cache", action="store_true", help="run with the cache off")
    p.add_argument(
        "--record-trace",
        action="store_true",
        help="save the request stream and outcomes as trace.parquet in the run folder",
    )
    p.add_argument("--out", help="save the run folder under this directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_cli)


def add_bench_cli(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache bench replay`` in the ``bench`` group's subparsers."""
    b = bench.add_parser("replay", help="virtual-mode replay speed (requests/s, mostly hits)")
    b.add_argument("--workload", default="ycsb_c", help="read-only user profiles: mostly hits")
    b.add_argument("--strategy", default="explicit")
    b.add_argument("--ttl-scale", type=float, default=100.0, help="long TTLs: mostly hits")
    b.add_argument("--duration", default="10m", help="simulated duration")
    b.add_argument("--rate", type=float, default=200.0, help="requests per simulated second")
    b.add_argument("--scale", type=float, default=0.1)
    b.add_argument(
        "--cpu", type=int, default=0, help="CPU of the pinned placement (client and Redis)"
    )
    b.set_defaults(func=bench_replay)
