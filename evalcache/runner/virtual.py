"""Virtual mode: replay the stream in simulated time, as fast as the machine goes.

For each request the virtual clock jumps to ``t0 + t`` (absolute, so no drift accumulates), the
strategy gets ``repo.tick()``, and the request is served. Expiry is judged by the cache core
against the virtual clock. Asynchronous effects follow the ideal-lag model: writes are followed
by ``repo.drain()`` and refresh-ahead runs inline, so a run's answer does not depend on how fast
the machine replays, and the same seed gives the same hit/miss sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tqdm import tqdm

from evalcache.clock import VirtualClock
from evalcache.runner.serve import Executor
from evalcache.workload import RequestBatch

TIME_MODEL = "virtual clock; inline refresh; ideal notify lag (drain after each write)"


def replay_virtual(
    batches: Iterable[RequestBatch],
    executor: Executor,
    clock: VirtualClock,
    t0: float,
    *,
    tick: Callable[[], None],
    warmup_s: float,
    on_measure: Callable[[], None],
    total: int | None = None,
    progress: bool = False,
) -> int:
    """Serve every request in time order; return how many were served.

    ``on_measure`` is called once when simulated time reaches ``warmup_s`` (before the first
    counted request); requests before it are served but not counted.
    """
    executor.measuring = warmup_s <= 0
    if executor.measuring:
        on_measure()
    served = 0
    execute = executor.execute
    set_clock = clock.set
    with tqdm(total=total, unit="req", disable=not progress, smoothing=0.05) as bar:
        for batch in batches:
            for i, (t, op, args) in enumerate(batch.requests(), served):
                if not executor.measuring and t >= warmup_s:
                    on_measure()
                    executor.measuring = True
                now = t0 + t
                set_clock(now)
                tick()
                execute(t, op, args, now, 0, index=i)
            served += len(batch)
            bar.update(len(batch))
    return served
