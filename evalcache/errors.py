"""One error hierarchy for evalcache.

Driver errors are wrapped with ``raise ... from exc``; messages say what was wrong and what is
accepted.
"""

from __future__ import annotations

from collections.abc import Iterable


class EvalCacheError(Exception):
    """Base class of every error evalcache raises on purpose."""


class ConfigError(EvalCacheError, ValueError):
    """A setting or parameter is malformed or out of range.

    Attributes
    ----------
    name:
        The parameter or environment variable that was wrong.
    """

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


class ServiceError(EvalCacheError):
    """A configured or required server (PostgreSQL, Redis) could not be reached or started."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class UnknownNameError(EvalCacheError, KeyError):
    """A registry lookup by name failed; the message lists what exists."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"No {kind} named {name!r}; known: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class CacheError(EvalCacheError):
    """A cache operation failed and fail-open was disabled."""
