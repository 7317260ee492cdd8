"""The experiment runner: a run = parameters -> measured, saved results.

Examples
--------
>>> from evalcache.runner import validate_params
>>> validate_params({"workload": "browse", "strategy": "ttl", "ttl_scale": 0.5})["ttl_scale"]
0.5
>>> from evalcache.runner import run                                       # doctest: +SKIP
>>> result = run({"workload": "mixed", "duration_s": "10m"}, out=Path("runs"))  # doctest: +SKIP
"""

from __future__ import annotations

from evalcache.runner.core import execute, forget_baselines, run
from evalcache.runner.params import (
    MODES,
    PARAM_NAMES,
    REFRESH,
    STAMPEDE,
    RunParams,
    parse_params,
    strategy_names,
    validate_params,
)

__all__ = [
    "MODES",
    "PARAM_NAMES",
    "REFRESH",
    "STAMPEDE",
    "RunParams",
    "execute",
    "forget_baselines",
    "parse_params",
    "run",
    "strategy_names",
    "validate_params",
]
