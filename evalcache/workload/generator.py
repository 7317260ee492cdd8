"""Turn a workload spec and the database's real ids into a deterministic request stream.

Everything is drawn in numpy blocks (one block per arrival chunk) from generators spawned from
the run seed, one stream per concern (arrivals, operation choice, each id pool, details,
bursts), so adding a pool or an operation to one workload does not reshuffle the others, and the
same seed gives the same stream byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from evalcache.errors import ConfigError
from evalcache.workload.arrivals import iter_arrivals
from evalcache.workload.popularity import Popularity
from evalcache.workload.spec import OPERATIONS, POOLS, WorkloadSpec, parse_duration

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Request(NamedTuple):
    """One request: simulated arrival time (s from start), operation name, arguments.

    ``args`` are the ids in the operation's pool order (a batch read has ``batch_size`` user
    ids), followed by the detail string when the operation has one (e.g. ``"preferences"``).
    """

    t: float
    op: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class RequestBatch:
    """A block of requests as numpy arrays (the fast path; ``requests()`` materialises them).

    Attributes
    ----------
    t:
        Arrival times, float64, sorted.
    op:
        Operation index into ``op_names`` (int16).
    args:
        int64 array of shape (n, width): ids, then the detail index; -1 where unused.
    op_names:
        Operation names by index.
    op_details:
        Each operation's detail choices (empty tuple when none).
    op_nids:
        Each operation's number of id arguments.
    """

    t: FloatArray
    op: npt.NDArray[np.int16]
    args: IntArray
    op_names: tuple[str, ...]
    op_details: tuple[tuple[str, ...], ...]
    op_nids: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.t.size)

    def requests(self) -> list[Request]:
        """The batch as :class:`Request` objects, in time order."""
        n = len(self)
        out: list[Request | None] = [None] * n
        times = self.t.tolist()
        ops = self.op
        for k, name in enumerate(self.op_names):
            idx = np.flatnonzero(ops == k)
            if idx.size == 0:
                continue
            nids, details = self.op_nids[k], self.op_details[k]
            ids = self.args[idx, :nids].tolist()
            if details:
                dcol = self.args[idx, nids].tolist()
                for i, row, d in zip(idx.tolist(), ids, dcol, strict=True):
                    out[i] = Request(times[i], name, (*row, details[d]))
            else:
                for i, row in zip(idx.tolist(), ids, strict=True):
                    out[i] = Request(times[i], name, tuple(row))
        return out  # type: ignore[return-value]  # every slot is filled above

    def digest_update(self, h: Any) -> None:
        """Feed the batch's bytes to a hashlib object (for determinism checks)."""
        h.update(self.t.tobytes())
        h.update(self.op.tobytes())
        h.update(self.args.tobytes())


def _as_pool(name: str, ids: Any) -> IntArray:
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.size == 0:
        raise ConfigError(
            f"pools[{name!r}]", f"must be a non-empty 1-D array of ids, got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"pools[{name!r}]", f"ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


class WorkloadGenerator:
    """A deterministic request stream for one run.

    Parameters
    ----------
    spec:
        The workload.
    pools:
        Pool name -> ids (1-D integer array), in popularity order (position 0 is the hottest
        for Zipf; the last for ``latest``). Only the pools the spec's operations use are
        required.
    seed:
        The run seed.
    duration:
        Simulated seconds (number or text like ``"1h"``); default the spec's ``duration_s``.

    Examples
    --------
    >>> from evalcache.workload.scenarios import get_workload
    >>> gen = WorkloadGenerator(get_workload("ycsb_c", rate=10), {"users": np.arange(100)},
    ...                         seed=1, duration=60)
    >>> reqs = list(gen)
    >>> reqs[0].op, len(reqs[0].args)
    ('read:user_profile', 1)
    """

    def __init__(
        self,
        spec: WorkloadSpec,
        pools: Mapping[str, Any],
        seed: int,
        duration: float | str | None = None,
    ) -> None:
        self.spec = spec
        self.seed = int(seed)
        self.duration_s = spec.duration_s if duration is None else parse_duration(duration)
        needed = spec.pools_needed()
        missing = sorted(set(needed) - set(pools))
        if missing:
            detail = "; ".join(f"{p} (for {', '.join(needed[p])})" for p in missing)
            raise ConfigError("pools", f"missing id pools: {detail}; given: {sorted(pools)}")
        self.pools: dict[str, IntArray] = {p: _as_pool(p, pools[p]) for p in needed}
        probs = spec.op_probabilities()
        self.op_names: tuple[str, ...] = tuple(sorted(probs))
        self.op_probs = np.array([probs[o] for o in self.op_names], dtype=np.float64)
        ops = [OPERATIONS[o] for o in self.op_names]
        self.op_nids = tuple(spec.batch_size if op.batch else len(op.pools) for op in ops)
        self.op_details = tuple(op.details for op in ops)
        self.width = max(
            [n + (1 if d else 0) for n, d in zip(self.op_nids, self.op_details, strict=True)] + [1]
        )

    def popularity(self, pool: str) -> Popularity:
        """A fresh popularity object for ``pool`` (its ``probabilities()`` align with the ids)."""
        return Popularity(self.pools[pool].size, self.spec.popularity_of(pool))

    def key_rates(self, op: str) -> tuple[IntArray, FloatArray]:
        """Ids of ``op``'s first pool and each one's expected request rate (per simulated s).

        Bursts are ignored (the analytical model assumes a stationary process). A batch read
        counts each id in the batch.
        """
        if op not in self.op_names:
            raise ConfigError(
                "op", f"{op!r} is not issued by this workload; it issues {self.op_names}"
            )
        k = self.op_names.index(op)
        pools = OPERATIONS[op].pools
        if not pools:
            raise ConfigError("op", f"{op!r} takes no ids")
        rate = (
            self.spec.rate
            * float(self.op_probs[k])
            * (self.op_nids[k] if OPERATIONS[op].batch else 1)
        )
        pop = Popularity(self.pools[pools[0]].size, self.spec.popularity_for(op, pools[0]))
        return self.pools[pools[0]], rate * pop.probabilities()

    def batches(self) -> Iterator[RequestBatch]:
        """The stream as numpy blocks; each call starts over and yields the same blocks."""
        root = np.random.SeedSequence([self.seed, 0xE7A1])
        (arr_ss, op_ss, det_ss, burst_ss, *pool_ss) = root.spawn(4 + len(POOLS))
        rng_arr, rng_op = np.random.default_rng(arr_ss), np.random.default_rng(op_ss)
        rng_det, rng_burst = np.random.default_rng(det_ss), np.random.default_rng(burst_ss)
        # One generator per pool name in the global POOLS order: stable across workloads.
        rng_pool = {p: np.random.default_rng(ss) for p, ss in zip(POOLS, pool_ss, strict=True)}
        pops = {p: self.popularity(p) for p in self.pools}
        # operations with a popularity of their own (a fitted spec); the pool's rng is shared
        op_pops = {
            (o, p): Popularity(self.pools[p].size, s)
            for o, s in self.spec.op_popularity.items()
            if o in self.op_names
            for p in OPERATIONS[o].pools
        }
        cdf = np.cumsum(self.op_probs)
        cdf[-1] = 1.0
        bursts = self.spec.bursts
        for t in iter_arrivals(rng_arr, self.spec.rate, self.duration_s, bursts):
            n = t.size
            op = np.minimum(np.searchsorted(cdf, rng_op.random(n), side="right"), len(cdf) - 1)
            op = op.astype(np.int16)
            args = np.full((n, self.width), -1, dtype=np.int64)
            for k, name in enumerate(self.op_names):
                idx = np.flatnonzero(op == k)
                if idx.size == 0:
                    continue
                spec_op = OPERATIONS[name]
                cols = (
                    [spec_op.pools[0]] * self.op_nids[k] if spec_op.batch else list(spec_op.pools)
                )
                for j, pool in enumerate(cols):
                    pop = op_pops.get((name, pool)) or pops[pool]
                    pos = pop.sample(rng_pool[pool], idx.size)
                    pos = self._focus(pos, t[idx], pool, rng_burst)
                    args[idx, j] = self.pools[pool][pos]
                if self.op_details[k]:
                    args[idx, len(cols)] = rng_det.integers(0, len(self.op_details[k]), idx.size)
            yield RequestBatch(t, op, args, self.op_names, self.op_details, self.op_nids)

    def _focus(self, pos: IntArray, t: FloatArray, pool: str, rng: np.random.Generator) -> IntArray:
        """Concentrate draws of ``pool`` inside burst windows on the burst's few keys."""
        for b in self.spec.bursts:
            if b.focus_pool != pool:
                continue
            inside = (t >= b.start_s) & (t < b.end_s)
            hot = inside & (rng.random(t.size) < b.focus_share)
            count = int(hot.sum())
            if count:
                pos = pos.copy()
                pos[hot] = rng.integers(0, min(b.focus_keys, self.pools[pool].size), count)
        return pos

    def __iter__(self) -> Iterator[Request]:
        for batch in self.batches():
            yield from batch.requests()

    def digest(self) -> str:
        """SHA-256 of the whole stream's arrays (equal seeds give equal digests)."""
        return stream_digest(self.batches())


def stream_digest(batches: Iterable[RequestBatch]) -> str:
    """SHA-256 hex digest over a sequence of batches."""
    h = hashlib.sha256()
    for b in batches:
        b.digest_update(h)
    return h.hexdigest()
