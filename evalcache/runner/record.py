"""``record_trace``: a run's request stream and each request's outcome, as a trace file.

The executor hands each request's outcome codes to a :class:`TraceRecorder` by the request's
position in the stream (with overlapping requests they end out of order, so the byte order of
``Executor.trace`` is not the arrival order). When the run ends, the stream is read again from
its source (it starts over and yields the same requests) and joined with the outcomes into a
:class:`~evalcache.workload.trace.Trace` (schema in ``docs/traces.md``).

A recorded write also keeps the dependency groups its event makes stale
(:func:`evalcache.domain.invalidation.event_groups`), what an exported trace deletes. The
post-commit look-up a profile write needs (the entries that embed the name) runs at the write,
on a connection of the recorder's own that no counter sees; without one, those groups are
wildcards.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from evalcache.domain.invalidation import Related, event_groups
from evalcache.runner.serve import TRACE_CODES, TRACE_ERROR, TRACE_NOOP, TRACE_WRITE
from evalcache.strategies.api import WriteEvent
from evalcache.workload.trace import OUTCOMES, RequestSource, Trace, TraceMeta

#: Executor trace code -> index into OUTCOMES (0, "not recorded", becomes -1).
_CODE_TO_OUTCOME = np.full(256, -1, dtype=np.int8)
for _name, _code in {
    **TRACE_CODES,
    "write": TRACE_WRITE,
    "error": TRACE_ERROR,
    "noop": TRACE_NOOP,
}.items():
    _CODE_TO_OUTCOME[_code] = OUTCOMES.index(_name)


class TraceRecorder:
    """Collects outcomes by request index during a run; :meth:`trace` builds the trace.

    Parameters
    ----------
    source:
        The run's request source (generator or trace), read again at the end.
    specs_of:
        Expert id -> its specialization names (a write's ``spec:S`` groups).
    meta:
        The trace's metadata known before the run (completed by :meth:`trace`).
    related:
        The post-commit look-up of a write's embedded-name groups (``None``: wildcards).
    """

    def __init__(
        self,
        source: RequestSource,
        specs_of: Callable[[int], tuple[str, ...]],
        meta: TraceMeta,
        related: Callable[[WriteEvent], Related] | None = None,
    ) -> None:
        self.source = source
        self.meta = meta
        self._specs_of = specs_of
        self._related = related
        self._codes = bytearray()
        self._read_codes = bytearray()
        self._groups: dict[int, list[str]] = {}

    def outcome(
        self, index: int, code: int, read_code: int | None, event: WriteEvent | None
    ) -> None:
        if index >= len(self._codes):
            grow = max(index + 1 - len(self._codes), len(self._codes))
            self._codes.extend(bytes(grow))
            self._read_codes.extend(bytes(grow))
        self._codes[index] = code
        if read_code is not None:
            self._read_codes[index] = read_code
        if event is not None:
            rel = self._related(event) if self._related is not None else None
            self._groups[index] = event_groups(event, self._specs_of, rel)

    def trace(self, **meta: Any) -> Trace:
        """The recorded trace; ``meta`` completes its :class:`TraceMeta` (run figures)."""
        batches = list(self.source.batches())
        n = sum(len(b) for b in batches)
        names = batches[0].op_names if batches else ()
        width = max((b.args.shape[1] for b in batches), default=1)
        t = np.concatenate([b.t for b in batches]) if batches else np.zeros(0)
        op = np.concatenate([b.op for b in batches]) if batches else np.zeros(0, np.int16)
        args = np.full((n, width), -1, dtype=np.int64)
        row = 0
        for b in batches:
            args[row : row + len(b), : b.args.shape[1]] = b.args
            row += len(b)
        codes = np.zeros(n, dtype=np.uint8)
        got = np.frombuffer(bytes(self._codes[:n]), dtype=np.uint8)
        codes[: got.size] = got
        read_codes = np.zeros(n, dtype=np.uint8)
        got = np.frombuffer(bytes(self._read_codes[:n]), dtype=np.uint8)
        read_codes[: got.size] = got
        invalidates: list[Sequence[str] | None] = [None] * n
        for i, groups in self._groups.items():
            if i < n:
                invalidates[i] = groups
        fields = {**self.meta.__dict__, **meta}
        return Trace(
            t,
            op,
            args,
            tuple(names),
            TraceMeta(**fields),
            _CODE_TO_OUTCOME[codes],
            _CODE_TO_OUTCOME[read_codes],
            invalidates,
        )


def value_bytes(summary: Mapping[str, Any]) -> dict[str, float]:
    """Read family -> mean stored bytes per entry, as the run measured them (``families``)."""
    out: dict[str, float] = {}
    for family, figures in (summary.get("families") or {}).items():
        size = (figures or {}).get("bytes_per_entry")
        if isinstance(size, int | float) and size > 0:
            out[str(family)] = float(size)
    return out
