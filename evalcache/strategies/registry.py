"""Strategies by name: ``get_strategy(name, **options)``, ``strategy_names()``.

Registration is lazy, as dogpile.cache registers its backends: each name maps to a small
function that imports its module on first use, so importing the registry (or the contract)
loads no strategy and no driver (``notify`` needs psycopg only once it is bound).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.strategies.base import BaseStrategy

StrategyClass = type[BaseStrategy]


def _ttl() -> StrategyClass:
    from evalcache.strategies.ttl import TTLStrategy

    return TTLStrategy


def _seed() -> StrategyClass:
    from evalcache.strategies.seed import SeedStrategy

    return SeedStrategy


def _explicit() -> StrategyClass:
    from evalcache.strategies.explicit import ExplicitStrategy

    return ExplicitStrategy


def _pattern() -> StrategyClass:
    from evalcache.strategies.pattern import PatternStrategy

    return PatternStrategy


def _tags() -> StrategyClass:
    from evalcache.strategies.tags import TagsStrategy

    return TagsStrategy


def _generation() -> StrategyClass:
    from evalcache.strategies.generation import GenerationStrategy

    return GenerationStrategy


def _write_through() -> StrategyClass:
    from evalcache.strategies.write_through import WriteThroughStrategy

    return WriteThroughStrategy


def _notify() -> StrategyClass:
    from evalcache.strategies.notify import NotifyStrategy

    return NotifyStrategy


def _table() -> StrategyClass:
    from evalcache.strategies.table import TableStrategy

    return TableStrategy


def _lease() -> StrategyClass:
    from evalcache.strategies.lease import LeaseStrategy

    return LeaseStrategy


_REGISTRY: dict[str, Callable[[], StrategyClass]] = {
    "ttl": _ttl,
    "seed": _seed,
    "explicit": _explicit,
    "pattern": _pattern,
    "tags": _tags,
    "generation": _generation,
    "write_through": _write_through,
    "notify": _notify,
    "table": _table,
    "lease": _lease,
}


def register_strategy(name: str, load: Callable[[], StrategyClass]) -> None:
    """Register (or replace) a strategy: ``load()`` returns its class, imported on first use."""
    _REGISTRY[name] = load


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy name, in registry order."""
    return tuple(_REGISTRY)


def strategy_class(name: str) -> StrategyClass:
    """The class registered as ``name`` (its flags are class attributes).

    Raises
    ------
    UnknownNameError: ``name`` is not registered (the message lists the known names).
    """
    load = _REGISTRY.get(name)
    if load is None:
        raise UnknownNameError("invalidation strategy", name, _REGISTRY)
    return load()


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
    cls = strategy_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(
            "strategy_options", f"{name!r} does not accept {sorted(options)}: {exc}"
        ) from exc
