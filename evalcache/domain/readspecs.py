"""Read specs from the family registry: TTL settings, keys and the uncached answers.

:func:`build_spec` turns a workload read (family name and arguments) into the
:class:`~evalcache.strategies.api.ReadSpec` strategies key and fill; :func:`spec_from_key`
parses an entry key back; :func:`run_query` / :func:`run_many` compute the uncached answers.
Every fact they use comes from :data:`evalcache.domain.families.FAMILIES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection

from evalcache.domain.families import (
    BY_KEY_FAMILY,
    FAMILIES,
    FAMILY_NAMES,
    TTL_SETTINGS,
    Now,
    entry_groups,
)
from evalcache.errors import ConfigError, UnknownNameError
from evalcache.strategies.api import ReadSpec

NEGATIVE = "negative"


class TTLSettings:
    """Entry TTLs in clock seconds per TTL setting (defaults: the seed plan's, from the family
    registry), plus ``negative`` for cached "not found" answers.

    Examples
    --------
    >>> TTLSettings().scaled(0.5)["expert_full"]
    150.0
    >>> TTLSettings.from_mapping({"dashboard_admin": 60}).for_family("dashboard_admin")
    60.0
    """

    __slots__ = ("_seconds",)

    #: Setting names, in order: each family's, then ``negative``.
    NAMES: tuple[str, ...] = (*TTL_SETTINGS, NEGATIVE)

    def __init__(self, **seconds: float) -> None:
        unknown = sorted(set(seconds) - set(self.NAMES))
        if unknown:
            raise ConfigError(
                "ttls", f"unknown TTL names {unknown}; accepted: {', '.join(self.NAMES)}"
            )
        values = {**TTL_SETTINGS, NEGATIVE: 60.0, **seconds}
        for name, v in values.items():
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"ttls.{name}", f"{v!r} is not a number of seconds")
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"ttls.{name}", f"{v!r} is not a positive finite TTL")
        self._seconds = {name: float(values[name]) for name in self.NAMES}

    def __getitem__(self, name: str) -> float:
        try:
            return self._seconds[name]
        except KeyError:
            raise UnknownNameError("TTL setting", name, self.NAMES) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TTLSettings) and self._seconds == other._seconds

    def __hash__(self) -> int:
        return hash(tuple(self._seconds.items()))

    def __repr__(self) -> str:
        return f"TTLSettings({', '.join(f'{k}={v:g}' for k, v in self._seconds.items())})"

    @property
    def negative(self) -> float:
        return self._seconds[NEGATIVE]

    def as_dict(self) -> dict[str, float]:
        return dict(self._seconds)

    def scaled(self, factor: float) -> TTLSettings:
        """Every TTL (``negative`` included) multiplied by ``factor`` (> 0)."""
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 0:
            raise ConfigError("factor", f"{factor!r} is not a positive number")
        return TTLSettings(**{k: v * factor for k, v in self._seconds.items()})

    @classmethod
    def from_mapping(cls, m: Mapping[str, float]) -> TTLSettings:
        """Defaults overridden by ``m`` (notebook parameters); unknown names are refused."""
        return cls(**dict(m))

    def for_family(self, family: str) -> float:
        """The TTL of ``family`` (its registry record names the setting)."""
        fam = FAMILIES.get(family)
        if fam is None:
            raise UnknownNameError("query family", family, FAMILY_NAMES)
        return self._seconds[fam.ttl_setting]


def build_spec(
    family: str,
    args: tuple[Any, ...],
    ttls: TTLSettings,
    now: Now,
    admin_id: int,
) -> ReadSpec:
    """The :class:`ReadSpec` of one read (one id for a batch family: call per id).

    ``now`` may be a callable: only a default expert-appointments window needs the time, and
    reads are the hot path.
    """
    fam = FAMILIES.get(family)
    if fam is None:
        raise UnknownNameError("query family", family, FAMILY_NAMES)
    ttl = ttls.for_family(family)
    parts, query_args, group_id = fam.parse(args, now, admin_id)
    return ReadSpec(
        family, fam.key_family, parts, ttl, entry_groups(fam, group_id), fam.tables, query_args
    )


def spec_from_key(
    key: str, prefix: str, ttls: TTLSettings, now: datetime, admin_id: int
) -> ReadSpec | None:
    """Parse an entry key of the seed layout back into its spec (``None`` if foreign)."""
    if not key.startswith(prefix):
        return None
    kf, *raw = key[len(prefix) :].split(":")
    p = [unquote(x) for x in raw]
    try:
        for fam in BY_KEY_FAMILY.get(kf, ()):
            args = fam.from_key(p)
            if args is not None:
                return build_spec(fam.name, args, ttls, now, admin_id)
    except (ValueError, ConfigError, UnknownNameError):
        return None
    return None


def entry_family(key: str, prefix: str) -> str | None:
    """The query family whose entry ``key`` is (``None`` if foreign).

    A key of the seed layout, or one with a trailing counter part (the counter-keyed
    strategies append the values of the counters they read). Families that share a key
    layout give its entries to the first family that parses them (``user_profiles_batch``
    reads ``user_profile`` entries).
    """
    if not key.startswith(prefix):
        return None
    kf, *raw = key[len(prefix) :].split(":")
    p = [unquote(x) for x in raw]
    for parts in (p, p[:-1]):
        for fam in BY_KEY_FAMILY.get(kf, ()):
            try:
                if fam.from_key(parts) is not None:
                    return fam.name
            except ValueError:
                continue
    return None


def run_query(conn: Connection, spec: ReadSpec, now: datetime) -> Any:
    """The uncached answer of ``spec`` at clock time ``now``."""
    return FAMILIES[spec.family].query(conn, spec.args, now)


def run_many(conn: Connection, specs: Sequence[ReadSpec], now: datetime) -> list[Any]:
    """Answers of several specs: in ONE query when they share a key layout whose family has a
    batch query (user profiles), else one query each."""
    if specs:
        many = FAMILIES[specs[0].family].query_many
        if many is not None and all(s.key_family == specs[0].key_family for s in specs):
            return many(conn, [s.args for s in specs])
    return [run_query(conn, s, now) for s in specs]
