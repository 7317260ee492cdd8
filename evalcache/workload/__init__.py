"""Workloads: named request mixes over the database's real ids, deterministic for a seed.

Examples
--------
>>> import numpy as np
>>> from evalcache.workload import WorkloadGenerator, get_workload
>>> spec = get_workload("profile", rate=20)
>>> gen = WorkloadGenerator(spec, {"users": np.arange(1, 101)}, seed=7, duration="1m")
>>> first = next(iter(gen))
>>> first.op.startswith(("read:", "write:"))
True
"""

from __future__ import annotations

from evalcache.workload.arrivals import (
    Burst,
    Cycle,
    Ramp,
    arrivals,
    expected_arrivals,
    iter_arrivals,
    rate_at,
    rate_pieces,
)
from evalcache.workload.files import load_workload, workload_from_mapping, workload_to_mapping
from evalcache.workload.generator import Request, RequestBatch, WorkloadGenerator, stream_digest
from evalcache.workload.popularity import (
    DEFAULT_THETA,
    POPULARITY_KINDS,
    Popularity,
    PopularitySpec,
    zipf_probabilities,
)
from evalcache.workload.scenarios import (
    DEFAULT_WORKLOAD,
    WORKLOADS,
    get_workload,
    workload_names,
)
from evalcache.workload.spec import (
    FAMILIES,
    OPERATIONS,
    OVERRIDABLE,
    POOLS,
    Operation,
    WorkloadSpec,
    parse_duration,
)

__all__ = [
    "DEFAULT_THETA",
    "DEFAULT_WORKLOAD",
    "FAMILIES",
    "OPERATIONS",
    "OVERRIDABLE",
    "POOLS",
    "POPULARITY_KINDS",
    "WORKLOADS",
    "Burst",
    "Cycle",
    "Operation",
    "Popularity",
    "PopularitySpec",
    "Ramp",
    "Request",
    "RequestBatch",
    "WorkloadGenerator",
    "WorkloadSpec",
    "arrivals",
    "expected_arrivals",
    "get_workload",
    "iter_arrivals",
    "load_workload",
    "parse_duration",
    "rate_at",
    "rate_pieces",
    "stream_digest",
    "workload_from_mapping",
    "workload_names",
    "workload_to_mapping",
    "zipf_probabilities",
]
