"""The ``evalcache`` command line.

Each subcommand lives in the module that owns it, which exposes
``add_cli(subparsers) -> None``; the parser calls ``args.func(args) -> int``. The ``bench`` group
is created here and its subparsers handed to the benchmark modules, so the cache and strategy
layers never import this module.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evalcache import report, services, sweep, trace_cli
from evalcache.cache import bench as cache_bench
from evalcache.domain import seeding
from evalcache.errors import EvalCacheError
from evalcache.runner import calibrate, livecheck
from evalcache.runner import cli as runner_cli
from evalcache.strategies import bench as strategies_bench


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalcache",
        description="Measure what a Redis query cache in front of PostgreSQL buys an application.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # Help lists the commands in this order.
    services.add_cli(sub)
    seeding.add_cli(sub)
    sweep.add_cli(sub)
    report.add_cli(sub)
    bench_parser = sub.add_parser("bench", help="benchmarks (figures measured side by side)")
    bench = bench_parser.add_subparsers(dest="bench", metavar="BENCH")
    bench.required = True
    cache_bench.add_cli(bench)
    strategies_bench.add_cli(bench)
    runner_cli.add_cli(sub)
    calibrate.add_cli(sub)
    trace_cli.add_cli(sub)
    runner_cli.add_bench_cli(bench)
    livecheck.add_cli(bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except EvalCacheError as exc:
        print(f"evalcache: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
