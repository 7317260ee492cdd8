"""What every aggregate page draws alike: one colour per strategy, short parameter labels.

A reader who learns on one page that green is ``tags`` must find ``tags`` green on every other
page, so colours come from :data:`STRATEGY_COLOURS`, never from matplotlib's colour cycle
(whose n-th colour depends on what else a chart happens to draw). Parameter values are shown
the same way everywhere too (:func:`describe_param`): ``TTL ×0.25``, ``20 req/s``, ``data ×0.1``.
"""

from __future__ import annotations

import contextlib
import json
import math
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

#: One colour per registered strategy (``evalcache.strategies.strategy_names()``). The seed
#: plan's own strategy is red so its gaps stand out; ``ttl`` (no invalidation) is grey.
STRATEGY_COLOURS: dict[str, str] = {
    "seed": "#d62728",
    "ttl": "#7f7f7f",
    "explicit": "#1f77b4",
    "pattern": "#8c564b",
    "tags": "#2ca02c",
    "generation": "#9467bd",
    "write_through": "#ff7f0e",
    "notify": "#17becf",
    "table": "#bcbd22",
    "lease": "#e377c2",
}
#: Runs with the cache off (no strategy applies).
CACHE_OFF_COLOUR = "#000000"
#: Strategies registered later than this palette: a stable pick by name (crc32, not hash(),
#: which changes from one process to the next).
_SPARE = ("#aec7e8", "#98df8a", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
#: Stale-read causes (stacked bars): muted colours, none of them a strategy's.
CAUSE_COLOURS: tuple[str, ...] = ("#4d4d4d", "#a6761d", "#e6ab02", "#66a61e", "#7570b3", "#e7298a")
#: Line styles that tell apart several lines of one strategy (same colour).
LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":")
MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P")


def strategy_colour(strategy: Any, cache: Any = True) -> str:
    """The colour of ``strategy`` on every page (black for a cache-off run)."""
    if cache is False or (
        isinstance(cache, int | float) and not isinstance(cache, bool) and cache == 0
    ):
        return CACHE_OFF_COLOUR
    name = str(strategy)
    if name in STRATEGY_COLOURS:
        return STRATEGY_COLOURS[name]
    return _SPARE[zlib.crc32(name.encode()) % len(_SPARE)]


def is_missing(value: Any) -> bool:
    """``None`` or a float NaN (a parameter a run did not set)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _num(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def _delay(value: Any) -> str:
    if isinstance(value, Mapping):  # a distribution: {dist: exponential, mean_ms: 50}
        parts = [str(value.get("dist", "?"))]
        parts += [f"{k.removesuffix('_ms')} {_num(v)} ms" for k, v in value.items() if k != "dist"]
        return " ".join(parts)
    return f"{_num(value)} ms"


def _service_model(value: Any) -> str:
    # the model itself (dozens of means) would swamp a title: what it is, not its numbers
    if not isinstance(value, Mapping):
        raise TypeError(value)
    return "per-family service times" if value.get("families") else "service model"


def _workload_def(value: Any) -> str:
    # a workload file's definition: which one, not its every field
    if not isinstance(value, Mapping):
        raise TypeError(value)
    digest = zlib.crc32(json.dumps(value, sort_keys=True, default=str).encode())
    return f"workload file {value.get('name', '?')} ({digest:08x})"


# How a parameter's value reads in a title or a bar label (``param_`` dropped).
_FORMATS: dict[str, Any] = {
    "ttl_scale": lambda v: f"TTL ×{_num(v)}",
    "rate": lambda v: f"{_num(v)} req/s",
    "scale": lambda v: f"data ×{_num(v)}",
    "db_pool": lambda v: f"{_num(v)} DB connections",
    "db_service_ms": lambda v: f"DB {_num(v)} ms/statement",
    "redis_service_ms": lambda v: f"Redis {_num(v)} ms/call",
    "service_model": _service_model,
    "notify_lag": lambda v: f"lag {_delay(v)}",
    "invalidation_delay": lambda v: f"delay {_delay(v)}",
    "refresh": lambda v: f"refresh {v}",
    "stampede": lambda v: f"stampede {v}",
    "skew": lambda v: f"skew {_num(v)}",
    "write_ratio": lambda v: f"{_num(100 * float(v))} % writes",
    "duration_s": lambda v: f"{_num(v)} s",
    "warmup_s": lambda v: f"warm-up {_num(v)} s",
    "stale_sample": lambda v: f"{_num(100 * float(v))} % of reads checked",
    "cache": lambda v: "cache on" if v not in (False, 0) else "cache off",
    "seed": lambda v: f"seed {_num(v)}",
    "concurrency": lambda v: f"{v} requests",
    "workers": lambda v: f"{_num(v)} workers",
    "clients": lambda v: f"{_num(v)} closed-loop clients",
    "think_time_s": lambda v: f"think {_num(v)} s",
    "think": lambda v: f"{v} think times",
    "workload_def": lambda v: _workload_def(v),
}


_NAMES = {"warmup_s": "warm-up", "duration_s": "duration", "ttl_scale": "TTLs", "rate": "rate"}
# Unset parameters whose default reads better as what it means than as "default <name>".
_UNSET = {"service_model": "one service time for all families"}


def describe_param(name: str, value: Any) -> str:
    """``value`` of parameter ``name`` (with or without ``param_``) as a short phrase."""
    name = name.removeprefix("param_")
    if isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(ValueError):  # a mapping stored as JSON text (results table)
            value = json.loads(value)
    if is_missing(value):
        return _UNSET.get(name) or f"default {_NAMES.get(name, name.replace('_', ' '))}"
    fmt = _FORMATS.get(name)
    if fmt is not None:
        try:
            return str(fmt(value))
        except (TypeError, ValueError):
            pass
    if name in {"workload", "strategy", "mode"}:
        return str(value)
    if isinstance(value, Mapping | list):
        value = json.dumps(value, sort_keys=True, default=str)
    return f"{name.replace('_', ' ')} {value}"


def join_phrases(phrases: Iterable[str], width: int = 0) -> str:
    """Phrases joined by `` · ``; lines broken between phrases at ``width`` chars (0: never)."""
    lines: list[str] = []
    for p in (p for p in phrases if p):
        if lines and (not width or len(lines[-1]) + 3 + len(p) <= width):
            lines[-1] += " · " + p
        else:
            lines.append(p)
    return "\n".join(lines)
