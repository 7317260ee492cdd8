"""Commit-to-invalidation delays in virtual time: ``notify_lag`` and ``invalidation_delay``.

Both run parameters take the same literal (what papermill or YAML can pass), in milliseconds:

- a number ``x >= 0``: every delay is ``x`` ms (``0``, the default: no delay);
- ``{dist: fixed, mean_ms: x}``: the same as ``x``;
- ``{dist: exponential, mean_ms: m}``: exponential with mean ``m > 0`` (a memoryless listener);
- ``{dist: uniform, low_ms: a, high_ms: b}``: uniform on ``[a, b]``, ``0 <= a <= b``;
- ``{dist: lognormal, mean_ms: m, sigma: s}``: log-normal with mean ``m > 0`` and shape
  ``s >= 0`` (default 1.0): mostly short, with a long tail (a listener that stalls now and then).

Every value is at most :data:`MAX_MS`. :func:`parse_delay` checks a literal and returns a
:class:`Delay`; :meth:`Delay.as_param` is its normalised literal (a number when fixed).

:class:`evalcache.runner.overlap.DeferredInvalidation` applies them in a run with
``concurrency: overlap``: a committed write's invalidation runs in a simulation process at
commit + a seeded draw, so readers in between are served the entry the write made stale, and
the invalidation's Redis commands and SQL look-ups take service time like any other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evalcache.errors import ConfigError

#: Distributions a delay may follow, and the keys each takes besides ``dist``.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "fixed": ("mean_ms",),
    "exponential": ("mean_ms",),
    "uniform": ("low_ms", "high_ms"),
    "lognormal": ("mean_ms", "sigma"),
}
#: The longest delay (and mean) accepted, in milliseconds: one hour.
MAX_MS = 3_600_000.0
LOGNORMAL_SIGMA = 1.0
ACCEPTED = (
    "a number of milliseconds >= 0, or a mapping {dist: fixed|exponential, mean_ms: m}, "
    "{dist: uniform, low_ms: a, high_ms: b} or {dist: lognormal, mean_ms: m, sigma: s}"
)


@dataclass(frozen=True)
class Delay:
    """A delay distribution in milliseconds (see the module docstring)."""

    dist: str = "fixed"
    mean_ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    sigma: float = LOGNORMAL_SIGMA

    @property
    def zero(self) -> bool:
        """Every draw is 0 (the default: no delay)."""
        return self.dist == "fixed" and self.mean_ms == 0.0

    def as_param(self) -> float | dict[str, Any]:
        """The normalised literal: a number when fixed, else the mapping with its keys."""
        if self.dist == "fixed":
            return self.mean_ms
        out: dict[str, Any] = {"dist": self.dist}
        out.update({k: getattr(self, k) for k in DISTRIBUTIONS[self.dist]})
        return out

    def describe(self) -> str:
        """The distribution in words, for a run's time model."""
        if self.dist == "fixed":
            return f"fixed {self.mean_ms:g} ms"
        if self.dist == "exponential":
            return f"exponential, mean {self.mean_ms:g} ms"
        if self.dist == "uniform":
            return f"uniform {self.low_ms:g}-{self.high_ms:g} ms"
        return f"log-normal, mean {self.mean_ms:g} ms, sigma {self.sigma:g}"

    def sampler(self, seed: Sequence[int]) -> Callable[[], float]:
        """Seeded draws in seconds, one per call (the same seed gives the same sequence)."""
        rng = np.random.default_rng(list(seed))
        mean_s, low_s, high_s = self.mean_ms / 1000, self.low_ms / 1000, self.high_ms / 1000
        if self.dist == "fixed":
            return lambda: mean_s
        if self.dist == "exponential":
            return lambda: float(rng.exponential(mean_s))
        if self.dist == "uniform":
            return lambda: float(rng.uniform(low_s, high_s))
        sigma = self.sigma  # mean-preserving: E[exp(N(mu, sigma))] = mean
        mu = math.log(mean_s) - sigma * sigma / 2
        return lambda: float(rng.lognormal(mu, sigma))


def _ms(name: str, key: str, value: Any, *, positive: bool) -> float:
    where = f"{name}.{key}" if key else name
    what = f"a number {'>' if positive else '>='} 0 and <= {MAX_MS:.0f} (milliseconds, one hour)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, f"must be {what}, got {value!r}; accepted: {ACCEPTED}")
    v = float(value)
    if not math.isfinite(v) or v > MAX_MS or (v <= 0 if positive else v < 0):
        raise ConfigError(where, f"must be {what}, got {value!r}")
    return v


def parse_delay(name: str, value: Any) -> Delay:
    """Check the delay literal of parameter ``name``; :class:`~evalcache.errors.ConfigError`
    naming the parameter (and key) and what is accepted otherwise.

    Examples
    --------
    >>> parse_delay("notify_lag", 50).as_param()
    50.0
    >>> parse_delay("notify_lag", {"dist": "exponential", "mean_ms": 50}).describe()
    'exponential, mean 50 ms'
    """
    if not isinstance(value, Mapping):
        return Delay(mean_ms=_ms(name, "", value, positive=False))
    dist = value.get("dist")
    if dist not in DISTRIBUTIONS:
        raise ConfigError(
            f"{name}.dist", f"{dist!r} is not accepted; accepted: {', '.join(DISTRIBUTIONS)}"
        )
    keys = DISTRIBUTIONS[str(dist)]
    unknown = sorted(str(k) for k in value if k != "dist" and k not in keys)
    if unknown:
        raise ConfigError(
            f"{name}.{unknown[0]}", f"not a key of {dist!r}; accepted: dist, {', '.join(keys)}"
        )
    optional = {"sigma"}
    missing = [k for k in keys if k not in value and k not in optional]
    if missing:
        raise ConfigError(f"{name}.{missing[0]}", f"{dist!r} needs {', '.join(keys)}")
    if dist == "fixed":
        return Delay(mean_ms=_ms(name, "mean_ms", value["mean_ms"], positive=False))
    if dist == "exponential":
        return Delay("exponential", mean_ms=_ms(name, "mean_ms", value["mean_ms"], positive=True))
    if dist == "uniform":
        low = _ms(name, "low_ms", value["low_ms"], positive=False)
        high = _ms(name, "high_ms", value["high_ms"], positive=False)
        if high < low:
            raise ConfigError(f"{name}.high_ms", f"must be >= low_ms ({low:g}), got {high:g}")
        return Delay(mean_ms=low) if high == low else Delay("uniform", low_ms=low, high_ms=high)
    sigma = value.get("sigma", LOGNORMAL_SIGMA)
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0 <= sigma <= 5:
        raise ConfigError(f"{name}.sigma", f"must be a number in [0, 5], got {sigma!r}")
    mean = _ms(name, "mean_ms", value["mean_ms"], positive=True)
    return Delay("lognormal", mean_ms=mean, sigma=float(sigma))
