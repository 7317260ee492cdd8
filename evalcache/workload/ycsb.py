"""YCSB's core workload, from its own property names.

:func:`from_properties` turns the properties of a YCSB workload file (``workloads/workloada``
and its kin: ``recordcount``, ``operationcount``, the five proportions, ``requestdistribution``,
``maxscanlength``, ``target``) into a :class:`~evalcache.workload.spec.WorkloadSpec` over the
marketplace's users, with YCSB's semantics:

- a record is a user and its profile (``read:user_profile``, ``write:user_profile``); an
  insert adds a user with its profile, preferences and verification rows
  (``write:insert_user``); a scan reads ``1..maxscanlength`` consecutive users from its start
  (``read:user_profiles_scan``); a read-modify-write is one request, read then update
  (``write:rmw_user_profile``);
- the table is the users pool in id order (YCSB's insertion order), cut to the first
  ``recordcount`` users;
- ``zipfian`` is YCSB's scrambled Zipfian (:mod:`evalcache.workload.scrambled`), ``latest``
  favours the newest users including those inserted so far, ``uniform`` draws over the initial
  records, as YCSB's ``CoreWorkload`` does;
- ``target`` is the arrival rate (YCSB's throughput target; an open loop here) and
  ``operationcount / target`` the duration.

``zipfianconstant`` is the Zipfian theta (YCSB's ``ZipfianGenerator.ZIPFIAN_CONSTANT``, 0.99);
a value other than 0.99 needs a zeta YCSB does not precompute (here: Euler-Maclaurin).

Examples
--------
>>> spec = from_properties({"readproportion": 0.5, "updateproportion": 0.5,
...                         "requestdistribution": "zipfian"}, name="a")
>>> spec.write_ratio, spec.popularity_of("users").kind
(0.5, 'scrambled_zipf')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from evalcache.domain.families import MAX_SCAN_LENGTH
from evalcache.errors import ConfigError
from evalcache.workload.popularity import DEFAULT_THETA, PopularitySpec
from evalcache.workload.scrambled import check_theta
from evalcache.workload.spec import WorkloadSpec

#: Proportion property -> (operation, CoreWorkload's default).
PROPORTIONS: dict[str, tuple[str, float]] = {
    "readproportion": ("read:user_profile", 0.95),
    "updateproportion": ("write:user_profile", 0.05),
    "insertproportion": ("write:insert_user", 0.0),
    "scanproportion": ("read:user_profiles_scan", 0.0),
    "readmodifywriteproportion": ("write:rmw_user_profile", 0.0),
}
#: ``requestdistribution`` -> popularity kind of the users pool.
DISTRIBUTIONS: dict[str, str] = {
    "uniform": "uniform",
    "zipfian": "scrambled_zipf",
    "latest": "latest",
}
#: YCSB properties that shape records, fields or the client, which a user's profile fixes here.
IGNORED: frozenset[str] = frozenset(
    {
        "workload", "db", "table", "fieldcount", "fieldlength", "minfieldlength",
        "fieldlengthdistribution", "fieldnameprefix", "readallfields", "readallfieldsbyname",
        "writeallfields", "insertorder", "zeropadding", "dataintegrity", "threadcount",
        "measurementtype", "status.interval",
    }
)  # fmt: skip
ACCEPTED: tuple[str, ...] = (
    "recordcount",
    "operationcount",
    *PROPORTIONS,
    "requestdistribution",
    "zipfianconstant",
    "maxscanlength",
    "minscanlength",
    "scanlengthdistribution",
    "target",
)
#: Arrival rate without ``target`` (YCSB would run as fast as it can; an open loop needs one).
DEFAULT_TARGET = 500.0
#: CoreWorkload's ``maxscanlength`` default.
DEFAULT_MAX_SCAN_LENGTH = 1000


def _number(props: Mapping[str, Any], name: str, default: float) -> float:
    value = props.get(name, default)
    try:
        if isinstance(value, bool):
            raise TypeError
        out = float(value)  # a properties file gives strings
    except (TypeError, ValueError):
        raise ConfigError(name, f"must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise ConfigError(name, f"must be a finite number, got {value!r}")
    return out


def _count(props: Mapping[str, Any], name: str, default: int | None) -> int | None:
    value = props.get(name, default)
    if value is None:
        return None
    try:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        out = int(value)
    except (TypeError, ValueError):
        raise ConfigError(name, f"must be an integer >= 1, got {value!r}") from None
    if out < 1:
        raise ConfigError(name, f"must be an integer >= 1, got {value!r}")
    return out


def from_properties(props: Mapping[str, Any], name: str = "ycsb") -> WorkloadSpec:
    """A workload from YCSB core-workload properties (module docstring).

    Parameters
    ----------
    props:
        Property name -> value (numbers, or strings as a properties file has them). Absent
        proportions take CoreWorkload's defaults (read 0.95, update 0.05, the rest 0); they
        must sum to 1. ``recordcount`` absent: every user of the pool. ``operationcount``
        absent: the default duration. Properties of the record layout (``fieldcount``,
        ``readallfields``...) are ignored: a record is a user's profile.
    name:
        The workload's name.

    Raises
    ------
    ConfigError
        A property is unknown or out of range; the message names it and what is accepted.
        ``recordcount`` above the users pool is refused when the stream is built (the pool
        depends on the scale).
    """
    if not isinstance(props, Mapping):
        raise ConfigError("ycsb", f"must be a mapping of YCSB properties, got {props!r}")
    for key in props:
        if key not in ACCEPTED and key not in IGNORED:
            raise ConfigError(
                str(key),
                f"not a YCSB core-workload property this workbench knows; accepted: "
                f"{', '.join(ACCEPTED)} (ignored: {', '.join(sorted(IGNORED))})",
            )
    shares = {prop: _number(props, prop, default) for prop, (_, default) in PROPORTIONS.items()}
    for prop, share in shares.items():
        if not 0.0 <= share <= 1.0:
            raise ConfigError(prop, f"must be in [0, 1], got {props.get(prop)!r}")
    total = sum(shares.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        terms = " + ".join(
            f"{p} {s:g}" + ("" if p in props else " (default)") for p, s in shares.items()
        )
        raise ConfigError("proportions", f"must sum to 1: {terms} = {total:g}")
    dist = str(props.get("requestdistribution", "uniform"))
    if dist not in DISTRIBUTIONS:
        raise ConfigError(
            "requestdistribution",
            f"{dist!r} is not supported; accepted: {', '.join(DISTRIBUTIONS)} "
            "(hotspot, exponential and sequential are not implemented)",
        )
    theta = _number(props, "zipfianconstant", DEFAULT_THETA)
    check_theta(theta, "zipfianconstant")
    if _count(props, "minscanlength", 1) != 1:
        raise ConfigError("minscanlength", f"only 1 is accepted, got {props['minscanlength']!r}")
    if str(props.get("scanlengthdistribution", "uniform")) != "uniform":
        raise ConfigError(
            "scanlengthdistribution",
            f"{props['scanlengthdistribution']!r} is not supported; accepted: uniform",
        )
    max_scan = _count(props, "maxscanlength", DEFAULT_MAX_SCAN_LENGTH)
    assert max_scan is not None
    if max_scan > MAX_SCAN_LENGTH:
        raise ConfigError("maxscanlength", f"must be <= {MAX_SCAN_LENGTH}, got {max_scan}")
    target = _number(props, "target", DEFAULT_TARGET)
    if target <= 0:
        raise ConfigError("target", f"must be > 0 operations per second, got {target!r}")
    records = _count(props, "recordcount", None)
    operations = _count(props, "operationcount", None)
    ops = {PROPORTIONS[p][0]: s for p, s in shares.items() if s > 0}
    writes = min(1.0, sum(s for p, s in shares.items() if PROPORTIONS[p][0].startswith("write:")))
    kind = DISTRIBUTIONS[dist]
    extra: dict[str, Any] = {}
    if operations is not None:
        extra["duration_s"] = operations / target
    mix = ", ".join(f"{p.removesuffix('proportion')} {s:g}" for p, s in shares.items() if s > 0)
    return WorkloadSpec(
        name=name,
        operations=ops,
        write_ratio=writes,
        popularity={"users": PopularitySpec(kind, theta)},  # type: ignore[arg-type]
        rate=target,
        key_space="ycsb",
        record_count=records,
        max_scan_length=max_scan,
        description=f"YCSB core workload: {mix}; {dist} keys over the users",
        **extra,
    )
