"""evalcache: measure what a Redis query cache in front of PostgreSQL buys an application."""

from __future__ import annotations

from evalcache.cache import NO_VALUE, DatabaseCache, escape_pattern
from evalcache.clock import Clock, SystemClock, VirtualClock
from evalcache.errors import ConfigError, EvalCacheError, ServiceError, UnknownNameError
from evalcache.settings import Settings
from evalcache.strategies.api import WriteEvent

__all__ = [
    "NO_VALUE",
    "Clock",
    "ConfigError",
    "DatabaseCache",
    "EvalCacheError",
    "ServiceError",
    "Settings",
    "SystemClock",
    "UnknownNameError",
    "VirtualClock",
    "WriteEvent",
    "escape_pattern",
]
__version__ = "0.1.0"
