"""The generic Redis query cache (knows nothing of the domain).

Examples
--------
>>> from evalcache.cache import DatabaseCache, NO_VALUE  # doctest: +SKIP
>>> cache = DatabaseCache("redis://127.0.0.1:6379/0", namespace="demo")  # doctest: +SKIP
>>> cache.get(cache.key("user_profile", 1)) is NO_VALUE  # doctest: +SKIP
True
"""

from __future__ import annotations

from evalcache.cache.codec import CODECS, Codec, MsgpackCodec, OrjsonCodec, get_codec, json_safe
from evalcache.cache.core import DatabaseCache
from evalcache.cache.entry import NO_VALUE, CacheEntry, Header
from evalcache.cache.keys import ANY, KeyBuilder, encode_part, escape_pattern
from evalcache.cache.locks import LoadTimer
from evalcache.cache.options import CacheOptions
from evalcache.cache.stats import COUNTERS, FAMILY_COUNTERS

__all__ = [
    "ANY",
    "CODECS",
    "COUNTERS",
    "FAMILY_COUNTERS",
    "NO_VALUE",
    "CacheEntry",
    "CacheOptions",
    "Codec",
    "DatabaseCache",
    "Header",
    "KeyBuilder",
    "LoadTimer",
    "MsgpackCodec",
    "OrjsonCodec",
    "encode_part",
    "escape_pattern",
    "get_codec",
    "json_safe",
]
