"""How far a measured share can be trusted: a one-sided upper confidence bound.

A stale-read rate of 0 out of 200 checks and 0 out of 200,000 are both "0 %", yet only the
second supports "at most 0.002 % of reads are stale". The summary states both the point
estimate and this bound.

The bound is Wilson's score bound, computed with the standard library. The exact
(Clopper-Pearson) bound needs the beta distribution's quantile, i.e. scipy, which evalcache does
not depend on; pulling it in for one number is not worth it. Wilson's bound is slightly below
the exact one at zero events (0 of 1000 at 95 %: 0.0027 against 0.0030), and its coverage is
close to nominal across the range, unlike the normal approximation, which gives 0 at zero
events.
"""

from __future__ import annotations

import math
import operator
from statistics import NormalDist

from evalcache.errors import ConfigError


def _count(name: str, value: int) -> int:
    # operator.index takes Python and numpy integers and refuses floats; a bool is no count.
    try:
        count = operator.index(value)
    except TypeError:
        count = -1
    if isinstance(value, bool) or count < 0:
        raise ConfigError(name, f"{value!r} is not a count (an integer >= 0)")
    return count


def wilson_upper(events: int, trials: int, confidence: float = 0.95) -> float | None:
    """One-sided upper confidence bound of the share ``events / trials`` (Wilson score).

    The largest share ``p`` that the observed count does not reject at level
    ``1 - confidence``: the upper root of ``(events/trials - p)² = z² p (1 - p) / trials``,
    ``z`` the standard normal quantile of ``confidence`` (1.645 for 0.95).

    Returns ``None`` when ``trials`` is 0 (nothing was measured).

    Examples
    --------
    >>> round(wilson_upper(0, 1000), 5)  # z² / (n + z²)
    0.0027
    >>> wilson_upper(0, 0) is None
    True
    """
    k, n_ = _count("events", events), _count("trials", trials)
    if n_ < k:
        raise ConfigError("trials", f"{trials!r} is fewer than events ({events!r})")
    if not 0.0 < confidence < 1.0:
        raise ConfigError("confidence", f"{confidence!r} is not strictly between 0 and 1")
    if n_ == 0:
        return None
    z = NormalDist().inv_cdf(confidence)
    n, p = float(n_), k / n_
    z2n = z * z / n
    centre = p + z2n / 2.0
    spread = z * math.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    return min(1.0, (centre + spread) / (1.0 + z2n))
