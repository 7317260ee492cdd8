"""Turn a workload spec and the database's real ids into a deterministic request stream.

Everything is drawn in numpy blocks (one block per arrival chunk) from generators spawned from
the run seed, one stream per concern (arrivals, operation choice, each id pool, details,
bursts), so adding a pool or an operation to one workload does not reshuffle the others, and the
same seed gives the same stream byte for byte.

Inserts (``write:insert_user``) grow the ``users`` pool as the stream goes: each insert is
given the next new id (after the pool's largest, in order) and every later draw of the pool sees
the records inserted before it (``WorkloadSpec.key_space`` says how each popularity uses them).
Scan lengths come from a generator of their own, so workloads without scans are unchanged.
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
from evalcache.workload.scrambled import LatestRanks
from evalcache.workload.spec import OPERATIONS, POOL_STREAMS, WorkloadSpec, parse_duration

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Request(NamedTuple):
    """One request: simulated arrival time (s from start), operation name, arguments.

    ``args`` are the ids in the operation's pool order (a batch read has ``batch_size`` user
    ids; a scan its start id and record count; an insert its new id), followed by the detail
    string when the operation has one (e.g. ``"preferences"``).
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
        required. With ``key_space="ycsb"`` they are sorted by id here.
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
        if spec.key_space == "ycsb":  # YCSB's records in insertion order
            self.pools = {p: np.sort(ids) for p, ids in self.pools.items()}
        probs = spec.op_probabilities()
        self.op_names: tuple[str, ...] = tuple(sorted(probs))
        self.op_probs = np.array([probs[o] for o in self.op_names], dtype=np.float64)
        ops = [OPERATIONS[o] for o in self.op_names]
        self.op_nids = tuple(spec.batch_size if op.batch else op.id_args for op in ops)
        #: The pool inserts grow (``None`` without inserts), its first new id, and YCSB's
        #: ``expectednewkeys`` (twice the expected inserts: the scrambled Zipfian's extra keys).
        self.growing = next((op.grows for op in ops if op.grows), None)
        self.first_new_id = 0
        self.expected_new_keys = 0
        if self.growing is not None:
            grown = self.pools[self.growing]
            self.first_new_id = int(grown.max()) + 1  # before a record_count cut: no clash
            share = sum(probs[o] for o in self.op_names if OPERATIONS[o].grows)
            self.expected_new_keys = int(spec.rate * self.duration_s * share * 2.0)
        if spec.record_count is not None:
            users = self.pools.get("users")
            if users is None:
                raise ConfigError("record_count", "the workload draws no users to cut")
            if spec.record_count > users.size:
                raise ConfigError(
                    "record_count",
                    f"YCSB recordcount {spec.record_count} exceeds the users pool, which holds "
                    f"{users.size} users at this scale; accepted: 1..{users.size}",
                )
            self.pools["users"] = users[: spec.record_count]
        self.op_details = tuple(op.details for op in ops)
        self.width = max(
            [n + (1 if d else 0) for n, d in zip(self.op_nids, self.op_details, strict=True)] + [1]
        )

    def popularity(self, pool: str) -> Popularity:
        """A fresh popularity object for ``pool`` (its ``probabilities()`` align with the ids;
        a growing pool's are those of its initial records)."""
        n = self.pools[pool].size
        spec = self.spec.popularity_of(pool)
        if spec.kind != "scrambled_zipf":
            return Popularity(n, spec)
        # CoreWorkload: ScrambledZipfianGenerator(0, records + 2 x expected inserts), so
        # records + 1 keys without inserts, the keys not inserted yet drawn again
        extra = self.expected_new_keys if pool == self.growing else 0
        extra += self.spec.key_space == "ycsb"
        return Popularity(n, spec, itemcount=n + extra)

    def key_rates(self, op: str) -> tuple[IntArray, FloatArray]:
        """Ids of ``op``'s first pool and each one's expected request rate (per simulated s).

        The analytical model assumes a stationary process: a time-varying rate (bursts,
        cycles, ramps) is taken at its time average over the run (:meth:`WorkloadSpec.mean_rate`;
        without any, the base rate). A batch read counts each id in the batch.
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
            self.mean_rate()
            * float(self.op_probs[k])
            * (self.op_nids[k] if OPERATIONS[op].batch else 1)
        )
        pop = Popularity(self.pools[pools[0]].size, self.spec.popularity_for(op, pools[0]))
        return self.pools[pools[0]], rate * pop.probabilities()

    def mean_rate(self) -> float:
        """The stream's time-averaged rate over this generator's duration (requests/s)."""
        return self.spec.mean_rate(self.duration_s)

    def expected_requests(self) -> float:
        """The expected number of requests in the stream (for a progress bar's total)."""
        return self.spec.expected_requests(self.duration_s)

    def batches(self) -> Iterator[RequestBatch]:
        """The stream as numpy blocks; each call starts over and yields the same blocks."""
        root = np.random.SeedSequence([self.seed, 0xE7A1])
        (arr_ss, op_ss, det_ss, burst_ss, *pool_ss) = root.spawn(4 + len(POOL_STREAMS))
        rng_arr, rng_op = np.random.default_rng(arr_ss), np.random.default_rng(op_ss)
        rng_det, rng_burst = np.random.default_rng(det_ss), np.random.default_rng(burst_ss)
        # One generator per pool name in the fixed POOL_STREAMS order: stable across workloads
        # and across pools added later.
        rng_pool = {
            p: np.random.default_rng(ss) for p, ss in zip(POOL_STREAMS, pool_ss, strict=True)
        }
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
        # scan lengths and the growing pool: only workloads with scans or inserts use them
        rng_scan = np.random.default_rng(np.random.SeedSequence([self.seed, 0xE7A1, 0x5CA7]))
        growing = self.growing
        inserts = [k for k, o in enumerate(self.op_names) if OPERATIONS[o].grows]
        latest = None
        if growing is not None and self.spec.popularity_of(growing).kind == "latest":
            latest = LatestRanks(self.spec.popularity_of(growing).theta)
        inserted = 0
        cycles, ramps = self.spec.cycles, self.spec.ramps  # none: the stream as before them
        for t in iter_arrivals(
            rng_arr, self.spec.rate, self.duration_s, bursts, cycles=cycles, ramps=ramps
        ):
            n = t.size
            op = np.minimum(np.searchsorted(cdf, rng_op.random(n), side="right"), len(cdf) - 1)
            op = op.astype(np.int16)
            args = np.full((n, self.width), -1, dtype=np.int64)
            counts = None  # the growing pool's records at each request (inserts before it)
            if growing is not None:
                new = np.isin(op, inserts).astype(np.int64)
                counts = self.pools[growing].size + inserted + np.cumsum(new) - new
                inserted += int(new.sum())
            for k, name in enumerate(self.op_names):
                idx = np.flatnonzero(op == k)
                if idx.size == 0:
                    continue
                spec_op = OPERATIONS[name]
                if spec_op.grows is not None:
                    assert counts is not None
                    args[idx, 0] = self._ids(spec_op.grows, counts[idx])  # the next new ids
                    continue
                cols = (
                    [spec_op.pools[0]] * self.op_nids[k] if spec_op.batch else list(spec_op.pools)
                )
                for j, pool in enumerate(cols):
                    if pool == growing:
                        assert counts is not None
                        pos = self._grown(pops[pool], rng_pool[pool], counts[idx], latest)
                    else:
                        pop = op_pops.get((name, pool)) or pops[pool]
                        pos = pop.sample(rng_pool[pool], idx.size)
                    pos = self._focus(pos, t[idx], pool, rng_burst)
                    args[idx, j] = self._ids(pool, pos)
                if spec_op.scan:
                    length = rng_scan.integers(1, self.spec.max_scan_length + 1, idx.size)
                    args[idx, len(cols)] = length
                if self.op_details[k]:
                    args[idx, len(cols)] = rng_det.integers(0, len(self.op_details[k]), idx.size)
            yield RequestBatch(t, op, args, self.op_names, self.op_details, self.op_nids)

    def _grown(
        self,
        pop: Popularity,
        rng: np.random.Generator,
        counts: IntArray,
        latest: LatestRanks | None,
    ) -> IntArray:
        """Positions in a growing pool: each draw sees the records that exist at its request."""
        if latest is not None:  # newest hottest, over the records so far
            return latest.positions(rng, counts)
        if pop.spec.kind == "scrambled_zipf":  # keys not inserted yet drawn again
            return pop.sample_below(rng, counts.size, counts)
        return pop.sample(rng, counts.size)  # the initial records (YCSB's uniform)

    def _ids(self, pool: str, pos: IntArray) -> IntArray:
        """Ids at positions of ``pool``; past its initial records, the inserted ids."""
        ids = self.pools[pool]
        if pool != self.growing:
            return ids[pos]
        n = ids.size
        out: IntArray = np.where(
            pos < n, ids[np.minimum(pos, n - 1)], self.first_new_id + (pos - n)
        )
        return out

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
