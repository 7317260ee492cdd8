"""Live mode: wall clock, Redis expiry, open-loop arrivals from several worker threads.

Requests keep their generated arrival times: request *i* is due at ``start + t_i`` whatever
happened to earlier ones. Workers take requests in arrival order, sleep until each one is due
and record its latency from that intended start, so a system that falls behind shows the delay
in its latencies instead of slowing the offered load down (no coordinated omission). When a
request starts more than ``saturation_lag_s`` late the run is flagged ``saturated``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tqdm import tqdm

from evalcache.runner.serve import Executor
from evalcache.workload import Request, RequestBatch

TIME_MODEL = "live wall clock; Redis expiry; background refresh; real notify lag; open loop"


@dataclass
class LiveOutcome:
    served: int
    max_lag_s: float
    saturated: bool
    end_s: float = 0.0  # when the last request completed, seconds from the start


def replay_live(
    batches: Iterable[RequestBatch],
    executor: Executor,
    *,
    workers: int,
    tick: Callable[[], None],
    warmup_s: float,
    on_measure: Callable[[], None],
    saturation_lag_s: float,
    total: int | None = None,
    progress: bool = False,
) -> LiveOutcome:
    """Serve the stream in real time with ``workers`` threads."""
    requests: Iterator[tuple[int, Request]] = enumerate(
        itertools.chain.from_iterable(b.requests() for b in batches)
    )
    lock = threading.Lock()
    state = {"served": 0, "max_lag": 0.0, "measuring": warmup_s <= 0, "last_tick": 0.0}
    failures: list[BaseException] = []
    executor.measuring = bool(state["measuring"])
    if executor.measuring:
        on_measure()
    bar = tqdm(total=total, unit="req", disable=not progress)
    start = time.perf_counter() + 0.05
    start_ns = int(start * 1e9)
    wall0 = time.time() + 0.05

    def worker() -> None:
        try:
            while True:
                with lock:
                    item = next(requests, None)
                    if item is None:
                        return
                    index, req = item
                    if not state["measuring"] and req.t >= warmup_s:
                        on_measure()
                        state["measuring"] = executor.measuring = True
                    now_wall = time.time()
                    if now_wall - float(state["last_tick"]) >= 1.0:
                        state["last_tick"] = now_wall
                        tick()
                due = start + req.t
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    with lock:
                        state["max_lag"] = max(float(state["max_lag"]), -delay)
                executor.execute(
                    req.t, req.op, req.args, wall0 + req.t, start_ns + int(req.t * 1e9), index=index
                )
                with lock:
                    state["served"] = int(state["served"]) + 1
                    bar.update(1)
        except BaseException as exc:  # re-raised in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, name=f"live-{i}") for i in range(workers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    bar.close()
    if failures:
        raise failures[0]
    lag = float(state["max_lag"])
    end_s = time.perf_counter() - start
    return LiveOutcome(int(state["served"]), lag, lag > saturation_lag_s, end_s)
