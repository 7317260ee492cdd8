"""``evalcache calibrate``: a service-time model from the service times a run measured.

An overlapping run (``concurrency: overlap``) times every SQL statement and Redis round trip
twice: in virtual time by its model, and on the real servers (``summary["service_times"]``,
per family or write op). This command turns the real ones into a ``service_model`` file (JSON),
so a later run's virtual time stands for this machine's servers: each family's statements take
their measured mean. A cache-off run measures every family's loads, so its summary is the
natural source of the database means; a cached run adds its strategy's Redis commands (several
runs are pooled). The model is a file, so runs that use it stay reproducible.
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


def _times(source: str | Path) -> tuple[Mapping[str, Any], bool]:
    """A run's measured service times, and whether its cache was off."""
    summary = _summary(source)
    times = summary.get("service_times")
    if not isinstance(times, Mapping) or not isinstance(times.get("real"), Mapping):
        raise ConfigError(
            "run",
            f"{str(source)!r} has no measured service times (summary key service_times); "
            "accepted: a run with concurrency 'overlap'",
        )
    return times, (summary.get("params") or {}).get("cache") is False


class _Pool:
    """Count-weighted means of one kind of measurement, summed over runs."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.total_ms: dict[str, float] = {}

    def add(self, label: str, stats: Mapping[str, Any] | None) -> None:
        if stats and stats.get("count"):
            n = int(stats["count"])
            self.count[label] = self.count.get(label, 0) + n
            self.total_ms[label] = self.total_ms.get(label, 0.0) + n * float(stats["mean_ms"])

    def means(self, min_count: int = 1) -> dict[str, float]:
        return {
            k: round(self.total_ms[k] / n, 4)
            for k, n in sorted(self.count.items())
            if n >= min_count
        }


def calibrate(*sources: str | Path, min_statements: int = MIN_STATEMENTS) -> dict[str, Any]:
    """The ``service_model`` mapping of the real service times in the run(s) at ``sources``.

    ``db_ms`` / ``redis_ms``: the means over every statement / round trip of the measured
    window (no ``redis_ms`` from cache-off runs alone); ``families``: the mean statement time
    of each family (or ``write:<op>``) with at least ``min_statements`` statements (the others
    take ``db_ms``); ``redis_ops``: the mean round trip of each Redis command (and
    ``PIPELINE``) called at least ``min_statements`` times.

    Several runs pool their measurements (count-weighted means). The database means come from
    the cache-off runs among them when there are any: a cached run's statements are only its
    misses' loads, measured beside its Redis traffic, while a cache-off run loads every read
    as the baseline does. So a cache-off run and a cached run (the Redis commands its strategy
    sends) make one model, whatever their order.
    """
    if not sources:
        raise ConfigError("run", "no run given; accepted: one or more overlap run folders")
    runs = [_times(source) for source in sources]
    if any(off for _, off in runs):
        db_runs = [times for times, off in runs if off]
    else:
        db_runs = [times for times, _ in runs]
    db, families, redis, ops = _Pool(), _Pool(), _Pool(), _Pool()
    labels = set(service_model_labels())
    for times in db_runs:
        real: Mapping[str, Any] = times["real"]
        db.add("all", real.get("all", {}).get("db"))
        for label, kinds in real.items():
            if label in labels:
                families.add(label, kinds.get("db"))
    for times, _ in runs:
        redis.add("all", times["real"].get("all", {}).get("redis"))
        for name, st in (times.get("redis_ops") or {}).items():
            ops.add(name, st)
    if not db.count:
        names = ", ".join(repr(str(s)) for s in sources)
        raise ConfigError("run", f"{names} measured no SQL statement")
    model: dict[str, Any] = {"db_ms": db.means()["all"]}
    if redis.count:  # cache-off runs send no Redis call: the run's redis_ms stays
        model["redis_ms"] = redis.means()["all"]
    model["families"] = families.means(min_statements)
    redis_ops = ops.means(min_statements)
    if redis_ops:
        model["redis_ops"] = redis_ops
    return model


def calibrate_cli(args: argparse.Namespace) -> int:
    model = calibrate(*args.run, min_statements=args.min_statements)
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
        nargs="+",
        help="overlap runs' folders or their summary.json (a cache-off run measures every "
        "family's loads, a cached run its strategy's Redis commands); several are pooled",
    )
    p.add_argument("--out", help="write the model (JSON) here")
    p.add_argument(
        "--min-statements",
        type=int,
        default=MIN_STATEMENTS,
        help=f"statements a family needs for a mean of its own (default {MIN_STATEMENTS})",
    )
    p.set_defaults(func=calibrate_cli)
