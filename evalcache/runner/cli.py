"""``evalcache run`` and ``evalcache bench replay``."""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

from evalcache.cli import get_bench_subparsers
from evalcache.runner.params import MODES, REFRESH, STAMPEDE, validate_params

#: Figures printed at the end of ``evalcache run``.
KEY_FIGURES = (
    "requests",
    "hit_rate",
    "model_hit_rate",
    "stale_read_rate",
    "stale_age_p50_s",
    "db_statements",
    "db_statements_server",
    "db_statements_baseline",
    "db_reduction",
    "errors",
    "saturated",
    "simulated_s",
    "elapsed_s",
    "time_model",
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


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
        "baseline": False if args.no_baseline else None,
        "cache": False if args.no_cache else None,
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
    if result.folder is not None:
        print(f"{'saved':<{width}}  {result.folder}")
    return 0


def bench_replay(args: argparse.Namespace) -> int:
    """``evalcache bench replay``: virtual-mode replay speed, mostly hits, no oracle/baseline."""
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    from evalcache.runner.core import run

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
    t = time.perf_counter()
    result = run(params, progress=False)
    wall = time.perf_counter() - t
    s = result.summary
    replay = s["requests"] / s["elapsed_s"] if s["elapsed_s"] else float("nan")
    print(f"evalcache bench replay: {platform.python_implementation()} {platform.python_version()}")
    print(
        f"placement: client pinned to CPU {args.cpu}"
        if args.cpu is not None
        else "placement: not pinned (client and Redis may share or split vCPUs)"
    )
    print(
        f"workload={args.workload} strategy={args.strategy} ttl_scale={args.ttl_scale} "
        f"rate={s['params']['rate']:g}/s simulated={s['simulated_s']:g} s scale={args.scale:g}"
    )
    print(f"requests           {s['requests']:>10,}")
    print(f"hit rate           {_fmt(s['hit_rate']):>10}")
    print(f"replay time        {s['elapsed_s']:>10.2f} s (total incl. setup {wall:.2f} s)")
    print(f"replay speed       {replay:>10,.0f} req/s  (goal >= 10,000)")
    hit = s["latency"]["hit"]
    print(f"hit latency        p50 {_fmt(hit['p50_ms'])} ms, p99 {_fmt(hit['p99_ms'])} ms")
    print(f"speed-up vs real   {s['simulated_s'] / s['elapsed_s']:>10,.0f} x")
    return 0


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache run`` and ``evalcache bench replay``."""
    p = subparsers.add_parser(
        "run",
        help="run one experiment (workload x strategy x TTLs) and save its results",
        description="Run one experiment; parameters are checked before anything runs.",
    )
    p.add_argument("--workload", help="workload name (default mixed)")
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
    p.add_argument("--warmup", type=float, help="simulated seconds not counted")
    p.add_argument("--workers", type=int, help="live mode worker threads (default 4)")
    p.add_argument("--no-baseline", action="store_true", help="skip the cache-off baseline")
    p.add_argument("--no-cache", action="store_true", help="run with the cache off")
    p.add_argument("--out", help="save the run folder under this directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_cli)

    b = get_bench_subparsers(subparsers).add_parser(
        "replay", help="virtual-mode replay speed (requests/s, mostly hits)"
    )
    b.add_argument("--workload", default="ycsb_c", help="read-only user profiles: mostly hits")
    b.add_argument("--strategy", default="explicit")
    b.add_argument("--ttl-scale", type=float, default=100.0, help="long TTLs: mostly hits")
    b.add_argument("--duration", default="10m", help="simulated duration")
    b.add_argument("--rate", type=float, default=200.0, help="requests per simulated second")
    b.add_argument("--scale", type=float, default=0.1)
    b.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    b.set_defaults(func=bench_replay)
