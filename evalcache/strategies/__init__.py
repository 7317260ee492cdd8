"""Pluggable invalidation strategies, chosen by name, one module each.

A strategy sees the application only through the contract in :mod:`evalcache.strategies.api`
(read specs, write events, the host's dependency map) and the cache. Names are registered
lazily in :mod:`evalcache.strategies.registry`.

Examples
--------
>>> from evalcache.strategies import get_strategy, strategy_names
>>> "tags" in strategy_names()
True
"""

from __future__ import annotations

from evalcache.strategies.api import (
    DependencyMap,
    Host,
    InvalidationStrategy,
    ReadSpec,
    Target,
    WriteEvent,
)
from evalcache.strategies.base import BaseStrategy
from evalcache.strategies.registry import (
    get_strategy,
    register_strategy,
    strategy_class,
    strategy_names,
)

__all__ = [
    "BaseStrategy",
    "DependencyMap",
    "Host",
    "InvalidationStrategy",
    "ReadSpec",
    "Target",
    "WriteEvent",
    "get_strategy",
    "register_strategy",
    "strategy_class",
    "strategy_names",
]
