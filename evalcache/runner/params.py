"""Run parameters: validated, normalised, and stated in every summary.

Notebooks and sweeps pass plain literals (papermill can inject nothing else), so a run is
described by a mapping; :func:`validate_params` checks every entry before anything touches a
server and returns the normalised mapping that ends up in ``summary["params"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from evalcache.domain.readspecs import TTLSettings
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.runner.delays import Delay, parse_delay
from evalcache.strategies import strategy_class
from evalcache.strategies import strategy_names as registry_names
from evalcache.strategies.notify import NotifyStrategy
from evalcache.workload import WorkloadSpec, get_workload, parse_duration, workload_names
from evalcache.workload.files import (
    WORKLOAD_FILE_SUFFIXES,
    is_workload_file,
    read_workload_file,
    workload_from_mapping,
    workload_to_mapping,
)
from evalcache.workload.spec import MAX_CLIENTS, THINK_KINDS
from evalcache.workload.trace import (
    REFUSED_OVERRIDES,
    TRACE_PREFIX,
    is_trace_workload,
    read_trace,
    trace_spec,
    trace_warmup,
)

MODES: tuple[str, ...] = ("virtual", "live")
#: ``serial``: one request at a time; ``overlap``: requests overlap in virtual time.
CONCURRENCY: tuple[str, ...] = ("serial", "overlap")
REFRESH: tuple[str, ...] = ("none", "threshold", "xfetch")
STAMPEDE: tuple[str, ...] = ("lease", "stale", "none")
#: TTL override keys (``ttl`` parameter): the registry's TTL settings, plus ``negative``.
TTL_KEYS: tuple[str, ...] = TTLSettings.NAMES
#: Most closed-loop clients in live mode (one thread each, as ``workers``).
MAX_LIVE_CLIENTS = 64
#: The seed plan's refresh-ahead threshold (refresh at 80 % of the TTL).
SEED_REFRESH_THRESHOLD = 0.8
XFETCH_BETA = 1.0


def strategy_names() -> list[str]:
    """Known strategy names, sorted (the strategy registry's)."""
    return sorted(registry_names())


@dataclass(frozen=True)
class RunParams:
    """One run's parameters, validated (see :func:`validate_params` for each one's meaning)."""

    workload: str = "mixed"
    strategy: str = "tags"
    ttl_scale: float = 1.0
    mode: str = "virtual"
    duration_s: float | None = None
    seed: int = 1
    scale: float = 0.1
    stale_sample: float = 1.0
    rate: float | None = None
    refresh: str = "none"
    stampede: str = "lease"
    cache: bool = True
    baseline: bool = True
    fresh_baseline: bool = False
    skew: float | None = None
    write_ratio: float | None = None
    warmup_s: float | None = None
    ttl: dict[str, float] = field(default_factory=dict)
    workers: int = 4
    window_s: float = 60.0
    saturation_lag_s: float = 1.0
    namespace: str | None = None
    concurrency: str = "serial"
    db_pool: int = 4
    db_service_ms: float = 0.5
    redis_service_ms: float = 0.1
    notify_lag: float | dict[str, Any] = 0.0
    invalidation_delay: float | dict[str, Any] = 0.0
    service_model: dict[str, Any] | None = None
    workload_def: dict[str, Any] | None = None
    clients: int | None = None
    think_time_s: float | None = None
    think: str | None = None
    record_trace: bool = False

    def spec(self) -> WorkloadSpec:
        """The workload spec with this run's overrides (validated)."""
        if is_trace_workload(self.workload):
            given = [k for k in REFUSED_OVERRIDES if getattr(self, k) is not None]
            if given:
                raise ConfigError(
                    given[0],
                    f"a trace's {given[0]} is the file's ({self.workload}); accepted: none, "
                    "or duration_s to replay its first seconds",
                )
            spec = trace_spec(self.workload, duration=self.duration_s)
        else:
            if self.workload_def is None:
                base = get_workload(self.workload)
            else:  # a workload file's definition (its name is ``workload``)
                base = workload_from_mapping(self.workload_def)
            spec = base.with_overrides(
                rate=self.rate,
                skew=self.skew,
                write_ratio=self.write_ratio,
                duration=self.duration_s,
            )
        if self.clients is not None:
            spec = replace(spec, clients=self.clients)
        if self.think_time_s is not None:
            spec = replace(spec, think_time_s=self.think_time_s)
        if self.think is not None:
            spec = replace(spec, think=self.think)
        return spec

    def delays(self) -> tuple[Delay, Delay]:
        """``notify_lag`` and ``invalidation_delay`` as distributions (validated already)."""
        return (
            parse_delay("notify_lag", self.notify_lag),
            parse_delay("invalidation_delay", self.invalidation_delay),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON literals for ``summary["params"]`` (effective rate and duration filled in)."""
        out = asdict(self)
        spec = self.spec()
        out["rate"] = spec.rate
        out["duration_s"] = spec.duration_s
        out["write_ratio"] = spec.write_ratio
        # named after what they change only when they change something, so a run that uses
        # neither a workload file nor clients states (and memoises) exactly what it did before
        if out["workload_def"] is None:
            del out["workload_def"]
        if spec.clients is None:
            for k in ("clients", "think_time_s", "think"):
                del out[k]
        else:
            out.update(clients=spec.clients, think_time_s=spec.think_time_s, think=spec.think)
        return out


PARAM_NAMES: tuple[str, ...] = tuple(RunParams.__dataclass_fields__)


def _number(name: str, value: Any, *, low: float, high: float = math.inf, low_open: bool) -> float:
    what = f"a number {'>' if low_open else '>='} {low:g}" + (
        f" and <= {high:g}" if math.isfinite(high) else ""
    )
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(name, f"must be {what}, got {value!r}") from None
    v = float(value)
    bad = not math.isfinite(v) or v > high or (v <= low if low_open else v < low)
    if bad:
        raise ConfigError(name, f"must be {what}, got {value!r}")
    return v


def _choice(name: str, value: Any, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ConfigError(name, f"{value!r} is not accepted; accepted: {', '.join(accepted)}")
    return str(value)


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(name, f"must be true or false, got {value!r}")
    return value


def _ttl_overrides(value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError("ttl", f"must be a mapping family -> seconds, got {value!r}")
    out: dict[str, float] = {}
    for k, v in value.items():
        if k not in TTL_KEYS:
            raise ConfigError(f"ttl[{k!r}]", f"unknown TTL; accepted: {', '.join(TTL_KEYS)}")
        out[str(k)] = _number(f"ttl[{k!r}]", v, low=0.0, low_open=True)
    return out


def parse_params(params: Mapping[str, Any]) -> RunParams:
    """Validate ``params`` and return them as :class:`RunParams` (see :func:`validate_params`)."""
    if not isinstance(params, Mapping):
        raise ConfigError("params", f"must be a mapping of parameter names, got {params!r}")
    unknown = sorted(set(params) - set(PARAM_NAMES))
    if unknown:
        raise ConfigError(
            ", ".join(unknown), f"unknown run parameter; accepted: {', '.join(PARAM_NAMES)}"
        )
    p = {k: v for k, v in params.items() if v is not None}
    kw: dict[str, Any] = {}
    if "workload" in p or "workload_def" in p:
        kw.update(_workload(p.get("workload"), p.get("workload_def")))
    if "clients" in p:
        n = p["clients"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLIENTS:
            raise ConfigError(
                "clients", f"must be an integer in [1, {MAX_CLIENTS}] (closed loop), got {n!r}"
            )
        kw["clients"] = n
    if "think_time_s" in p:
        kw["think_time_s"] = _number("think_time_s", p["think_time_s"], low=0.0, low_open=False)
    if "think" in p:
        kw["think"] = _choice("think", p["think"], THINK_KINDS)
    if "strategy" in p:
        kw["strategy"] = _choice("strategy", p["strategy"], tuple(strategy_names()))
    if "ttl_scale" in p:
        kw["ttl_scale"] = _number("ttl_scale", p["ttl_scale"], low=0.0, low_open=True)
    if "mode" in p:
        kw["mode"] = _choice("mode", p["mode"], MODES)
    if "duration_s" in p:
        kw["duration_s"] = parse_duration(p["duration_s"], "duration_s")
    if "seed" in p:
        seed = p["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError("seed", f"must be an integer >= 0, got {seed!r}")
        kw["seed"] = seed
    if "scale" in p:
        kw["scale"] = _number("scale", p["scale"], low=0.0, high=100.0, low_open=True)
    if "stale_sample" in p:
        kw["stale_sample"] = _number(
            "stale_sample", p["stale_sample"], low=0.0, high=1.0, low_open=False
        )
    for name in ("rate", "window_s", "saturation_lag_s"):
        if name in p:
            kw[name] = _number(name, p[name], low=0.0, low_open=True)
    if "warmup_s" in p:
        kw["warmup_s"] = _number("warmup_s", p["warmup_s"], low=0.0, low_open=False)
    if "skew" in p:
        kw["skew"] = _number("skew", p["skew"], low=0.0, low_open=False)
    if "write_ratio" in p:
        kw["write_ratio"] = _number("write_ratio", p["write_ratio"], low=0, high=1, low_open=False)
    if "refresh" in p:
        kw["refresh"] = _choice("refresh", p["refresh"], REFRESH)
    if "stampede" in p:
        kw["stampede"] = _choice("stampede", p["stampede"], STAMPEDE)
    for name in ("cache", "baseline", "fresh_baseline", "record_trace"):
        if name in p:
            kw[name] = _bool(name, p[name])
    if "ttl" in p:
        kw["ttl"] = _ttl_overrides(p["ttl"])
    if "concurrency" in p:
        kw["concurrency"] = _choice("concurrency", p["concurrency"], CONCURRENCY)
    if "db_pool" in p:
        n = p["db_pool"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
            raise ConfigError("db_pool", f"must be an integer in [1, 256], got {n!r}")
        kw["db_pool"] = n
    for name in ("db_service_ms", "redis_service_ms"):
        if name in p:
            kw[name] = _number(name, p[name], low=0.0, high=10_000.0, low_open=False)
    for name in ("notify_lag", "invalidation_delay"):
        if name in p:
            kw[name] = parse_delay(name, p[name]).as_param()
    if "service_model" in p:
        kw.update(_service_model(p["service_model"], p))
    if "workers" in p:
        w = p["workers"]
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= 64:
            raise ConfigError("workers", f"must be an integer in [1, 64], got {w!r}")
        kw["workers"] = w
    if "namespace" in p:
        ns = p["namespace"]
        if (
            not isinstance(ns, str)
            or not ns
            or len(ns) > 40
            or not ns.replace("_", "").replace("-", "").isalnum()
        ):
            raise ConfigError("namespace", f"must be 1-40 characters of [A-Za-z0-9_-], got {ns!r}")
        kw["namespace"] = ns
    rp = RunParams(**kw)
    if rp.fresh_baseline and not (rp.cache and rp.baseline):
        none = "baseline is false" if rp.cache else "a cache-off run has no baseline"
        raise ConfigError(
            "fresh_baseline",
            f"true measures the cache-off baseline anew, but {none}; "
            "accepted: true with cache and baseline true, or false",
        )
    if rp.cache:
        from evalcache.strategies.registry import strategy_class

        modes = strategy_class(rp.strategy).refresh_modes
        if rp.refresh not in modes:
            raise ConfigError(
                "refresh",
                f"{rp.refresh!r} never runs with strategy {rp.strategy!r} (a run would "
                f"silently not refresh); accepted with it: {', '.join(modes)}",
            )
    if rp.concurrency == "overlap" and rp.mode != "virtual":
        raise ConfigError(
            "concurrency", "'overlap' runs in virtual time; accepted with mode 'virtual' only"
        )
    _check_delays(rp)
    if rp.service_model is not None and rp.concurrency != "overlap":
        raise ConfigError(
            "service_model",
            f"times the operations of overlapping requests; accepted with concurrency 'overlap' "
            f"only, got {rp.concurrency!r}",
        )
    try:
        spec = rp.spec()  # workload overrides (rate, skew, write_ratio, duration) checked here
    except UnknownNameError as exc:  # pragma: no cover - workload name checked above
        raise ConfigError("workload", str(exc)) from exc
    _check_clients(rp, spec)
    if rp.warmup_s is not None and rp.warmup_s >= spec.duration_s:
        raise ConfigError(
            "warmup_s",
            f"must be shorter than the duration ({spec.duration_s:g} s), got {rp.warmup_s}",
        )
    # synthetic, the one warm-up that depends on TTLs, has no bursts
    _check_bursts(spec, default_warmup(rp, spec, ttl_profile=0.0))
    return rp


def _workload(value: Any, definition: Any) -> dict[str, Any]:
    """``workload`` (a name, a workload file's path, or a file's mapping) and ``workload_def``
    as run parameters: the workload's name, and its definition when it is not a built-in."""
    source = ""
    if definition is None and isinstance(value, str) and is_trace_workload(value):
        read_trace(value[len(TRACE_PREFIX) :])  # readable, a trace: or it says why
        return {"workload": value}
    if definition is None and is_workload_file(value):
        source, definition = str(value), read_workload_file(str(value))
    elif definition is None and isinstance(value, Mapping):
        definition = value
    if definition is None:
        names = workload_names()
        if value not in names:
            raise ConfigError(
                "workload",
                f"{value!r} is not accepted; accepted: {', '.join(names)}, the path of a "
                f"workload file ({' or '.join(WORKLOAD_FILE_SUFFIXES)}), or "
                f"{TRACE_PREFIX}PATH (a trace file)",
            )
        return {"workload": str(value)}
    spec = workload_from_mapping(definition, source=source)
    if isinstance(value, str) and not source and value != spec.name:
        raise ConfigError(
            "workload",
            f"{value!r} is not the name of workload_def ({spec.name!r}); accepted: its name",
        )
    return {"workload": spec.name, "workload_def": workload_to_mapping(spec)}


def _check_clients(rp: RunParams, spec: WorkloadSpec) -> None:
    """Closed-loop clients in the modes that can run them."""
    if spec.clients is None:
        return
    if rp.mode == "virtual" and rp.concurrency == "serial" and spec.think_time_s == 0:
        raise ConfigError(
            "think_time_s",
            "a serial virtual replay serves a request in no virtual time, so closed-loop clients "
            "without think time would issue every request at one instant; accepted: "
            "think_time_s > 0, or concurrency 'overlap' or mode 'live' (requests take time)",
        )
    if rp.mode == "live" and spec.clients > MAX_LIVE_CLIENTS:
        raise ConfigError(
            "clients",
            f"live mode runs one thread per client; accepted: at most {MAX_LIVE_CLIENTS}, "
            f"got {spec.clients}",
        )


#: Keys of a ``service_model`` mapping (or file); ``db_ms`` and ``redis_ms`` become the
#: run's ``db_service_ms`` and ``redis_service_ms``.
SERVICE_MODEL_KEYS: tuple[str, ...] = ("db_ms", "redis_ms", "sigma", "families", "redis_ops")


def service_model_labels() -> tuple[str, ...]:
    """What ``service_model.families`` may name: read families and ``write:<op>``."""
    from evalcache.domain.families import FAMILIES
    from evalcache.workload.spec import OPERATIONS

    writes = tuple(f"write:{n[6:]}" for n, op in OPERATIONS.items() if op.kind == "write")
    return (*sorted(FAMILIES), *sorted(writes))


def load_service_model(path: str) -> Any:
    """The mapping a ``service_model`` file holds (JSON or YAML, as ``evalcache calibrate``
    writes it)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ConfigError(
            "service_model",
            f"cannot read {path!r} ({exc.strerror}); accepted: a mapping or "
            "the path of a JSON/YAML file written by `evalcache calibrate`",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError("service_model", f"{path!r} is not JSON/YAML: {exc}") from None


def _service_model(value: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """``service_model`` as run-parameter updates: its means move to ``db_service_ms`` /
    ``redis_service_ms`` (which must agree if given too), the rest stays a mapping."""
    if isinstance(value, str):
        value = load_service_model(value)
    if not isinstance(value, Mapping):
        raise ConfigError(
            "service_model",
            f"must be a mapping with keys {', '.join(SERVICE_MODEL_KEYS)} or a file path, "
            f"got {value!r}",
        )
    unknown = sorted(set(value) - set(SERVICE_MODEL_KEYS))
    if unknown:
        raise ConfigError(
            f"service_model.{unknown[0]}", f"unknown key; accepted: {', '.join(SERVICE_MODEL_KEYS)}"
        )
    out: dict[str, Any] = {}
    for key, param in (("db_ms", "db_service_ms"), ("redis_ms", "redis_service_ms")):
        if key not in value:
            continue
        v = _number(f"service_model.{key}", value[key], low=0.0, high=10_000.0, low_open=False)
        if param in given and float(given[param]) != v:
            raise ConfigError(
                param,
                f"{given[param]!r} contradicts service_model.{key} {v:g}; accepted: one of them",
            )
        out[param] = v
    model: dict[str, Any] = {}
    if "sigma" in value:
        model["sigma"] = _number(
            "service_model.sigma", value["sigma"], low=0.0, high=5.0, low_open=False
        )
    families = value.get("families") or {}
    if not isinstance(families, Mapping):
        raise ConfigError(
            "service_model.families", f"must be a mapping label -> ms, got {families!r}"
        )
    labels = service_model_labels()
    fams: dict[str, float] = {}
    for k, v in families.items():
        if k not in labels:
            raise ConfigError(
                f"service_model.families[{k!r}]", f"unknown label; accepted: {', '.join(labels)}"
            )
        fams[str(k)] = _number(
            f"service_model.families[{k!r}]", v, low=0.0, high=10_000.0, low_open=False
        )
    model["families"] = dict(sorted(fams.items()))
    ops = value.get("redis_ops") or {}
    if not isinstance(ops, Mapping):
        raise ConfigError(
            "service_model.redis_ops", f"must be a mapping Redis command -> ms, got {ops!r}"
        )
    redis_ops: dict[str, float] = {}
    for k, v in ops.items():
        if not isinstance(k, str) or not k.replace("_", "").isalpha():
            raise ConfigError(
                f"service_model.redis_ops[{k!r}]",
                "not a Redis command name; accepted: GET, SET, DEL, EVALSHA, ... or PIPELINE",
            )
        redis_ops[k.upper()] = _number(
            f"service_model.redis_ops[{k!r}]", v, low=0.0, high=10_000.0, low_open=False
        )
    if redis_ops:
        model["redis_ops"] = dict(sorted(redis_ops.items()))
    out["service_model"] = model
    return out


def _check_delays(rp: RunParams) -> None:
    """Invalidation delays exist in overlap only, each for the strategies it applies to."""
    notify_lag, delay = rp.delays()
    notify = issubclass(strategy_class(rp.strategy), NotifyStrategy)
    for name, d in (("notify_lag", notify_lag), ("invalidation_delay", delay)):
        if not d.zero and rp.concurrency != "overlap":
            raise ConfigError(
                name,
                f"{d.as_param()!r} needs concurrency 'overlap' (a delay in virtual time); "
                f"accepted with concurrency {rp.concurrency!r}: 0",
            )
    if not notify_lag.zero and not notify:
        raise ConfigError(
            "notify_lag",
            f"applies to strategy 'notify' only (its change feed), not {rp.strategy!r}; "
            "accepted: 0, or invalidation_delay for strategies that invalidate in the write path",
        )
    if not delay.zero and notify:
        raise ConfigError(
            "invalidation_delay",
            "'notify' invalidates from its change feed, not in the write path; accepted: 0, "
            "or notify_lag for the feed's delay",
        )


#: Share of a run's simulated time replayed before measuring, unless the workload is a cold start.
WARMUP_SHARE = 0.25


def default_warmup(rp: RunParams, spec: WorkloadSpec, ttl_profile: float) -> float:
    """``warmup_s`` unless given.

    ``synthetic``: two profile TTLs (the model's steady state). Cold-start workloads: 0, the
    empty cache is what they measure. Others: the first :data:`WARMUP_SHARE` of the run fills
    the cache and is not counted, so they measure a warm cache, as production would see;
    with bursts, at most half the time before the first, so the measurement sees the calm
    before the crowd as well as the crowd.
    """
    if rp.warmup_s is not None:
        return rp.warmup_s
    if is_trace_workload(spec.name):
        return trace_warmup(spec, WARMUP_SHARE)
    if spec.name == "synthetic":
        return min(2.0 * ttl_profile, spec.duration_s / 2)
    if spec.cold_start:
        return 0.0
    first_burst = min((b.start_s for b in spec.bursts), default=math.inf)
    return min(WARMUP_SHARE * spec.duration_s, first_burst / 2)


def _check_bursts(spec: WorkloadSpec, warmup_s: float) -> None:
    """A burst outside the measured window would leave the run identical to one without it."""
    for b in spec.bursts:
        end = b.start_s + b.duration_s
        if b.start_s >= spec.duration_s or end <= warmup_s:
            raise ConfigError(
                "duration_s" if b.start_s >= spec.duration_s else "warmup_s",
                f"{spec.name}'s burst at {b.start_s:g}-{end:g} s is outside the measured window "
                f"{warmup_s:g}-{spec.duration_s:g} s; accepted: a duration_s beyond "
                f"{b.start_s:g} s with a warmup_s before {end:g} s",
            )


def validate_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check run parameters before anything runs; return them normalised (JSON literals).

    Parameters (``None`` values are ignored, i.e. take the default)
    ----------------------------------------------------------------
    workload: a name of ``evalcache.workload.workload_names()`` (default ``mixed``), or the
        path of a workload file (a value ending in ``.yaml``/``.yml``, relative to the current
        directory; :mod:`evalcache.workload.files`), or such a file's mapping. Normalised to
        the workload's name plus ``workload_def``, the definition as validated (every field),
        so the summary states it and a baseline memo follows its contents.
    workload_def: a workload file's mapping (what ``workload`` as a file normalises to).
    clients: closed loop (default: the workload's, ``None`` = open loop): N clients each issue
        their next request when the previous one completed plus a think time, taking the
        stream's requests in order; the run ends at ``duration_s`` or when the stream is used
        up. Overlap: each client is a simulation process; live: a thread each (at most 64;
        ``workers`` is then unused); serial virtual: a request takes no virtual time, so a
        client's requests are its think times apart (``think_time_s`` > 0 needed).
    think_time_s, think: closed loop: mean think time in seconds (>= 0, default 0), drawn
        ``exponential`` (the default, seeded per client) or ``fixed``.
    workload: a name of ``evalcache.workload.workload_names()`` (default ``mixed``), or
        ``trace:PATH``: replay a trace file (or a run folder's ``trace.parquet``, see
        ``docs/traces.md``); its rate, mix and skew are the file's (``rate``, ``skew`` and
        ``write_ratio`` are refused), ``duration_s`` replays its first seconds only, and its
        default warm-up is the recorded run's.
    record_trace: write the run's request stream and each request's outcome to
        ``trace.parquet`` in the run folder (default false).
    strategy: an invalidation strategy name (default ``tags``).
    ttl_scale: factor on every TTL of the seed plan (> 0, default 1).
    mode: ``virtual`` (simulated time) or ``live`` (wall clock; open loop unless ``clients``).
    duration_s: simulated seconds, a number or text such as ``"1h"`` (default: the workload's).
    seed: workload seed, int >= 0. scale: the seeded database's scale (0 < scale <= 100).
    stale_sample: share of cached answers the staleness oracle checks, in [0, 1].
    rate: requests per (simulated) second (default: the workload's).
    refresh: ``none``, ``threshold`` (the seed plan's 80 % of TTL) or ``xfetch``.
    stampede: ``lease`` (single flight, wait), ``stale`` (serve the stale value while one
        caller reloads) or ``none`` (no waiting: every missing caller loads).
    cache: false for a cache-off run. baseline: also run the cache-off baseline of the same
        stream to fill ``db_reduction`` (default true). It is memoised for 7 days per stream,
        measured window, template data and code (:mod:`evalcache.runner.baseline`) and reused
        by later runs of the same stream (``summary["baseline_reused"]``).
    fresh_baseline: measure the baseline anew even when a memo exists, and replace the memo
        (default false; needs ``cache`` and ``baseline`` true).
    skew, write_ratio: workload overrides. warmup_s: simulated seconds replayed before measuring
        (default: a quarter of the run; twice the profile TTL for ``synthetic``; 0 for
        ``cold_start``). ttl: per-family TTL overrides in seconds
        (before ``ttl_scale``). workers: live-mode worker threads. window_s: time-series
        window. saturation_lag_s: live-mode lag behind schedule that flags a run saturated.
        namespace: Redis key prefix stem (a unique suffix is always added).
    concurrency: ``serial`` (one request at a time, the default) or ``overlap`` (virtual mode:
        requests overlap, each Redis round trip and SQL statement takes modelled service time,
        see :mod:`evalcache.runner.overlap`). db_pool: database connections requests share
        in overlap (they queue for one). db_service_ms, redis_service_ms: mean service time of
        one SQL statement and one Redis round trip in overlap (seeded log-normal jitter).
    service_model: overlap only: a mapping ``{db_ms, redis_ms, sigma, families: {label: ms},
        redis_ops: {command: ms}}``
        or the path of a JSON/YAML file holding one (``evalcache calibrate`` writes it from a
        run's measured service times). ``families`` gives one SQL statement's mean per read
        family or ``write:<op>``; ``db_ms`` / ``redis_ms`` become ``db_service_ms`` /
        ``redis_service_ms``; ``sigma`` is the log-normal jitter (default 0.25). Normalised
        to ``{sigma?, families}`` (a file's contents, so the summary states the model).
    notify_lag: overlap with strategy ``notify`` only: delay from a write's commit to the
        listener's invalidation, in virtual milliseconds; a number (fixed), or a mapping
        ``{dist: fixed|exponential, mean_ms: m}``, ``{dist: uniform, low_ms: a, high_ms: b}``
        or ``{dist: lognormal, mean_ms: m, sigma: s}`` (sigma default 1), each value <= 1 h
        (:mod:`evalcache.runner.delays`); drawn with the run's seed; a number when fixed
        once normalised. Default 0: the writer applies its commit's notifications at the
        commit (serial runs: the ideal lag, the listener delivers before the next request).
    invalidation_delay: overlap with strategies that invalidate in the write path (all but
        ``notify``): the same format, from a write's commit to the strategy's invalidation,
        which then runs in a process of its own instead of inside the write. Default 0.

    Raises
    ------
    ConfigError
        Naming the parameter and what is accepted.

    Examples
    --------
    >>> validate_params({"workload": "profile", "duration_s": "1h"})["duration_s"]
    3600.0
    """
    return parse_params(params).as_dict()
