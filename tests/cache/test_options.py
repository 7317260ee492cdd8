"""CacheOptions: one validated settings object; keyword construction unchanged; named header."""

from __future__ import annotations

import dataclasses

import pytest
import redis

from evalcache.cache import CacheOptions, DatabaseCache, Header
from evalcache.cache.entry import KIND_VALUE, pack, read_header, unpack_header
from evalcache.cache.options import CacheOverrides
from evalcache.clock import VirtualClock
from evalcache.errors import ConfigError, UnknownNameError

# The defaults DatabaseCache had as keyword arguments before CacheOptions existed.
DEFAULTS = {
    "namespace": "evalcache",
    "codec": "orjson",
    "default_ttl": 600.0,
    "negative_ttl": 60.0,
    "fail_open": True,
    "socket_timeout": 0.25,
    "retry_interval": 1.0,
    "max_pending": 10_000,
    "virtual_slack": 3600.0,
    "stale_grace": 0.0,
    "tag_prune_threshold": 1000,
    "scan_batch": 500,
    "refresh_threshold": None,
    "xfetch_beta": None,
    "refresh_mode": "background",
    "refresh_workers": 2,
    "seed": None,
    "serve_stale": False,
    "lock_wait": None,
}


def test_defaults_are_the_old_keyword_defaults() -> None:
    assert dataclasses.asdict(CacheOptions()) == DEFAULTS


def test_keyword_overrides_name_every_option() -> None:
    names = {f.name for f in dataclasses.fields(CacheOptions)}
    assert CacheOverrides.__optional_keys__ == names
    assert CacheOverrides.__annotations__.keys() == names


def test_keywords_options_and_overrides_build_the_same_cache() -> None:
    client = redis.Redis()  # never connected: construction sends nothing
    by_kw = DatabaseCache(client, namespace="kw", default_ttl=30, clock=VirtualClock(0))
    assert by_kw.options == CacheOptions(namespace="kw", default_ttl=30.0)
    assert isinstance(by_kw.default_ttl, float) and by_kw.default_ttl == 30.0
    base = CacheOptions(namespace="base", serve_stale=True, lock_wait=0.0)
    by_opts = DatabaseCache(client, base)
    assert by_opts.options is base and by_opts.namespace == "base"
    assert by_opts.serve_stale is True and by_opts.lock_wait == 0.0
    mixed = DatabaseCache(client, base, default_ttl=7)
    assert mixed.options == dataclasses.replace(base, default_ttl=7.0)
    assert base.default_ttl == 600.0  # the shared options object is left as it was


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("namespace", "a b"),
        ("default_ttl", 0),
        ("negative_ttl", float("inf")),
        ("default_ttl", True),
        ("virtual_slack", -1),
        ("socket_timeout", 0),
        ("retry_interval", -1),
        ("max_pending", -1),
        ("tag_prune_threshold", -1),
        ("scan_batch", 0),
        ("lock_wait", -0.5),
        ("refresh_threshold", 1.0),
        ("xfetch_beta", -1.0),
        ("refresh_mode", "sometimes"),
        ("refresh_workers", 0),
    ],
)
def test_bad_options_raise_naming_the_option(field: str, bad: object) -> None:
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        CacheOptions(**{field: bad})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=field.split("_")[0]):
        DatabaseCache(redis.Redis(), **{field: bad})  # type: ignore[arg-type]


def test_spawn_mode_needs_its_callable_and_only_it_takes_one() -> None:
    assert CacheOptions(refresh_mode="spawn").refresh_mode == "spawn"
    with pytest.raises(ConfigError, match="accepted: background, inline, spawn"):
        CacheOptions(refresh_mode="threads")
    with pytest.raises(ConfigError, match=r"refresh_spawn.*needs a spawn callable"):
        DatabaseCache(redis.Redis(), refresh_mode="spawn")
    with pytest.raises(ConfigError, match=r"refresh_spawn.*'inline'"):
        DatabaseCache(redis.Redis(), refresh_mode="inline", refresh_spawn=lambda job: None)


def test_unknown_codec_and_unknown_keyword() -> None:
    with pytest.raises(UnknownNameError, match="orjson"):
        CacheOptions(codec="pickle")
    with pytest.raises(TypeError, match="namespac"):
        DatabaseCache(redis.Redis(), namespac="typo")  # type: ignore[call-arg]


def test_header_is_named() -> None:
    raw, token = pack(KIND_VALUE, 1, b"[1]", 10.0, 60.0, 0.5, 3, ("t",))
    h = unpack_header(raw)
    assert isinstance(h, Header)
    assert (h.kind, h.codec_id, h.token, h.created_at, h.ttl, h.delta) == (
        KIND_VALUE,
        1,
        token,
        10.0,
        60.0,
        0.5,
    )
    assert h.meta_len == len(raw) - 40 - 3
    assert read_header(raw) == tuple(h)  # the hit paths' plain form, same fields and order
