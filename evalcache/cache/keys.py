"""Every Redis key the cache uses is built here.

Layout (``ns`` is the namespace, ``family`` a short name such as ``user_profile``)::

    ns:family:part1:part2     an entry (value, negative entry or lease placeholder)
    ns.lock:family:part1...   the single-flight lock of an entry holding a stale value
    ns.tag:tag                the Redis set of entry keys carrying ``tag``
    ns.kind:name              a strategy's counter (e.g. ``ns.gen:group``, ``ns.tv:table``)

Parts (ids) are percent-encoded: every byte outside ``[A-Za-z0-9_.-]`` becomes ``%XX`` of its
UTF-8 encoding. An encoded part therefore never contains ``:`` (so parts cannot run into each
other), glob metacharacters ``* ? [ ] \\`` (so an id can never widen a pattern) or ``{ }``
(so ids never pick a Redis Cluster hash slot). Encoding is injective per part and ``:`` joins
parts, so two distinct part tuples give two distinct keys. An ``int`` and its decimal string
are the same id on purpose (ids arriving from URLs are strings).
"""

from __future__ import annotations

import re
import uuid
from typing import Final
from urllib.parse import quote, unquote

from evalcache.errors import ConfigError

_SAFE: Final = "_.-"  # plus ASCII letters and digits, which quote() never encodes
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_GLOB_RE: Final = re.compile(r"([*?\[\]\\])")


class _Any:
    """Wildcard part for :meth:`KeyBuilder.pattern` (matches any one part)."""

    _instance: _Any | None = None

    def __new__(cls) -> _Any:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ANY"


ANY: Final = _Any()

Part = str | int | uuid.UUID


def escape_pattern(text: str) -> str:
    """Escape glob metacharacters so ``text`` matches only itself inside a SCAN pattern.

    Examples
    --------
    >>> escape_pattern("a*b[1]")
    'a\\\\*b\\\\[1\\\\]'
    """
    return _GLOB_RE.sub(r"\\\1", text)


def encode_part(part: Part) -> str:
    """Encode one id so it is safe inside a key and inside a pattern."""
    if type(part) is int:  # the hot path: decimal digits and '-' are already safe
        return str(part)
    if isinstance(part, bool) or not isinstance(part, str | int | uuid.UUID):
        raise ConfigError(
            "key part",
            f"{part!r} has type {type(part).__name__}; accepted: str, int, uuid.UUID",
        )
    return quote(str(part), safe=_SAFE)


def check_name(what: str, name: str) -> str:
    """Validate a namespace or family name (1-64 of ``[A-Za-z0-9_-]``)."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(what, f"{name!r} is not 1-64 characters of [A-Za-z0-9_-]")
    return name


class KeyBuilder:
    """Builds entry, lock and tag keys for one namespace.

    Parameters
    ----------
    namespace:
        Prefix of every key (1-64 characters of ``[A-Za-z0-9_-]``).
    """

    def __init__(self, namespace: str) -> None:
        self.namespace = check_name("namespace", namespace)
        self.prefix = namespace + ":"
        self._families: set[str] = set()  # family names already validated
        self._lock_prefix = namespace + ".lock:"
        self._tag_prefix = namespace + ".tag:"
        self._counter_kinds: set[str] = set()  # counter kinds already validated

    def key(self, family: str, *parts: Part) -> str:
        """The entry key of ``family`` and ids ``parts``."""
        if family not in self._families:
            self._families.add(check_name("family", family))
        return ":".join([self.namespace, family, *(encode_part(p) for p in parts)])

    def pattern(self, family: str, *parts: Part | _Any, tail: bool = False) -> str:
        """A SCAN pattern: literal ids are encoded as in :meth:`key`; :data:`ANY` matches one id.

        With ``tail=True`` the pattern also matches keys with further parts after ``parts``.
        """
        check_name("family", family)
        encoded = ["*" if p is ANY else encode_part(p) for p in parts]  # type: ignore[arg-type]
        text = ":".join([escape_pattern(self.namespace), escape_pattern(family), *encoded])
        return text + ":*" if tail else text

    def family_of(self, key: str) -> str:
        """The family segment of an entry key built by :meth:`key`."""
        return key[len(self.prefix) :].split(":", 1)[0]

    def lock(self, key: str) -> str:
        """The single-flight lock key of entry ``key``."""
        return self._lock_prefix + key[len(self.prefix) :]

    def tag(self, tag: str) -> str:
        """The key of the Redis set listing the entries tagged ``tag``."""
        if not isinstance(tag, str) or not tag:
            raise ConfigError("tag", f"{tag!r} is not a non-empty string")
        return self._tag_prefix + encode_part(tag)

    def counter(self, kind: str, name: str) -> str:
        """The key of counter ``name`` of ``kind`` (``gen``, ``tv``, ...): ``ns.kind:name``.

        Counters live outside the entries' ``ns:`` prefix (entry patterns never match them)
        and inside :meth:`namespace_patterns` (``ns.*``), like locks and tag sets.
        """
        if kind not in self._counter_kinds:
            if kind in ("lock", "tag"):
                raise ConfigError("counter kind", f"{kind!r} is reserved for locks and tags")
            self._counter_kinds.add(check_name("counter kind", kind))
        return f"{self.namespace}.{kind}:{encode_part(name)}"

    def tag_pattern(self) -> str:
        """Pattern matching every tag set of the namespace."""
        return escape_pattern(self._tag_prefix) + "*"

    def tag_of(self, tag_key: str) -> str:
        """The tag whose set is stored under ``tag_key``."""
        return unquote(tag_key[len(self._tag_prefix) :])

    def check_pattern(self, pattern: str) -> str:
        """Refuse a pattern that could match outside this namespace's entries."""
        if not pattern.startswith(escape_pattern(self.prefix)):
            raise ConfigError(
                "pattern",
                f"{pattern!r} must start with the namespace prefix {self.prefix!r}; "
                "build it with cache.pattern(family, ...)",
            )
        return pattern

    def namespace_patterns(self) -> tuple[str, str]:
        """Patterns matching every key of the namespace (entries; locks and tags)."""
        ns = escape_pattern(self.namespace)
        return ns + ":*", ns + ".*"
