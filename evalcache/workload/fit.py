"""Fit a workload spec to a trace, and check the fit by the hit rate of a TTL cache.

What is fitted (``docs/traces.md``):

- **mix and rate**: each operation's count over the trace's duration; the write share.
- **skew**: per operation, the exponent ``theta`` of a bounded Zipf by maximum likelihood over
  its ids ranked by their counts (most requested first). The key space ``N`` is the id pool's
  size in the database the trace was recorded on (its metadata), else the ids the trace
  shows for the pool. Ranking by observed counts overstates the skew when ids are seen a few
  times each (the order of the tail is noise), so the estimate is corrected by indirect
  inference: the ``theta`` whose samples of the same size, ranked the same way, give the
  observed estimate on average (a few seeded simulations; :func:`zipf_theta`).
- **burstiness**: the index of dispersion of request counts per window (variance / mean; 1
  for Poisson arrivals) and the z-score of the dispersion test
  (``(D - 1) * sqrt((k - 1) / 2)`` over ``k`` windows); Poisson fits when ``|z| < 3``.
  Bursts are reported, not fitted: the spec's arrivals are Poisson.

The check: the hit rate of a TTL-only cache (:func:`ttl_hit_rate`) on the trace and on
streams generated from the fitted spec (the same key spaces; the mean of
:data:`CHECK_STREAMS` seeds), at three TTL scales. Two samples of one process differ by
sampling noise too (about ``sqrt(h (1 - h) / reads)``), so a trace needs some ten thousand
reads for a 1 pp agreement to say something.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from evalcache.domain.families import FAMILIES
from evalcache.workload.export import SeenKeys, direct_groups, read_entries
from evalcache.workload.generator import WorkloadGenerator
from evalcache.workload.popularity import MAX_THETA, PopularitySpec, zipf_probabilities
from evalcache.workload.spec import OPERATIONS, WorkloadSpec
from evalcache.workload.trace import Trace, TraceMeta

FloatArray = npt.NDArray[np.float64]

#: TTL scales the fit is checked at (factors on each family's TTL).
CHECK_SCALES: tuple[float, ...] = (0.1, 1.0, 10.0)
#: Streams generated from the fitted spec for the check (their mean hit rate: less noise).
CHECK_STREAMS = 3
#: Simulated samples per step of the skew's bias correction.
BIAS_SAMPLES = 4
#: Index-of-dispersion z-score beyond which arrivals are not Poisson.
POISSON_Z = 3.0


# -- skew ------------------------------------------------------------------------------------
def zipf_mle(counts: FloatArray, n: int) -> float:
    """Maximum-likelihood ``theta`` of a bounded Zipf over ``n`` ranks, the counts taken in
    rank order (largest first); ranks past ``counts`` have count 0.

    The log-likelihood ``-theta * sum c_r ln r - m ln H_n(theta)`` is concave in theta, so its
    derivative is bisected on [0, MAX_THETA].
    """
    c = np.sort(np.asarray(counts, dtype=np.float64))[::-1]
    n = max(int(n), c.size)
    m = float(c.sum())
    if m == 0 or n < 2:
        return 0.0
    log_r = np.log(np.arange(1, n + 1, dtype=np.float64))
    observed = float((c * log_r[: c.size]).sum()) / m  # mean log rank of the requests

    def expected(theta: float) -> float:  # E[ln r] under Zipf(theta, n)
        w = np.exp(-theta * log_r)
        return float((w * log_r).sum() / w.sum())

    lo, hi = 0.0, MAX_THETA
    if observed >= expected(lo):
        return 0.0
    if observed <= expected(hi):
        return MAX_THETA
    for _ in range(60):  # E[ln r] decreases in theta
        mid = (lo + hi) / 2
        if expected(mid) > observed:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _ranked_mle(theta: float, n: int, m: int, rng: np.random.Generator) -> float:
    """The estimate :func:`zipf_mle` gives on a sample of ``m`` draws from Zipf(theta, n)."""
    draws = rng.choice(n, size=m, p=zipf_probabilities(n, theta))
    return zipf_mle(np.bincount(draws, minlength=n).astype(np.float64), n)


def zipf_theta(counts: FloatArray, n: int, *, seed: int = 0) -> float:
    """``theta`` of the ids' counts over a key space of ``n``, corrected for ranking by counts.

    The plain estimate ranks ids by their own counts, which flattens nothing at the head but
    orders the sparse tail by noise. The corrected ``theta`` is the one whose simulated
    samples (same ``n``, same number of requests, :data:`BIAS_SAMPLES` of them) give the
    observed plain estimate on average, found by bisection; a sample dense enough to need no
    correction returns the plain estimate unchanged.
    """
    counts = np.asarray(counts, dtype=np.float64)
    m = int(counts.sum())
    n = max(int(n), int((counts > 0).sum()))
    target = zipf_mle(counts, n)
    if m == 0 or n < 2:
        return round(target, 4)

    def biased(theta: float) -> float:
        rng = np.random.default_rng([seed, n, m])  # common random numbers across theta
        return float(np.mean([_ranked_mle(theta, n, m, rng) for _ in range(BIAS_SAMPLES)]))

    lo, hi = 0.0, target
    if biased(hi) <= target:
        return round(target, 4)
    if biased(lo) >= target:
        return 0.0
    for _ in range(20):
        mid = (lo + hi) / 2
        if biased(mid) < target:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 4)


# -- burstiness ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Burstiness:
    """Dispersion of request counts per window (Poisson: index 1, ``|z|`` below 3)."""

    window_s: float
    windows: int
    index_of_dispersion: float
    z: float
    peak_to_mean: float

    @property
    def poisson(self) -> bool:
        return abs(self.z) < POISSON_Z


def burstiness(t: FloatArray, duration_s: float, window_s: float | None = None) -> Burstiness:
    """Counts per window over [0, duration): default window one with ~20 requests on average
    (at least 1 ms), so that counts are near normal and there are many windows."""
    n = int(t.size)
    if window_s is None:
        window_s = max(1e-3, 20.0 * duration_s / max(n, 1))
    k = max(1, int(duration_s // window_s))
    counts = np.bincount(np.minimum((t // window_s).astype(np.int64), k - 1), minlength=k)[:k]
    mean = float(counts.mean()) if k else 0.0
    var = float(counts.var(ddof=1)) if k > 1 else 0.0
    d = var / mean if mean > 0 else 0.0
    z = (d - 1.0) * math.sqrt((k - 1) / 2.0) if k > 1 else 0.0
    peak = float(counts.max()) / mean if mean > 0 else 0.0
    return Burstiness(float(window_s), k, d, z, peak)


# -- the TTL-only cache ----------------------------------------------------------------------
def ttl_hit_rate(
    trace: Trace, ttl_scale: float = 1.0, *, warmup_s: float = 0.0, invalidate: bool = False
) -> float | None:
    """Hit rate of a TTL-only cache over the trace's reads (those at or after ``warmup_s``).

    An entry lives from the miss that loads it for its family's TTL (the trace's TTLs, else the
    seed plan's) times ``ttl_scale``; a read hits when all its entries live (a batch read, as
    the runner counts it), and a miss loads every entry it reads. Writes are ignored (the
    ``ttl`` strategy), or with ``invalidate`` delete the entries their own ids name
    (:func:`evalcache.workload.export.direct_groups`).
    """
    return ttl_hit_rates(trace, (ttl_scale,), warmup_s=warmup_s, invalidate=invalidate)[0]


def ttl_hit_rates(
    trace: Trace, scales: Sequence[float], *, warmup_s: float = 0.0, invalidate: bool = False
) -> list[float | None]:
    """:func:`ttl_hit_rate` at several TTL scales (the entry keys are worked out once)."""
    entries = list(read_entries(trace))
    writes: dict[int, list[str]] = {}
    if invalidate:
        for r, k in enumerate(trace.op.tolist()):
            name = trace.op_names[k]
            op = OPERATIONS[name]
            if op.kind == "write":
                nids = len(op.pools)
                detail = op.details[int(trace.args[r, nids])] if op.details else None
                writes[r] = direct_groups(name, trace.args[r, :nids].tolist(), detail)
    admin = trace.meta.admin_id or 0
    out: list[float | None] = []
    for scale in scales:
        ttl = {
            f: trace.meta.ttl.get(fam.ttl_setting, fam.ttl_default) * scale
            for f, fam in FAMILIES.items()
        }
        expiry: dict[str, float] = {}
        seen = SeenKeys()
        reads = hits = 0
        pending = sorted(writes)
        w = 0
        for e in entries:
            t = e.t
            while w < len(pending) and pending[w] < e.row:  # writes before this read
                for key in seen.matching(writes[pending[w]], admin):
                    expiry.pop(key, None)
                w += 1
            alive = all(expiry.get(k, -1.0) > t for k in e.keys)
            if not alive:
                until = t + ttl[e.family]
                for k in e.keys:
                    expiry[k] = until
                    if invalidate:
                        seen.add(k)
            if t >= warmup_s:
                reads += 1
                hits += alive
        out.append(hits / reads if reads else None)
    return out


# -- the fit ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpFit:
    """One operation's fitted figures."""

    op: str
    count: int
    rate: float
    key_space: int  # N of the bounded Zipf (0: the op takes no ids)
    distinct: int  # ids the trace shows
    theta_mle: float | None  # plain estimate, ranked by counts
    theta: float | None  # corrected (the spec's)


@dataclass
class WorkloadFit:
    """A trace's fitted spec and how well it reproduces the trace."""

    spec: WorkloadSpec
    ops: dict[str, OpFit]
    burst: Burstiness
    pool_sizes: dict[str, int]
    key_space_from: str  # "database pools" or "observed ids"
    check: list[dict[str, float | None]] = field(default_factory=list)

    def spec_fields(self) -> dict[str, Any]:
        """The fitted spec as plain data: :class:`WorkloadSpec`'s fields (YAML-able)."""
        s = self.spec
        return {
            "name": s.name,
            "description": s.description,
            "operations": {k: round(float(v), 6) for k, v in s.operations.items()},
            "write_ratio": round(s.write_ratio, 6),
            "rate": round(s.rate, 6),
            "duration_s": s.duration_s,
            "batch_size": s.batch_size,
            "cold_start": s.cold_start,
            "op_popularity": {
                op: {"kind": p.kind, "theta": p.theta} for op, p in s.op_popularity.items()
            },
        }

    def report(self) -> dict[str, Any]:
        """Everything as plain data: the spec, per-operation figures, burstiness, the check."""
        b = self.burst
        return {
            "spec": self.spec_fields(),
            "operations": {
                op: {
                    "count": f.count,
                    "rate": round(f.rate, 6),
                    "key_space": f.key_space,
                    "distinct_ids": f.distinct,
                    "theta_mle": f.theta_mle,
                    "theta": f.theta,
                }
                for op, f in self.ops.items()
            },
            "key_space_from": self.key_space_from,
            "burstiness": {
                "window_s": b.window_s,
                "windows": b.windows,
                "index_of_dispersion": round(b.index_of_dispersion, 4),
                "z": round(b.z, 2),
                "peak_to_mean": round(b.peak_to_mean, 3),
                "poisson": b.poisson,
            },
            "ttl_check": self.check,
        }


def _pool_draws(trace: Trace, op_index: int) -> dict[str, FloatArray]:
    """Pool -> counts per distinct id of one operation's draws from it (ids in any order)."""
    name = trace.op_names[op_index]
    op = OPERATIONS[name]
    rows = np.flatnonzero(trace.op == op_index)
    nids = trace.op_nids[op_index]
    cols = [op.pools[0]] * nids if op.batch else list(op.pools)
    out: dict[str, list[Any]] = {}
    for j, pool in enumerate(cols):
        out.setdefault(pool, []).append(trace.args[rows, j])
    return {
        p: np.unique(np.concatenate(v), return_counts=True)[1].astype(np.float64)
        for p, v in out.items()
    }


def fit_trace(
    trace: Trace,
    *,
    name: str = "fitted",
    check_scales: Sequence[float] = CHECK_SCALES,
    seed: int = 1,
) -> WorkloadFit:
    """Fit a spec to ``trace`` and check it at ``check_scales`` (see the module docstring)."""
    meta = trace.meta
    duration = meta.duration_s
    counts = trace.op_counts()
    total = sum(counts.values())
    draws = {k: _pool_draws(trace, k) for k in range(len(trace.op_names))}
    observed: dict[str, int] = {}
    for per_pool in draws.values():
        for pool, c in per_pool.items():
            observed[pool] = max(observed.get(pool, 0), int(c.size))
    from_db = all(p in meta.pool_sizes for p in observed)
    sizes = {p: meta.pool_sizes[p] if from_db else observed[p] for p in observed}
    if "specializations" in sizes and meta.specializations:
        sizes["specializations"] = max(sizes["specializations"], len(meta.specializations))
    ops: dict[str, OpFit] = {}
    op_pop: dict[str, PopularitySpec] = {}
    for k, op_name in enumerate(trace.op_names):
        per_pool = draws[k]
        if not per_pool:
            ops[op_name] = OpFit(op_name, counts.get(op_name, 0), counts.get(op_name, 0) / duration,
                                 0, 0, None, None)  # fmt: skip
            continue
        # every pool of an op shares its theta: the estimate over the first (the op's subject)
        pool = OPERATIONS[op_name].pools[0]
        c, n = per_pool[pool], sizes[pool]
        plain = round(zipf_mle(c, n), 4)
        theta = zipf_theta(c, n, seed=seed)
        ops[op_name] = OpFit(op_name, counts[op_name], counts[op_name] / duration, n,
                             int(c.size), plain, theta)  # fmt: skip
        # ids used once each, in a pool large enough: consumable rows (pending payments)
        once = c.size > 1 and float(c.max()) == 1.0 and c.size < n
        op_pop[op_name] = PopularitySpec("sequential") if once else PopularitySpec("zipf", theta)
    writes = sum(c for o, c in counts.items() if OPERATIONS[o].kind == "write")
    spec = WorkloadSpec(
        name=name,
        operations={o: float(c) for o, c in counts.items()},
        write_ratio=writes / total,
        rate=total / duration,
        duration_s=duration,
        batch_size=meta.batch_size,
        cold_start=meta.cold_start,
        op_popularity=op_pop,
        description=f"fitted to a trace of {total} requests over {duration:g} s",
    )
    fit = WorkloadFit(
        spec, ops, burstiness(trace.t, duration), sizes,
        "database pools" if from_db else "observed ids",
    )  # fmt: skip
    if check_scales:
        warmup = meta.warmup_s if meta.warmup_s is not None else 0.25 * duration
        on_trace = ttl_hit_rates(trace, check_scales, warmup_s=warmup)
        streams = [
            ttl_hit_rates(generated_trace(spec, sizes, meta, seed=seed + i), check_scales,
                          warmup_s=warmup)
            for i in range(CHECK_STREAMS)
        ]  # fmt: skip
        for j, scale in enumerate(check_scales):
            a = on_trace[j]
            rates = [x for r in streams if (x := r[j]) is not None]
            b = float(np.mean(rates)) if len(rates) == len(streams) else None
            err = None if a is None or b is None else round(abs(a - b) * 100, 3)
            fit.check.append({"ttl_scale": scale, "trace": a, "fitted": b, "error_pp": err})
    return fit


def generated_trace(
    spec: WorkloadSpec, pool_sizes: Mapping[str, int], meta: TraceMeta, *, seed: int = 1
) -> Trace:
    """A stream of ``spec`` over pools of positions ``0..size-1``, as a trace with ``meta``'s
    TTLs (the fit's check replays it through the same TTL cache as the trace)."""
    pools = {p: np.arange(max(int(s), 1), dtype=np.int64) for p, s in pool_sizes.items()}
    gen = WorkloadGenerator(spec, pools, seed)
    batches = list(gen.batches())
    t = np.concatenate([b.t for b in batches]) if batches else np.zeros(0)
    op = np.concatenate([b.op for b in batches]) if batches else np.zeros(0, np.int16)
    args = np.concatenate([b.args for b in batches]) if batches else np.zeros((0, gen.width))
    n_specs = int(pool_sizes.get("specializations", 0))
    names = meta.specializations if len(meta.specializations) >= n_specs else ()
    specs = tuple(names) or tuple(f"s{i}" for i in range(n_specs))
    gen_meta = TraceMeta(
        source="fit",
        duration_s=spec.duration_s,
        batch_size=spec.batch_size,
        specializations=specs,
        origin=meta.origin,
        admin_id=meta.admin_id,
        ttl=meta.ttl,
        pool_sizes=dict(pool_sizes),
    )
    n = int(t.size)
    none = np.full(n, -1, dtype=np.int8)
    return Trace(t, op, args.astype(np.int64), gen.op_names, gen_meta, none, none)


def format_report(fit: WorkloadFit, true_thetas: Iterable[tuple[str, float]] = ()) -> str:
    """The fit as text: per-operation rate and skew, burstiness, and the TTL check."""
    truth = dict(true_thetas)
    lines = [f"{'operation':<30} {'count':>7} {'rate/s':>9} {'N':>6} {'ids':>6} "
             f"{'theta_mle':>9} {'theta':>7}"]  # fmt: skip
    for f in fit.ops.values():
        mle = "-" if f.theta_mle is None else f"{f.theta_mle:.3f}"
        th = "-" if f.theta is None else f"{f.theta:.3f}"
        lines.append(
            f"{f.op:<30} {f.count:>7} {f.rate:>9.3f} {f.key_space:>6} {f.distinct:>6} "
            f"{mle:>9} {th:>7}" + (f"  (generated with {truth[f.op]})" if f.op in truth else "")
        )
    b = fit.burst
    lines.append(
        f"key space: {fit.key_space_from}; burstiness: index of dispersion "
        f"{b.index_of_dispersion:.3f} over {b.windows} windows of {b.window_s:.3g} s, z {b.z:.2f}"
        f", peak/mean {b.peak_to_mean:.2f}: {'Poisson fits' if b.poisson else 'not Poisson'}"
    )
    for c in fit.check:
        lines.append(
            f"TTL-only cache at ttl_scale {c['ttl_scale']:g}: trace {_pct(c['trace'])}, "
            f"fitted {_pct(c['fitted'])}, error {c['error_pp']} pp"
        )
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"
