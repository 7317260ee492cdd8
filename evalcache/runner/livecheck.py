"""``evalcache bench live-vs-overlap``: the virtual overlap model checked against a live run.

The same request stream (workload, rate, seed, duration) runs twice: live (wall clock, Redis
expiry, ``workers`` threads, open loop) and in virtual time with overlapping requests
(``concurrency: overlap``, ``db_pool`` = ``workers``: a live worker holds at most one database
connection at a time, so both let that many statements run at once). Printed side by side:
hit rate, database statements and stale-read rate, with their differences against the targets
(hit rate within 2 percentage points, statements within 5 %). Latency is not compared: live's
is wall-clock service on this shared machine, overlap's is the modelled service time.
"""

from __future__ import annotations

import argparse
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evalcache.runner.params import validate_params

#: Targets of the check: hit rate within this many percentage points, statements within this
#: relative difference.
HIT_RATE_PP = 2.0
STATEMENTS_REL = 0.05


@dataclass(frozen=True)
class Row:
    """One compared figure: both values, their difference as printed, and the verdict."""

    name: str
    live: float | None
    overlap: float | None
    difference: float | None
    unit: str
    target: str
    ok: bool | None  # None: no target (reported only)


def _diff(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return b - a


def compare(live: Mapping[str, Any], overlap: Mapping[str, Any]) -> list[Row]:
    """The compared figures of two run summaries (overlap minus live)."""
    rows = []
    hl, ho = live.get("hit_rate"), overlap.get("hit_rate")
    d = _diff(hl, ho)
    pp = None if d is None else 100 * d
    rows.append(
        Row(
            "hit rate",
            hl,
            ho,
            pp,
            "pp",
            f"within {HIT_RATE_PP:g} pp",
            None if pp is None else abs(pp) <= HIT_RATE_PP,
        )
    )
    sl, so = live.get("db_statements"), overlap.get("db_statements")
    rel = None if not sl or so is None else (so - sl) / sl
    rows.append(
        Row(
            "database statements",
            sl,
            so,
            None if rel is None else 100 * rel,
            "%",
            f"within {100 * STATEMENTS_REL:g} %",
            None if rel is None else abs(rel) <= STATEMENTS_REL,
        )
    )
    stl, sto = live.get("stale_read_rate"), overlap.get("stale_read_rate")
    d = _diff(stl, sto)
    rows.append(
        Row("stale-read rate", stl, sto, None if d is None else 100 * d, "pp", "reported", None)
    )
    for name, key in (("requests", "requests"), ("reads", "reads"), ("misses", "misses")):
        a, b = live.get(key), overlap.get(key)
        rows.append(Row(name, a, b, _diff(a, b), "", "reported", None))
    return rows


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    if unit in ("pp", "%"):
        return f"{v:+.2f} {unit}"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.4f}"


def format_rows(rows: list[Row]) -> str:
    """The side-by-side table the command prints."""
    head = f"{'figure':<20} {'live':>10} {'overlap':>10} {'difference':>12}  target"
    lines = [head]
    for r in rows:
        verdict = "" if r.ok is None else ("  ok" if r.ok else "  MISSED")
        lines.append(
            f"{r.name:<20} {_fmt(r.live):>10} {_fmt(r.overlap):>10} "
            f"{_fmt(r.difference, r.unit):>12}  {r.target}{verdict}"
        )
    return "\n".join(lines)


def params_of(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The live run's and the overlap run's parameters, validated (a ConfigError if bad)."""
    common: dict[str, Any] = {
        "workload": args.workload,
        "strategy": args.strategy,
        "ttl_scale": args.ttl_scale,
        "duration_s": args.duration,
        "rate": args.rate,
        "seed": args.seed,
        "scale": args.scale,
        "stale_sample": args.stale_sample,
        "baseline": False,
    }
    if args.warmup is not None:
        common["warmup_s"] = args.warmup
    live = {**common, "mode": "live", "workers": args.workers}
    overlap = {
        **common,
        "mode": "virtual",
        "concurrency": "overlap",
        "db_pool": args.workers,
        "db_service_ms": args.db_service_ms,
        "redis_service_ms": args.redis_service_ms,
    }
    validate_params(live)
    validate_params(overlap)
    return live, overlap


def bench_live_vs_overlap(args: argparse.Namespace) -> int:
    """Run the stream live and in overlap, print the figures side by side (exit 0 either way)."""
    live_p, overlap_p = params_of(args)
    from evalcache.runner.core import run

    print(
        f"evalcache bench live-vs-overlap: {platform.python_implementation()} "
        f"{platform.python_version()}"
    )
    print(
        f"workload={args.workload} strategy={args.strategy} ttl_scale={args.ttl_scale:g} "
        f"rate={args.rate:g}/s duration={args.duration:g} s seed={args.seed} "
        f"scale={args.scale:g} stale_sample={args.stale_sample:g}"
    )
    print(
        f"live: {args.workers} workers (pool {args.workers + 2}); overlap: db_pool "
        f"{args.workers}, db_service_ms {args.db_service_ms:g}, "
        f"redis_service_ms {args.redis_service_ms:g}"
    )
    live = run(live_p, progress=False).summary
    overlap = run(overlap_p, progress=False).summary
    print(format_rows(compare(live, overlap)))
    print(
        f"live: warm-up {live['warmup_s']:g} s, saturated {live['saturated']}, max lag "
        f"{live['max_lag_s'] or 0:.3f} s, wall {live['elapsed_s']:.1f} s; "
        f"overlap: wall {overlap['elapsed_s']:.1f} s"
    )
    return 0


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return v


def add_cli(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache bench live-vs-overlap`` in the ``bench`` group's subparsers."""
    b = bench.add_parser(
        "live-vs-overlap",
        help="one stream live and in virtual overlap: hit rate, statements, staleness",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    b.add_argument("--workload", default="mixed")
    b.add_argument("--strategy", default="tags")
    b.add_argument("--ttl-scale", type=_positive_float, default=1.0)
    b.add_argument("--rate", type=_positive_float, default=40.0, help="requests per second")
    b.add_argument(
        "--duration", type=_positive_float, default=90.0, help="seconds (live: wall clock)"
    )
    b.add_argument("--warmup", type=float, help="seconds before measuring (default: a quarter)")
    b.add_argument("--workers", type=int, default=4, help="live workers = overlap db_pool")
    b.add_argument("--db-service-ms", type=float, default=0.5, help="overlap statement time")
    b.add_argument("--redis-service-ms", type=float, default=0.1, help="overlap round trip")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--scale", type=_positive_float, default=0.1)
    b.add_argument("--stale-sample", type=float, default=0.25, help="share of hits checked")
    b.set_defaults(func=bench_live_vs_overlap)


__all__ = ["Row", "add_cli", "compare", "format_rows", "params_of"]
