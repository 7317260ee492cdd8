"""Seed PostgreSQL with deterministic marketplace data: a thin wrapper of ``evalcache seed``.

python seed/seed.py --scale 0.1 --seed 42 [--as-of 2025-01-01] [--reset] [--database-url URL]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from evalcache.domain.seeding import add_cli
from evalcache.errors import EvalCacheError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seed.py")
    add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["seed", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except EvalCacheError as exc:
        print(f"seed.py: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
