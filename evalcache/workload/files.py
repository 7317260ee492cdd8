"""Workloads as data: a :class:`WorkloadSpec` read from (and written to) a YAML mapping.

A workload file holds the spec's own fields under their own names (``name``, ``description``,
``operations``, ``write_ratio``, ``popularity``, ``rate``, ``duration_s``, ``bursts``,
``cycles``, ``ramps``, ``clients``, ``think_time_s``, ``think``, ``batch_size``, ``cold_start``,
``key_space``, ``record_count``, ``max_scan_length``); ``popularity`` maps a pool to ``{kind,
theta}`` and ``bursts``, ``cycles`` and ``ramps`` are lists of mappings with their classes'
fields. Fields left out take the spec's defaults (``name``: the file's stem). Seconds (``*_s``)
may be written as numbers or as text such as ``90s``, ``15m``, ``14h``. Every problem is a
:class:`~evalcache.errors.ConfigError` naming the field by its path (``bursts[1].multiplier``)
and what is accepted; unknown keys are refused with the list of known ones.

Instead, a file may hold ``ycsb:``, a mapping of YCSB property names
(``evalcache.workload.ycsb.from_properties``); fields given beside it replace what the
properties give.

Example::

    name: diurnal
    operations: {read:user_profile: 9, write:user_profile: 1}
    write_ratio: 0.1
    rate: 200
    duration_s: 24h
    cycles: [{amplitude: 0.6, period_s: 24h, peak_s: 14h}]
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload.arrivals import Burst, Cycle, Ramp
from evalcache.workload.popularity import PopularitySpec
from evalcache.workload.spec import OPERATIONS, POOLS, WorkloadSpec, parse_duration

#: A ``workload`` value ending so (any case) is a workload file's path, not a name.
WORKLOAD_FILE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml")
#: The key of the YCSB form.
YCSB_KEY = "ycsb"
#: Fields given as lists of mappings, and the class of each item.
_ITEMS: dict[str, type[Any]] = {"bursts": Burst, "cycles": Cycle, "ramps": Ramp}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def spec_fields() -> tuple[str, ...]:
    """The keys a workload mapping accepts (besides ``ycsb``): the spec's fields."""
    return tuple(f.name for f in dataclasses.fields(WorkloadSpec))


def is_workload_file(value: Any) -> bool:
    """True when a ``workload`` value names a file (a string ending in .yaml or .yml)."""
    return isinstance(value, str) and value.lower().endswith(WORKLOAD_FILE_SUFFIXES)


def read_workload_file(path: str | Path) -> dict[str, Any]:
    """The mapping a workload file holds, ``name`` defaulting to the file's stem.

    Only reads: :func:`workload_from_mapping` validates.
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            "workload",
            f"cannot read workload file {str(path)!r} ({exc.strerror}); accepted: a workload "
            f"name, or the path of a YAML file ({', '.join(WORKLOAD_FILE_SUFFIXES)})",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError("workload", f"{str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(
            "workload",
            f"{str(path)!r} must hold a mapping of workload fields "
            f"({', '.join(spec_fields())}) or {YCSB_KEY}:, got {type(data).__name__}",
        )
    return {"name": p.stem, **data}


def load_workload(path: str | Path) -> WorkloadSpec:
    """The workload a YAML file defines (validated)."""
    return workload_from_mapping(read_workload_file(path), source=str(path))


def workload_from_mapping(data: Any, source: str = "") -> WorkloadSpec:
    """Validate a workload mapping (a file's contents) and build its spec.

    ``source`` (a file name) is added to error messages.
    """
    where = f" (workload file {source})" if source else ""
    try:
        return _build(data)
    except ConfigError as exc:
        if not where or where in str(exc):
            raise
        raise ConfigError(exc.name, f"{str(exc).split(': ', 1)[-1]}{where}") from None


def _build(data: Any) -> WorkloadSpec:
    fields = spec_fields()
    if not isinstance(data, Mapping):
        raise ConfigError(
            "workload", f"must be a mapping with keys {', '.join(fields)}, got {data!r}"
        )
    accepted = (*fields, YCSB_KEY)
    unknown = sorted(str(k) for k in data if k not in accepted)
    if unknown:
        raise ConfigError(
            unknown[0],
            f"unknown workload key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"accepted: {', '.join(accepted)}",
        )
    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(
            "name",
            f"must be 1-80 characters of [A-Za-z0-9_.-] starting with a letter or digit, "
            f"got {name!r}",
        )
    kw = {k: _field(k, v) for k, v in data.items() if k not in ("name", YCSB_KEY)}
    if YCSB_KEY in data:
        return dataclasses.replace(_from_ycsb(data[YCSB_KEY], name), **kw)
    if "operations" not in kw:
        raise ConfigError(
            "operations",
            f"is required: a mapping operation -> weight > 0 (or give {YCSB_KEY}: properties); "
            f"operations: {', '.join(OPERATIONS)}",
        )
    try:
        return WorkloadSpec(name=name, **kw)
    except UnknownNameError as exc:  # the checks above name pools and operations first
        raise ConfigError(exc.kind.replace(" ", "_"), str(exc)) from None


def _from_ycsb(props: Any, name: str) -> WorkloadSpec:
    if not isinstance(props, Mapping):
        raise ConfigError(
            YCSB_KEY, f"must be a mapping of YCSB property names to values, got {props!r}"
        )
    try:
        ycsb = importlib.import_module("evalcache.workload.ycsb")  # written apart; may be absent
    except ModuleNotFoundError as exc:
        if exc.name != "evalcache.workload.ycsb":
            raise
        raise ConfigError(
            YCSB_KEY,
            "YCSB properties need evalcache.workload.ycsb, which this version of evalcache "
            "does not have; accepted here: the workload's own fields "
            f"({', '.join(spec_fields())})",
        ) from None
    spec = ycsb.from_properties(dict(props), name)
    if not isinstance(spec, WorkloadSpec):  # pragma: no cover - the module's contract
        raise ConfigError(YCSB_KEY, f"from_properties returned {type(spec).__name__}")
    return spec


def _field(key: str, value: Any) -> Any:
    if key == "operations":
        return _operations(value)
    if key == "popularity":
        return _popularity(value)
    if key == "op_popularity":
        return _op_popularity(value)
    if key in _ITEMS:
        return _items(key, value, _ITEMS[key])
    hint = {f.name: str(f.type) for f in dataclasses.fields(WorkloadSpec)}[key]
    return _typed(key, key, value, hint)


def _typed(path: str, name: str, value: Any, hint: str) -> Any:
    """``value`` checked against a field's annotation (as text): numbers, seconds, flags."""
    if value is None and "None" in hint:
        return None
    if "float" in hint:
        if name.endswith("_s") and isinstance(value, str):
            return parse_duration(value, path)
        if isinstance(value, bool) or not isinstance(value, int | float):
            what = "a number of seconds or text such as '90s', '15m', '14h'"
            what = what if name.endswith("_s") else "a number"
            raise ConfigError(path, f"must be {what}, got {value!r}")
        return float(value)
    if hint.startswith("int"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, f"must be an integer, got {value!r}")
        return value
    if hint == "bool":
        if not isinstance(value, bool):
            raise ConfigError(path, f"must be true or false, got {value!r}")
        return value
    if hint.startswith("str") or hint.endswith("Kind"):
        if not isinstance(value, str):
            raise ConfigError(path, f"must be a string, got {value!r}")
        return value
    return value


def _operations(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            "operations", f"must be a non-empty mapping operation -> weight > 0, got {value!r}"
        )
    out: dict[str, float] = {}
    for op, w in value.items():
        path = f"operations[{op!r}]"
        if op not in OPERATIONS:
            raise ConfigError(path, f"unknown operation; accepted: {', '.join(OPERATIONS)}")
        weight = _typed(path, "weight", w, "float")
        if not weight > 0:
            raise ConfigError(path, f"weight must be > 0, got {w!r}")
        out[str(op)] = weight
    return out


def _popularity(value: Any) -> dict[str, PopularitySpec]:
    return _popularity_map("popularity", value, POOLS, "pool", "id pool")


def _op_popularity(value: Any) -> dict[str, PopularitySpec]:
    return _popularity_map("op_popularity", value, tuple(OPERATIONS), "operation", "operation")


def _popularity_map(
    key: str, value: Any, known: tuple[str, ...], what: str, unknown: str
) -> dict[str, PopularitySpec]:
    """``{name: {kind, theta}}`` with each name one of ``known``; errors name ``key[name]``."""
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"must be a mapping {what} -> {{kind, theta}}, got {value!r}")
    out: dict[str, PopularitySpec] = {}
    for name, spec in value.items():
        path = f"{key}[{name!r}]"
        if name not in known:
            raise ConfigError(path, f"unknown {unknown}; accepted: {', '.join(known)}")
        out[str(name)] = _item(path, spec, PopularitySpec)
    return out


def _items(key: str, value: Any, cls: type[Any]) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(key, f"must be a list of mappings with keys {_keys(cls)}, got {value!r}")
    return tuple(_item(f"{key}[{i}]", v, cls) for i, v in enumerate(value))


def _keys(cls: type[Any]) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _item(path: str, value: Any, cls: type[Any]) -> Any:
    """One burst, cycle, ramp or pool popularity from its mapping; errors name ``path.field``."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"must be a mapping with keys {_keys(cls)}, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in fields)
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}", f"unknown key; accepted: {_keys(cls)}")
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if no_default and name not in value:
            raise ConfigError(f"{path}.{name}", f"is required; keys: {_keys(cls)}")
    if cls is Burst and value.get("focus_pool") not in (None, *POOLS):
        raise ConfigError(f"{path}.focus_pool", f"unknown id pool; accepted: {', '.join(POOLS)}")
    kw = {k: _typed(f"{path}.{k}", str(k), v, str(fields[k].type)) for k, v in value.items()}
    try:
        return cls(**kw)
    except UnknownNameError as exc:  # a popularity kind
        raise ConfigError(f"{path}.kind", str(exc)) from None
    except ConfigError as exc:
        # the class names its field as "burst.multiplier", "skew" (a theta)...
        field = exc.name.rsplit(".", 1)[-1]
        field = "theta" if field == "skew" and "theta" in fields else field
        msg = str(exc).split(": ", 1)[-1]
        raise ConfigError(f"{path}.{field}" if field in fields else path, msg) from None


def workload_to_mapping(spec: WorkloadSpec) -> dict[str, Any]:
    """``spec`` as the mapping a workload file holds (every field; JSON/YAML literals).

    :func:`workload_from_mapping` gives back an equal spec.
    """
    return {f.name: _plain(getattr(spec, f.name)) for f in dataclasses.fields(spec)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def dump_workload(spec: WorkloadSpec) -> str:
    """``spec`` as the YAML text of a workload file."""
    return yaml.safe_dump(workload_to_mapping(spec), sort_keys=False, allow_unicode=True)
