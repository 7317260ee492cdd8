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
    "evalcache.sweep",
)


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
