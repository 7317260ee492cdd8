"""Explicit, frozen configuration.

Built from keyword arguments, a mapping (notebook parameters) or the environment; never a
module-level singleton.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from evalcache.errors import ConfigError

DATABASE_URL_VAR = "EVALCACHE_DATABASE_URL"
REDIS_URL_VAR = "EVALCACHE_REDIS_URL"
DATA_DIR_VAR = "EVALCACHE_DATA_DIR"

_PG_SCHEMES = ("postgresql", "postgresql+psycopg", "postgres")
_REDIS_SCHEMES = ("redis", "rediss", "unix")


def mask_url(url: str | None) -> str | None:
    """Return ``url`` with any password replaced by ``***`` (safe for logs and reports)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0] + ":***"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc[1]}"))


def validate_database_url(url: str, source: str = DATABASE_URL_VAR) -> str:
    """Check a PostgreSQL URL's shape; return it in SQLAlchemy psycopg-3 form."""
    parts = urlsplit(url)
    if parts.scheme not in _PG_SCHEMES:
        raise ConfigError(
            source,
            f"malformed PostgreSQL URL {mask_url(url)!r}: scheme {parts.scheme!r} is not one of "
            f"{', '.join(_PG_SCHEMES)} (example: postgresql://user@127.0.0.1:5432/evalcache)",
        )
    try:
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise ConfigError(source, f"malformed PostgreSQL URL {mask_url(url)!r}: {exc}") from exc
    if not parts.path.strip("/"):
        raise ConfigError(
            source, f"PostgreSQL URL {mask_url(url)!r} names no database (…/dbname is required)"
        )
    return urlunsplit(parts._replace(scheme="postgresql+psycopg"))


def validate_redis_url(url: str, source: str = REDIS_URL_VAR) -> str:
    """Check a Redis URL's shape and return it unchanged."""
    parts = urlsplit(url)
    if parts.scheme not in _REDIS_SCHEMES:
        raise ConfigError(
            source,
            f"malformed Redis URL {mask_url(url)!r}: scheme {parts.scheme!r} is not one of "
            f"{', '.join(_REDIS_SCHEMES)} (example: redis://127.0.0.1:6379/0)",
        )
    try:
        parts.port  # noqa: B018
    except ValueError as exc:
        raise ConfigError(source, f"malformed Redis URL {mask_url(url)!r}: {exc}") from exc
    if parts.scheme != "unix" and not parts.hostname:
        raise ConfigError(source, f"Redis URL {mask_url(url)!r} names no host")
    return url


@dataclass(frozen=True)
class Settings:
    """Where the services are and where local state lives.

    Attributes
    ----------
    database_url:
        Explicit PostgreSQL URL, or ``None`` to resolve one (local server, then embedded).
    redis_url:
        Explicit Redis URL, or ``None`` to resolve one.
    data_dir:
        Project-local folder for embedded servers' data and state.
    database_name:
        Database used on a local or embedded server when no URL is given.
    """

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path(".evalcache")
    database_name: str = "evalcache"

    def __post_init__(self) -> None:
        if self.database_url is not None:
            object.__setattr__(
                self, "database_url", validate_database_url(self.database_url, "database_url")
            )
        if self.redis_url is not None:
            validate_redis_url(self.redis_url, "redis_url")
        object.__setattr__(self, "data_dir", Path(self.data_dir))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``EVALCACHE_DATABASE_URL``, ``EVALCACHE_REDIS_URL``, ``EVALCACHE_DATA_DIR``."""
        env = os.environ if environ is None else environ
        kwargs: dict[str, Any] = {}
        if env.get(DATABASE_URL_VAR):
            kwargs["database_url"] = validate_database_url(env[DATABASE_URL_VAR])
        if env.get(REDIS_URL_VAR):
            kwargs["redis_url"] = validate_redis_url(env[REDIS_URL_VAR])
        if env.get(DATA_DIR_VAR):
            kwargs["data_dir"] = Path(env[DATA_DIR_VAR])
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> Settings:
        """Build from notebook parameters; unknown keys are an error listing the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = set(params) - known
        if unknown:
            raise ConfigError(
                ", ".join(sorted(unknown)), f"unknown setting; known: {', '.join(sorted(known))}"
            )
        return cls(**dict(params))

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def masked(self) -> dict[str, str | None]:
        """The settings as strings with passwords masked (for logs and reports)."""
        return {
            "database_url": mask_url(self.database_url),
            "redis_url": mask_url(self.redis_url),
            "data_dir": str(self.data_dir),
            "database_name": self.database_name,
        }
