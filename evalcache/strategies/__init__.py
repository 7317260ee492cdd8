"""Pluggable invalidation strategies, chosen by name (see ``registry.py`` and ``deps.py``).

Examples
--------
>>> from evalcache.strategies import get_strategy, strategy_names
>>> "tags" in strategy_names()
True
"""

from __future__ import annotations

from evalcache.strategies.base import BaseStrategy, Host, InvalidationStrategy, ReadSpec
from evalcache.strategies.registry import get_strategy, strategy_names

__all__ = [
    "BaseStrategy",
    "Host",
    "InvalidationStrategy",
    "ReadSpec",
    "get_strategy",
    "strategy_names",
]
