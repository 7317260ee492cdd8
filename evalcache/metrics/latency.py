"""Latency histograms per (family, outcome), HdrHistogram in nanoseconds.

Record real time from ``time.perf_counter_ns()``; report milliseconds. Histograms are saved as
base64 HdrHistogram V2 blobs (the ``hdr`` column of ``latency.parquet``) so that runs, workers
and windows can be merged exactly afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from hdrh.histogram import HdrHistogram

#: Outcomes a latency is recorded under.
OUTCOMES: tuple[str, ...] = ("hit", "miss", "uncached", "write")
#: Percentiles reported, as (column suffix, percentile).
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p95", 95.0),
    ("p99", 99.0),
    ("p999", 99.9),
)
LATENCY_COLUMNS: tuple[str, ...] = (
    "family",
    "outcome",
    "count",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p999_ms",
    "max_ms",
    "mean_ms",
    "hdr",
)

LOWEST_NS = 1_000  # 1 µs: below that the timer itself dominates
HIGHEST_NS = 3_600_000_000_000  # 1 h: a stuck request is recorded (clamped), never lost
SIGNIFICANT_FIGURES = 3
_NS_PER_MS = 1e6


def new_histogram() -> HdrHistogram:
    """An empty histogram with the project's range (1 µs .. 1 h, 3 significant figures)."""
    return HdrHistogram(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_FIGURES)


def encode_histogram(hist: HdrHistogram) -> str:
    """The histogram as a base64 string (HdrHistogram V2, compressed)."""
    blob = hist.encode()
    return blob.decode("ascii") if isinstance(blob, bytes) else str(blob)


def decode_histogram(text: str) -> HdrHistogram:
    """Inverse of :func:`encode_histogram`."""
    return HdrHistogram.decode(text.encode("ascii") if isinstance(text, str) else text)


def merge_encoded(blobs: Iterable[str]) -> HdrHistogram:
    """One histogram holding every encoded histogram's values (exact merge)."""
    out = new_histogram()
    for blob in blobs:
        if blob:
            out.add(decode_histogram(blob))
    return out


def histogram_stats(hist: HdrHistogram) -> dict[str, Any]:
    """count, p50/p95/p99/p999/max/mean in ms (NaN when empty)."""
    n = int(hist.get_total_count())
    if n == 0:
        nan = float("nan")
        return {
            "count": 0,
            **{f"{k}_ms": nan for k, _ in PERCENTILES},
            "max_ms": nan,
            "mean_ms": nan,
        }
    values = hist.get_percentile_to_value_dict([p for _, p in PERCENTILES])
    stats: dict[str, Any] = {"count": n}
    for key, p in PERCENTILES:
        stats[f"{key}_ms"] = values[p] / _NS_PER_MS
    stats["max_ms"] = hist.get_max_value() / _NS_PER_MS
    stats["mean_ms"] = mean_ns(hist) / _NS_PER_MS
    return stats


def recorded_values(hist: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Each recorded bucket's highest equivalent value and its count, ascending.

    What ``hist.get_recorded_iterator()`` yields, from the non-empty buckets only (the
    iterator walks every bucket of the range in Python: seconds per chart).
    """
    counts = np.ctypeslib.as_array(hist.counts)
    idx = np.flatnonzero(counts)
    values = [hist.get_highest_equivalent_value(hist.get_value_from_index(i)) for i in idx.tolist()]
    return np.asarray(values, dtype=np.float64), counts[idx].astype(np.int64)


def mean_ns(hist: HdrHistogram) -> float:
    """``hist.get_mean_value()``, computed over the non-empty buckets only.

    hdrh's own mean walks every bucket of the 1 µs .. 1 h range in Python (~0.15 s per
    histogram); the recorded buckets are a few hundred at most.
    """
    n = int(hist.get_total_count())
    if n == 0:
        return 0.0
    counts = np.ctypeslib.as_array(hist.counts)
    total = 0
    for index in np.flatnonzero(counts).tolist():
        value = hist.get_value_from_index(index)
        total += int(counts[index]) * hist._hdr_median_equiv_value(value)
    return float(total) / n


class LatencyRecorder:
    """Histograms of request latency keyed by (family, outcome).

    Examples
    --------
    >>> rec = LatencyRecorder()
    >>> rec.record("user_profile", "hit", 40_000)
    >>> rec.record("user_profile", "miss", 900_000)
    >>> rec.summary()["all"]["count"]
    2
    """

    def __init__(self) -> None:
        self._hists: dict[tuple[str, str], HdrHistogram] = {}
        self.clamped = 0  # values above HIGHEST_NS, recorded as HIGHEST_NS

    def record(self, family: str, outcome: str, ns: int) -> None:
        """Record one latency of ``ns`` nanoseconds."""
        hist = self._hists.get((family, outcome))
        if hist is None:
            hist = self._hists[(family, outcome)] = new_histogram()
        if ns > HIGHEST_NS:
            self.clamped += 1
            ns = HIGHEST_NS
        hist.record_value(max(int(ns), 0))

    def keys(self) -> list[tuple[str, str]]:
        """The (family, outcome) pairs recorded so far, sorted."""
        return sorted(self._hists)

    def histogram(self, family: str | None = None, outcome: str | None = None) -> HdrHistogram:
        """A merged copy over every pair matching ``family``/``outcome`` (``None``: any)."""
        out = new_histogram()
        for (f, o), hist in self._hists.items():
            if (family is None or f == family) and (outcome is None or o == outcome):
                out.add(hist)
        return out

    def merge(self, other: LatencyRecorder) -> None:
        """Add every histogram of ``other`` (e.g. another worker) into this recorder."""
        for (f, o), hist in other._hists.items():
            mine = self._hists.get((f, o))
            if mine is None:
                mine = self._hists[(f, o)] = new_histogram()
            mine.add(hist)
        self.clamped += other.clamped

    def to_frame(self) -> pd.DataFrame:
        """One row per (family, outcome): count, percentiles in ms, mean, and ``hdr`` (base64)."""
        rows = [
            {"family": f, "outcome": o, **histogram_stats(h), "hdr": encode_histogram(h)}
            for (f, o), h in sorted(self._hists.items())
        ]
        return pd.DataFrame(rows, columns=list(LATENCY_COLUMNS))

    def summary(self) -> dict[str, dict[str, Any]]:
        """Outcome -> {p50_ms, p95_ms, p99_ms, p999_ms, max_ms, count}, with ``all`` first.

        Every outcome of :data:`OUTCOMES` is present (count 0, ``None`` percentiles when unseen);
        ``all`` covers reads and writes.
        """
        keep = ("count", "p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")
        out: dict[str, dict[str, Any]] = {}
        for outcome in ("all", *OUTCOMES):
            stats = histogram_stats(self.histogram(outcome=None if outcome == "all" else outcome))
            # JSON has no NaN: an outcome never seen has null percentiles.
            out[outcome] = {
                k: (None if stats["count"] == 0 and k != "count" else stats[k]) for k in keep
            }
        return out

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> LatencyRecorder:
        """Rebuild a recorder from a ``latency.parquet`` frame (its ``hdr`` column)."""
        rec = cls()
        for f, o, blob in frame[["family", "outcome", "hdr"]].itertuples(index=False):
            hist = decode_histogram(blob)
            mine = rec._hists.get((f, o))
            if mine is None:
                rec._hists[(f, o)] = mine = new_histogram()
            mine.add(hist)
        return rec
