"""Strategies by name: ``get_strategy(name, **options)``, ``strategy_names()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.strategies.base import BaseStrategy
from evalcache.strategies.keyed import (
    ExplicitStrategy,
    LeaseStrategy,
    PatternStrategy,
    TagsStrategy,
    WriteThroughStrategy,
)
from evalcache.strategies.notify import NotifyStrategy
from evalcache.strategies.seedplan import SeedStrategy, TTLStrategy
from evalcache.strategies.versioned import GenerationStrategy, TableStrategy

_REGISTRY: dict[str, Callable[..., BaseStrategy]] = {
    "ttl": TTLStrategy,
    "seed": SeedStrategy,
    "explicit": ExplicitStrategy,
    "pattern": PatternStrategy,
    "tags": TagsStrategy,
    "generation": GenerationStrategy,
    "write_through": WriteThroughStrategy,
    "notify": NotifyStrategy,
    "table": TableStrategy,
    "lease": LeaseStrategy,
}


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy name, in registry order."""
    return tuple(_REGISTRY)


def get_strategy(name: str, **options: Any) -> BaseStrategy:
    """A new, unbound strategy.

    Raises
    ------
    UnknownNameError: ``name`` is not registered (the message lists the known names).
    ConfigError: an option the strategy does not accept.

    Examples
    --------
    >>> get_strategy("tags").name
    'tags'
    """
    factory = _REGISTRY.get(name)
    if factory is None:
        raise UnknownNameError("invalidation strategy", name, _REGISTRY)
    try:
        return factory(**options)
    except TypeError as exc:
        raise ConfigError(
            "strategy_options", f"{name!r} does not accept {sorted(options)}: {exc}"
        ) from exc
