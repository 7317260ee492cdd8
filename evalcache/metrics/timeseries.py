"""Windowed counters over simulated time, as a tidy DataFrame.

Each request is assigned to the window containing its simulated arrival time (``t // window``)
and to its family (query family for reads, ``write:<op>`` for writes). Latencies are kept as raw
integers per (window, family) and reduced to percentiles only when the frame is built, so the
hot path is a dict lookup and a few increments.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalcache.errors import ConfigError

TIMESERIES_COLUMNS: tuple[str, ...] = (
    "window_start_s",
    "family",
    "requests",
    "reads",
    "writes",
    "hits",
    "misses",
    "negative_hits",
    "uncached",
    "hit_rate",
    "stale_checked",
    "stale_reads",
    "stale_read_rate",
    "db_statements",
    "errors",
    "p50_ms",
    "p99_ms",
)
#: The count columns (summable across families and runs).
COUNT_COLUMNS: tuple[str, ...] = (
    "requests",
    "reads",
    "writes",
    "hits",
    "misses",
    "negative_hits",
    "uncached",
    "stale_checked",
    "stale_reads",
    "db_statements",
    "errors",
)


@dataclass(slots=True)
class _Cell:
    reads: int = 0
    writes: int = 0
    hits: int = 0
    misses: int = 0
    negative_hits: int = 0
    uncached: int = 0
    stale_checked: int = 0
    stale_reads: int = 0
    db_statements: int = 0
    errors: int = 0
    latencies_ns: array[int] = field(default_factory=lambda: array("q"))


class TimeSeries:
    """Counters per (window, family).

    Parameters
    ----------
    window_s:
        Window length in simulated seconds (60 = per simulated minute).

    Examples
    --------
    >>> ts = TimeSeries(window_s=60)
    >>> ts.read(5.0, "user_profile", "hit", 40_000)
    >>> ts.read(65.0, "user_profile", "miss", 900_000, db_statements=1)
    >>> ts.to_frame()[["hits", "misses"]].values.tolist()
    [[1, 0], [0, 1]]
    """

    def __init__(self, window_s: float = 60.0) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ConfigError("window_s", f"must be > 0 seconds, got {window_s!r}")
        self.window_s = float(window_s)
        self._cells: dict[tuple[int, str], _Cell] = {}

    def _cell(self, t: float, family: str) -> _Cell:
        key = (int(t // self.window_s), family)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Cell()
        return cell

    def read(
        self,
        t: float,
        family: str,
        outcome: str,
        latency_ns: int,
        *,
        db_statements: int = 0,
        negative: bool = False,
        error: bool = False,
    ) -> None:
        """Count one read with ``outcome`` ``hit``, ``miss`` or ``uncached`` at time ``t``."""
        cell = self._cell(t, family)
        cell.reads += 1
        if outcome == "hit":
            cell.hits += 1
            cell.negative_hits += negative
        elif outcome == "miss":
            cell.misses += 1
        else:
            cell.uncached += 1
        cell.db_statements += db_statements
        cell.errors += error
        cell.latencies_ns.append(latency_ns)

    def write(
        self, t: float, op: str, latency_ns: int, *, db_statements: int = 0, error: bool = False
    ) -> None:
        """Count one write (``op`` such as ``write:availability``) at time ``t``."""
        cell = self._cell(t, op)
        cell.writes += 1
        cell.db_statements += db_statements
        cell.errors += error
        cell.latencies_ns.append(latency_ns)

    def lookup(self, t: float, family: str, outcome: str, *, negative: bool = False) -> None:
        """Count the cache outcome of a read inside another request (a read-modify-write's
        read): a hit or miss of ``family``, not a read request, no latency of its own."""
        cell = self._cell(t, family)
        if outcome == "hit":
            cell.hits += 1
            cell.negative_hits += negative
        elif outcome == "miss":
            cell.misses += 1
        else:
            cell.uncached += 1

    def stale_check(self, t: float, family: str, stale: bool) -> None:
        """Count one oracle comparison of a cached answer at time ``t``."""
        cell = self._cell(t, family)
        cell.stale_checked += 1
        cell.stale_reads += stale

    def to_frame(self) -> pd.DataFrame:
        """Tidy frame, one row per (window, family), sorted; columns ``TIMESERIES_COLUMNS``."""
        rows = []
        for (w, family), c in sorted(self._cells.items()):
            lat = np.frombuffer(c.latencies_ns, dtype=np.int64) if len(c.latencies_ns) else None
            looked = c.hits + c.misses
            rows.append(
                (
                    w * self.window_s,
                    family,
                    c.reads + c.writes,
                    c.reads,
                    c.writes,
                    c.hits,
                    c.misses,
                    c.negative_hits,
                    c.uncached,
                    c.hits / looked if looked else math.nan,
                    c.stale_checked,
                    c.stale_reads,
                    c.stale_reads / c.stale_checked if c.stale_checked else math.nan,
                    c.db_statements,
                    c.errors,
                    float(np.percentile(lat, 50)) / 1e6 if lat is not None else math.nan,
                    float(np.percentile(lat, 99)) / 1e6 if lat is not None else math.nan,
                )
            )
        frame = pd.DataFrame(rows, columns=list(TIMESERIES_COLUMNS))
        frame = frame.astype({c: "int64" for c in COUNT_COLUMNS})
        return frame.astype({"window_start_s": "float64", "family": "str"})


def empty_timeseries() -> pd.DataFrame:
    """An empty frame with the time-series columns and dtypes."""
    return TimeSeries().to_frame()
