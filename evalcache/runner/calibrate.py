"""``evalcache calibrate``: a service-time model from the service times a run measured.

An overlapping run (``concurrency: overlap``) times every SQL statement and Redis round trip
twice: in virtual time by its model, and on the real servers (``summary["service_times"]``,
per family or write op). This command turns the real ones into a ``service_model`` file (JSON),
so a later run's virtual time stands for this machine's servers: each family's statements take
their measured mean. A cache-off run measures every family's loads, so its summary is the
natural source; the model is a file, so runs that use it stay reproducible.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from evalcache.errors import ConfigError
from evalcache.runner.params import service_model_labels

#: A label needs this many statements measured before its mean is trusted for the model.
MIN_STATEMENTS = 20


def _summary(source: str | Path) -> Mapping[str, Any]:
    path = Path(source)
    if path.is_dir():
        path = path / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            "run",
            f"cannot read {str(path)!r} ({exc.strerror}); accepted: a run folder or its "
            "summary.json",
        ) from None
    except ValueError as exc:
        raise ConfigError("run", f"{str(path)!r} is not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError("run", f"{str(path)!r} is not a run summary")
    return data


def calibrate(source: str | Path, *, min_statements: int = MIN_STATEMENTS) -> dict[str, Any]:
    """The ``service_model`` mapping of the real service times in the run at ``source``.

    ``db_ms`` / ``redis_ms``: the means over every statement / round trip of the measured
    window (no ``redis_ms`` from a cache-off run); ``families``: the mean statement time of
    each family (or ``write:<op>``) with at least ``min_statements`` statements (the others
    take ``db_ms``); ``redis_ops``: the mean round trip of each Redis command (and
    ``PIPELINE``) called at least ``min_statements`` times.
    """
    times = _summary(source).get("service_times")
    if not isinstance(times, Mapping) or not isinstance(times.get("real"), Mapping):
        raise ConfigError(
            "run",
            f"{str(source)!r} has no measured service times (summary key service_times); "
            "accepted: a run with concurrency 'overlap'",
        )
    real: Mapping[str, Any] = times["real"]
    overall = real.get("all", {})
    db, rd = overall.get("db", {}), overall.get("redis", {})
    if not db.get("count"):
        raise ConfigError("run", f"{str(source)!r} measured no SQL statement")
    labels = set(service_model_labels())
    families = {
        label: round(float(kinds["db"]["mean_ms"]), 4)
        for label, kinds in sorted(real.items())
        if label in labels and kinds.get("db", {}).get("count", 0) >= min_statements
    }
    model: dict[str, Any] = {"db_ms": round(float(db["mean_ms"]), 4)}
    if rd.get("count"):  # a cache-off run sends no Redis call: the run's redis_ms stays
        model["redis_ms"] = round(float(rd["mean_ms"]), 4)
    model["families"] = families
    ops = {
        name: round(float(st["mean_ms"]), 4)
        for name, st in sorted((times.get("redis_ops") or {}).items())
        if st.get("count", 0) >= min_statements
    }
    if ops:
        model["redis_ops"] = ops
    return model


def calibrate_cli(args: argparse.Namespace) -> int:
    model = calibrate(args.run, min_statements=args.min_statements)
    text = json.dumps(model, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"service model written to {args.out} (run parameter service_model: {args.out})")
    print(text, end="")
    return 0


def add_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache calibrate``."""
    p = subparsers.add_parser(
        "calibrate",
        help="a service-time model (service_model file) from a run's measured service times",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument(
        "run",
        help="an overlap run's folder or its summary.json (a cache-off run "
        "measures every family's loads)",
    )
    p.add_argument("--out", help="write the model (JSON) here")
    p.add_argument(
        "--min-statements",
        type=int,
        default=MIN_STATEMENTS,
        help=f"statements a family needs for a mean of its own (default {MIN_STATEMENTS})",
    )
    p.set_defaults(func=calibrate_cli)
