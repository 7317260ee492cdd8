"""Who stores an entry: the hook the runner's staleness oracle uses to find a stale read's cause.

A cache store (a fill's SET or compare-and-set, a refresh's store) calls the context's
``store_observer(value, origin, stored)`` right after the command, at the virtual instant it
takes effect: ``origin`` is ``"refresh"`` inside a refresh job (:func:`refreshing`), else
``"fill"``; ``stored`` is False when the store was skipped or lost its compare-and-set. The
observer must not use the cache's own client (in a simulation its round trips would take time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: ``(value, origin, stored)`` after each store.
StoreObserver = Callable[[Any, str, bool], None]

# Per thread and per greenlet (greenlets have their own context): a refresh running inline
# inside a request, on a pool thread or as a simulation process.
_REFRESHING: ContextVar[bool] = ContextVar("evalcache_refreshing", default=False)


@contextmanager
def refreshing() -> Iterator[None]:
    """Mark the stores made inside the block as a refresh's."""
    token = _REFRESHING.set(True)
    try:
        yield
    finally:
        _REFRESHING.reset(token)


def origin() -> str:
    """``"refresh"`` inside :func:`refreshing`, else ``"fill"``."""
    return "refresh" if _REFRESHING.get() else "fill"
