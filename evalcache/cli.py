"""The ``evalcache`` command line.

Each subcommand lives in the module that owns it, which exposes
``add_cli(subparsers) -> None``; the parser calls ``args.func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that contribute subcommands, in help order.
_COMMAND_MODULES: tuple[str, ...] = (
    "evalcache.services",
    "evalcache.domain.seeding",
    "evalcache.sweep",
    "evalcache.report",
    "evalcache.cache.bench",
    "evalcache.strategies.bench",
    "evalcache.runner.cli",
)


def get_bench_subparsers(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The ``evalcache bench`` group's subparsers, created on first use (modules add to it)."""
    parser = subparsers.choices.get("bench")
    if parser is None:
        parser = subparsers.add_parser("bench", help="benchmarks (figures measured side by side)")
        group = parser.add_subparsers(dest="bench", metavar="BENCH")
        group.required = True
        parser.set_defaults(_bench_group=group)
    return parser.get_default("_bench_group")  # type: ignore[no-any-return]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="evalcache",
        description="Measure what a Redis query cache in front of PostgreSQL buys an application.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from evalcache.errors import EvalCacheError

    try:
        return int(args.func(args))
    except EvalCacheError as exc:
        print(f"evalcache: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
