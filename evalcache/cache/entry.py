"""The envelope stored under each entry key: a fixed binary header, metadata, then the value.

Layout (little endian)::

    0  magic  b"\\xec\\x01"      2 bytes (format version 1)
    2  kind   V|N|L            1 byte  (value, negative entry, lease placeholder)
    3  codec  id               1 byte  (the value's codec, see ``codec.py``)
    4  token                   8 bytes (random per write; compare-and-set checks it)
    12 created_at, ttl, delta  3 doubles (clock seconds; delta = recompute time in seconds)
    36 meta length             uint32
    40 meta                    orjson ``[version, [tags...]]``
    .. value                   codec bytes (absent for N and L)

The hit path unpacks the header with one ``struct`` call into named locals (other paths get a
:class:`Header`, a named tuple) and decodes only the value; tags and version are decoded only by
:meth:`DatabaseCache.get_with_metadata`. Lua scripts read the token
at bytes 5..12 (1-based) without decoding anything.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

MAGIC: Final = b"\xec\x01"
HEADER: Final = struct.Struct("<2s1sB8sdddI")
HEADER_SIZE: Final = HEADER.size  # 40
KIND_VALUE: Final = b"V"
KIND_NEGATIVE: Final = b"N"
KIND_LEASE: Final = b"L"

Version = int | str | None
_KINDS: Final = (KIND_VALUE, KIND_NEGATIVE, KIND_LEASE)


class Header(NamedTuple):
    """The fixed header of an entry, as laid out above (one field per ``HEADER`` field)."""

    magic: bytes
    kind: bytes
    codec_id: int
    token: bytes
    created_at: float
    ttl: float
    delta: float
    meta_len: int


# The fields of a Header as the struct returns them: a plain tuple, in Header's order.
HeaderFields = tuple[bytes, bytes, int, bytes, float, float, float, int]

# tuple.__new__ wraps the struct's tuple without Header._make's Python-level call and length
# check (HEADER has exactly Header's fields).
_new_header: Final = tuple.__new__


class _NoValue:
    """The type of :data:`NO_VALUE`."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Final = _NoValue()
"""Returned on a miss; distinct from a cached ``None``, ``0``, ``""`` or ``[]``."""


def new_token() -> bytes:
    return os.urandom(8)


class CorruptEntry(ValueError):
    """Bytes under an entry key that this format cannot read."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """An entry with its metadata, as returned by ``get_with_metadata``.

    Attributes
    ----------
    value:
        The cached value (``None`` for a negative entry).
    created_at:
        Clock time the entry was computed (the cache's clock, virtual or wall).
    ttl:
        Lifetime in clock seconds; the entry is fresh while ``now < expires_at``.
    tags:
        Tags the entry was stored with.
    version:
        The opaque source version the caller passed when storing (e.g. a data version).
    delta:
        Real seconds the loader took to compute the value (XFetch's δ); 0 for plain sets.
    negative:
        True when the loader found nothing (value ``None``).
    token:
        Random per write; compare-and-set uses it to detect that the entry changed.
    """

    value: Any
    created_at: float
    ttl: float
    tags: tuple[str, ...]
    version: Version
    delta: float
    negative: bool
    token: bytes

    @property
    def expires_at(self) -> float:
        return self.created_at + self.ttl

    def is_fresh(self, now: float) -> bool:
        return now < self.created_at + self.ttl


def pack(
    kind: bytes,
    codec_id: int,
    payload: bytes,
    created_at: float,
    ttl: float,
    delta: float = 0.0,
    version: Version = None,
    tags: tuple[str, ...] = (),
    token: bytes | None = None,
) -> tuple[bytes, bytes]:
    """Encode an envelope; return ``(bytes, token)``."""
    token = token or new_token()
    meta = orjson.dumps([version, list(tags)]) if (version is not None or tags) else b""
    head = HEADER.pack(MAGIC, kind, codec_id, token, created_at, ttl, delta, len(meta))
    return head + meta + payload, token


def lease(token: bytes, now: float) -> bytes:
    """A lease placeholder: marks a key as being loaded by the holder of ``token``."""
    return HEADER.pack(MAGIC, KIND_LEASE, 0, token, now, 0.0, 0.0, 0)


def read_header(raw: bytes) -> HeaderFields:
    """The header's fields, in :class:`Header` order; raises CorruptEntry.

    A plain tuple for the hit paths, which unpack it into named locals: building a
    :class:`Header` costs ~60 ns, a measurable share of a hit's CPU time. Elsewhere use
    :func:`unpack_header`.
    """
    try:
        fields: HeaderFields = HEADER.unpack_from(raw)
    except struct.error as exc:
        raise CorruptEntry(f"entry shorter than its {HEADER_SIZE}-byte header") from exc
    magic, kind, _, _, _, _, _, meta_len = fields
    if magic != MAGIC or kind not in _KINDS:
        raise CorruptEntry("not an evalcache entry (bad magic or kind)")
    if HEADER_SIZE + meta_len > len(raw):
        raise CorruptEntry("metadata length runs past the end of the entry")
    return fields


def unpack_header(raw: bytes) -> Header:
    """The entry's :class:`Header`; raises CorruptEntry for bytes this format cannot read."""
    return header_of(read_header(raw))


def header_of(fields: HeaderFields) -> Header:
    """:func:`read_header`'s fields as a :class:`Header`."""
    return _new_header(Header, fields)


def unpack_meta(raw: bytes, mlen: int) -> tuple[Version, tuple[str, ...]]:
    if not mlen:
        return None, ()
    try:
        version, tags = orjson.loads(memoryview(raw)[HEADER_SIZE : HEADER_SIZE + mlen])
        return version, tuple(tags)
    except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
        raise CorruptEntry("unreadable metadata") from exc
