"""Value codecs: orjson (default) and msgpack. Never pickle: reading Redis never runs code.

Both codecs turn ``datetime``/``date``/``time`` into ISO-8601 strings, ``Decimal`` and
``UUID`` into strings, tuples and sets into lists: the JSON-safe form the domain queries return,
so a value read from the cache equals :func:`json_safe` of the value that was stored. orjson
runs with ``OPT_NON_STR_KEYS``: a dict keyed by ints is stored, and read back keyed by strings,
as JSON requires.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any, Final, Protocol

import msgpack
import orjson

from evalcache.errors import UnknownNameError


class Codec(Protocol):
    """Encodes a value to bytes and back. ``codec_id`` is stored in each entry's header."""

    name: str
    codec_id: int

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes | memoryview) -> Any: ...


def _default(obj: Any) -> Any:
    """Fallback for types neither library encodes natively."""
    if isinstance(obj, decimal.Decimal):
        return str(obj)
    if isinstance(obj, uuid.UUID):
        return str(obj)
    if isinstance(obj, dt.datetime | dt.date | dt.time):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        try:
            return sorted(obj)
        except TypeError:
            return list(obj)
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot cache a value of type {type(obj).__name__}")


_ORJSON_OPTS: Final = orjson.OPT_NON_STR_KEYS


class OrjsonCodec:
    """JSON through orjson (datetimes as ``datetime.isoformat()`` does)."""

    name = "orjson"
    codec_id = 1

    def encode(self, value: Any) -> bytes:
        return orjson.dumps(value, default=_default, option=_ORJSON_OPTS)

    def decode(self, data: bytes | memoryview) -> Any:
        return orjson.loads(data)


class MsgpackCodec:
    """MessagePack (smaller for numeric payloads); same JSON-safe value model as orjson."""

    name = "msgpack"
    codec_id = 2

    def encode(self, value: Any) -> bytes:
        return msgpack.packb(value, default=_default, use_bin_type=True, datetime=False)  # type: ignore[no-any-return]

    def decode(self, data: bytes | memoryview) -> Any:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)


CODECS: Final[dict[str, type[OrjsonCodec] | type[MsgpackCodec]]] = {
    "orjson": OrjsonCodec,
    "msgpack": MsgpackCodec,
}


def get_codec(codec: str | Codec) -> Codec:
    """A codec by name (``orjson``, ``msgpack``) or a codec object passed through."""
    if isinstance(codec, str):
        try:
            return CODECS[codec]()
        except KeyError:
            raise UnknownNameError("codec", codec, CODECS) from None
    return codec


def codecs_by_id() -> dict[int, Codec]:
    """Every built-in codec by the id stored in entry headers (entries name their codec)."""
    return {cls.codec_id: cls() for cls in CODECS.values()}


def json_safe(value: Any) -> Any:
    """The form ``value`` takes after a cache round trip (what domain queries should return)."""
    return orjson.loads(orjson.dumps(value, default=_default, option=_ORJSON_OPTS))
