"""Poisson arrivals over simulated time, with optional bursts, daily cycles and ramps.

Without cycles or ramps the rate is piecewise constant: a base rate, multiplied inside burst
windows. Within each constant piece a Poisson process is generated as "count ~ Poisson(rate *
length), times sorted uniform", which is exact and vectorised. Long pieces are cut into chunks
of bounded expected size so memory stays flat; the chunking depends only on the parameters, so
a seed always gives the same times.

Cycles (:class:`Cycle`, a sinusoidal multiplier) and ramps (:class:`Ramp`, a linear one) make
the rate vary continuously; the multipliers of bursts, cycles and ramps multiply. That
non-homogeneous process is generated exactly by thinning (:func:`iter_arrivals`): on each
segment a homogeneous process at an upper bound ``M`` of the rate is drawn as above and each
candidate at ``t`` is kept with probability ``rate(t) / M``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError

FloatArray = npt.NDArray[np.float64]

#: Expected arrivals per generated chunk (bounds memory; fixed so results do not depend on it).
CHUNK_EVENTS = 262_144


@dataclass(frozen=True)
class Burst:
    """A window in which the arrival rate is multiplied.

    Attributes
    ----------
    start_s, duration_s:
        The window in simulated seconds from the start of the run.
    multiplier:
        Rate factor inside the window (> 0; 10 = ten times the base rate).
    focus_pool:
        Optional id pool whose draws concentrate on a few keys during the burst (the
        "few experts" of a flash crowd). ``None``: popularity unchanged.
    focus_keys:
        How many of the pool's first (most popular) ids the burst concentrates on.
    focus_share:
        Share of the pool's draws inside the window that go to those ids.
    """

    start_s: float
    duration_s: float
    multiplier: float
    focus_pool: str | None = None
    focus_keys: int = 5
    focus_share: float = 0.9

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and self.start_s >= 0):
            raise ConfigError("burst.start_s", f"must be >= 0, got {self.start_s!r}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ConfigError("burst.duration_s", f"must be > 0, got {self.duration_s!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier > 0):
            raise ConfigError("burst.multiplier", f"must be > 0, got {self.multiplier!r}")
        if self.focus_keys < 1:
            raise ConfigError("burst.focus_keys", f"must be >= 1, got {self.focus_keys!r}")
        if not 0.0 <= self.focus_share <= 1.0:
            raise ConfigError("burst.focus_share", f"must be in [0, 1], got {self.focus_share!r}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


#: One day in seconds: a :class:`Cycle`'s default period.
DAY_S = 86_400.0
#: Shortest cycle period accepted (a faster "cycle" is noise, and would cost a segment each).
MIN_PERIOD_S = 1.0
#: Thinning segments per cycle period: the rate's bound on a segment is then within
#: ``amplitude * (1 - cos(pi / 32))`` (< 0.5 %) of its maximum, so few candidates are dropped.
SEGMENTS_PER_PERIOD = 32
#: At most this many thinning segments per run (for periods far shorter than the run).
MAX_SEGMENTS = 4096


def _finite(name: str, value: object, accepted: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(name, f"must be {accepted}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Cycle:
    """A periodic rate multiplier ``1 + amplitude * cos(2 pi (t - peak_s) / period_s)``.

    A daily cycle by default: the rate peaks at ``peak_s`` (and every period after it) at
    ``1 + amplitude`` times the base rate and bottoms out half a period later at
    ``1 - amplitude`` times it; over whole periods its mean is the base rate.

    Attributes
    ----------
    amplitude:
        In [0, 1] (1: the rate touches zero at the trough).
    period_s:
        Seconds per cycle, >= :data:`MIN_PERIOD_S` (default one day).
    peak_s:
        Seconds from the run's start to a peak, >= 0 (e.g. ``14h``: a run starting at
        midnight peaks at 2 pm).
    """

    amplitude: float
    period_s: float = DAY_S
    peak_s: float = 0.0

    def __post_init__(self) -> None:
        a = _finite("cycle.amplitude", self.amplitude, "a number in [0, 1]")
        if not 0.0 <= a <= 1.0:
            raise ConfigError("cycle.amplitude", f"must be a number in [0, 1], got {a!r}")
        p = _finite("cycle.period_s", self.period_s, f"a number of seconds >= {MIN_PERIOD_S:g}")
        if p < MIN_PERIOD_S:
            raise ConfigError(
                "cycle.period_s", f"must be a number of seconds >= {MIN_PERIOD_S:g}, got {p!r}"
            )
        peak = _finite("cycle.peak_s", self.peak_s, "a number of seconds >= 0")
        if peak < 0:
            raise ConfigError("cycle.peak_s", f"must be a number of seconds >= 0, got {peak!r}")
        for name, v in (("amplitude", a), ("period_s", p), ("peak_s", peak)):
            object.__setattr__(self, name, v)

    def factor(self, t: FloatArray) -> FloatArray:
        """The multiplier at times ``t``."""
        phase = (2 * math.pi / self.period_s) * (np.asarray(t, dtype=np.float64) - self.peak_s)
        return np.asarray(1.0 + self.amplitude * np.cos(phase), dtype=np.float64)

    def bound(self, a: float, z: float) -> float:
        """The multiplier's maximum over [a, z]: at a peak inside it, else at an end."""
        next_peak = self.peak_s + math.ceil((a - self.peak_s) / self.period_s) * self.period_s
        if next_peak <= z:
            return 1.0 + self.amplitude
        return float(self.factor(np.array([a, z])).max())


@dataclass(frozen=True)
class Ramp:
    """A rate multiplier going linearly from ``start_multiplier`` to ``end_multiplier``.

    It holds ``start_multiplier`` before the window and ``end_multiplier`` after it (a ramp-up
    from 0.1 to 1 over the first ten minutes leaves the rate at its base afterwards).

    Attributes
    ----------
    start_s, duration_s:
        The window in simulated seconds from the run's start.
    start_multiplier, end_multiplier:
        The factor at the window's start and end, each >= 0, not both 0 (default end: 1).
    """

    start_s: float
    duration_s: float
    start_multiplier: float
    end_multiplier: float = 1.0

    def __post_init__(self) -> None:
        start = _finite("ramp.start_s", self.start_s, "a number of seconds >= 0")
        if start < 0:
            raise ConfigError("ramp.start_s", f"must be a number of seconds >= 0, got {start!r}")
        length = _finite("ramp.duration_s", self.duration_s, "a number of seconds > 0")
        if length <= 0:
            raise ConfigError("ramp.duration_s", f"must be a number of seconds > 0, got {length!r}")
        values = []
        for name in ("start_multiplier", "end_multiplier"):
            v = _finite(f"ramp.{name}", getattr(self, name), "a number >= 0")
            if v < 0:
                raise ConfigError(f"ramp.{name}", f"must be a number >= 0, got {v!r}")
            values.append(v)
        if values == [0.0, 0.0]:
            raise ConfigError(
                "ramp.end_multiplier", "start_multiplier and end_multiplier are both 0: no load"
            )
        for name, v in zip(
            ("start_s", "duration_s", "start_multiplier", "end_multiplier"),
            (start, length, *values),
            strict=True,
        ):
            object.__setattr__(self, name, v)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    def factor(self, t: FloatArray) -> FloatArray:
        """The multiplier at times ``t``."""
        xs, ys = [self.start_s, self.end_s], [self.start_multiplier, self.end_multiplier]
        return np.asarray(np.interp(np.asarray(t, dtype=np.float64), xs, ys), dtype=np.float64)

    def bound(self, a: float, z: float) -> float:
        """The multiplier's maximum over [a, z] (it is monotone: at an end)."""
        return float(self.factor(np.array([a, z])).max())


def validate_rate(rate: float, name: str = "rate") -> float:
    """Return ``rate`` as float, or raise ConfigError unless it is finite and > 0."""
    try:
        value = float(rate)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"must be a number > 0 (requests/s), got {rate!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be a number > 0 (requests/s), got {rate!r}")
    return value


def validate_duration(duration_s: float, name: str = "duration") -> float:
    """Return ``duration_s`` as float, or raise ConfigError unless it is finite and > 0."""
    try:
        value = float(duration_s)
    except (TypeError, ValueError) as exc:
        raise ConfigError(name, f"must be a number of seconds > 0, got {duration_s!r}") from exc
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(name, f"must be a number of seconds > 0, got {duration_s!r}")
    return value


def rate_pieces(
    rate: float, duration_s: float, bursts: Sequence[Burst] = ()
) -> list[tuple[float, float, float]]:
    """The piecewise-constant rate as ``(start, end, rate)`` pieces covering [0, duration).

    Overlapping bursts multiply.
    """
    rate = validate_rate(rate)
    duration_s = validate_duration(duration_s)
    edges = {0.0, duration_s}
    for b in bursts:
        edges.update(e for e in (b.start_s, b.end_s) if 0.0 < e < duration_s)
    cuts = sorted(edges)
    pieces = []
    for a, z in itertools.pairwise(cuts):
        mid = (a + z) / 2
        r = rate
        for b in bursts:
            if b.start_s <= mid < b.end_s:
                r *= b.multiplier
        pieces.append((a, z, r))
    return pieces


def iter_arrivals(
    rng: np.random.Generator,
    rate: float,
    duration_s: float,
    bursts: Sequence[Burst] = (),
    *,
    cycles: Sequence[Cycle] = (),
    ramps: Sequence[Ramp] = (),
) -> Iterator[FloatArray]:
    """Yield sorted arrays of arrival times (simulated seconds) covering [0, duration_s).

    Parameters
    ----------
    rng:
        Source of randomness (seed it from the run seed for determinism).
    rate:
        Base arrival rate in requests per simulated second.
    duration_s:
        Length of the run in simulated seconds.
    bursts:
        Windows where the rate is multiplied.
    cycles, ramps:
        Time-varying multipliers; with any, the process is drawn by thinning
        (:func:`iter_thinned`), otherwise exactly as before they existed.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.concatenate(list(iter_arrivals(rng, 100.0, 10.0)))
    >>> 800 < t.size < 1200 and bool((np.diff(t) >= 0).all())
    True
    """
    if cycles or ramps:
        yield from iter_thinned(rng, rate, duration_s, bursts, cycles, ramps)
        return
    for start, end, r in rate_pieces(rate, duration_s, bursts):
        length = end - start
        n_chunks = max(1, math.ceil(r * length / CHUNK_EVENTS))
        step = length / n_chunks
        for k in range(n_chunks):
            a = start + k * step
            z = end if k == n_chunks - 1 else a + step
            count = int(rng.poisson(r * (z - a)))
            if count == 0:
                continue
            times = rng.uniform(a, z, size=count)
            times.sort()
            yield times


def arrivals(
    rng: np.random.Generator,
    rate: float,
    duration_s: float,
    bursts: Sequence[Burst] = (),
    *,
    cycles: Sequence[Cycle] = (),
    ramps: Sequence[Ramp] = (),
) -> FloatArray:
    """All arrival times at once (see :func:`iter_arrivals`)."""
    parts = list(iter_arrivals(rng, rate, duration_s, bursts, cycles=cycles, ramps=ramps))
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)


def rate_at(
    t: npt.ArrayLike,
    rate: float,
    bursts: Sequence[Burst] = (),
    cycles: Sequence[Cycle] = (),
    ramps: Sequence[Ramp] = (),
) -> FloatArray:
    """The arrival rate at times ``t``: ``rate`` times every burst's, cycle's and ramp's factor.

    Examples
    --------
    >>> rate_at([0.0, 43_200.0], 100.0, cycles=[Cycle(0.5)]).tolist()
    [150.0, 50.0]
    """
    times = np.asarray(t, dtype=np.float64)
    out = np.full(times.shape, float(rate))
    for b in bursts:
        out[(times >= b.start_s) & (times < b.end_s)] *= b.multiplier
    for c in cycles:
        out *= c.factor(times)
    for r in ramps:
        out *= r.factor(times)
    return out


def _pieces(
    duration_s: float, bursts: Sequence[Burst], cycles: Sequence[Cycle], ramps: Sequence[Ramp]
) -> list[tuple[float, float, int]]:
    """``(start, end, segments)``: pieces of [0, duration) between burst and ramp edges (where
    the rate has a kink or a jump), each to be cut into that many equal segments (cycles: at
    most a 32nd of the shortest period, and :data:`MAX_SEGMENTS` per run)."""
    edges = {0.0, duration_s}
    windows = [(b.start_s, b.end_s) for b in bursts] + [(r.start_s, r.end_s) for r in ramps]
    for start, end in windows:
        edges.update(e for e in (start, end) if 0.0 < e < duration_s)
    step = math.inf
    if cycles:
        shortest = min(c.period_s for c in cycles)
        step = max(shortest / SEGMENTS_PER_PERIOD, duration_s / MAX_SEGMENTS)
    return [
        (a, z, max(1, math.ceil((z - a) / step)) if math.isfinite(step) else 1)
        for a, z in itertools.pairwise(sorted(edges))
    ]


def iter_thinned(
    rng: np.random.Generator,
    rate: float,
    duration_s: float,
    bursts: Sequence[Burst] = (),
    cycles: Sequence[Cycle] = (),
    ramps: Sequence[Ramp] = (),
) -> Iterator[FloatArray]:
    """Sorted arrival times of the non-homogeneous process with :func:`rate_at`'s rate.

    Exact thinning: each segment (:func:`_pieces`) draws a homogeneous Poisson process at an
    upper bound ``M`` of the rate on it (the product of each factor's maximum there), in
    chunks of at most :data:`CHUNK_EVENTS` expected candidates, and keeps a candidate at ``t``
    with probability ``rate(t) / M``. The segments and chunks depend on the parameters only,
    so a seed gives the same times.
    """
    rate = validate_rate(rate)
    duration_s = validate_duration(duration_s)
    for start, end, n in _pieces(duration_s, bursts, cycles, ramps):
        mid = (start + end) / 2
        base = rate * math.prod(b.multiplier for b in bursts if b.start_s <= mid < b.end_s)
        width = (end - start) / n
        for i in range(n):
            a = start + i * width
            z = end if i == n - 1 else a + width
            bound = base * math.prod(c.bound(a, z) for c in cycles)
            bound *= math.prod(r.bound(a, z) for r in ramps)
            if bound <= 0:
                continue
            n_chunks = max(1, math.ceil(bound * (z - a) / CHUNK_EVENTS))
            step = (z - a) / n_chunks
            for k in range(n_chunks):
                ca = a + k * step
                cz = z if k == n_chunks - 1 else ca + step
                count = int(rng.poisson(bound * (cz - ca)))
                if count == 0:
                    continue
                times = rng.uniform(ca, cz, size=count)
                keep = rng.random(count) * bound < rate_at(times, rate, bursts, cycles, ramps)
                times = times[keep]
                if times.size:
                    times.sort()
                    yield times


#: Gauss-Legendre nodes per segment of :func:`expected_arrivals` (exact for the ramps'
#: polynomials, and to ~1e-15 for a 32nd of a cosine's period).
_GAUSS = np.polynomial.legendre.leggauss(8)


def expected_arrivals(
    rate: float,
    duration_s: float,
    bursts: Sequence[Burst] = (),
    cycles: Sequence[Cycle] = (),
    ramps: Sequence[Ramp] = (),
) -> float:
    """The expected number of arrivals over [0, duration): the rate's integral.

    Piecewise constant (no cycle or ramp): the pieces' rate times length; otherwise
    Gauss-Legendre quadrature on segments of at most a 32nd of the shortest period, between
    the burst and ramp edges.

    Examples
    --------
    >>> expected_arrivals(10.0, 100.0, [Burst(50.0, 10.0, 3.0)])
    1200.0
    >>> round(expected_arrivals(10.0, 86_400.0, cycles=[Cycle(0.8)]), 6)
    864000.0
    """
    rate = validate_rate(rate)
    duration_s = validate_duration(duration_s)
    if not cycles and not ramps:
        return float(sum(r * (z - a) for a, z, r in rate_pieces(rate, duration_s, bursts)))
    nodes, weights = _GAUSS
    total = 0.0
    shortest = min((c.period_s for c in cycles), default=math.inf)
    for start, end, _ in _pieces(duration_s, bursts, cycles, ramps):
        n = max(1, math.ceil((end - start) * SEGMENTS_PER_PERIOD / shortest)) if cycles else 1
        for lo in range(0, n, 65_536):  # blocks of segments: memory stays bounded
            hi = min(n, lo + 65_536)
            a = start + (end - start) * np.arange(lo, hi) / n
            z = start + (end - start) * np.arange(lo + 1, hi + 1) / n
            half = (z - a)[:, None] / 2
            t = (a + z)[:, None] / 2 + half * nodes[None, :]
            total += float((rate_at(t, rate, bursts, cycles, ramps) * half * weights).sum())
    return total
