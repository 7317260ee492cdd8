"""Keys and codec: pure properties (hypothesis) plus corrupt entries on real Redis."""

from __future__ import annotations

import datetime as dt
import decimal
import pickle
import uuid

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from evalcache.cache import (
    ANY,
    NO_VALUE,
    DatabaseCache,
    KeyBuilder,
    encode_part,
    escape_pattern,
    get_codec,
    json_safe,
)
from evalcache.cache.entry import HEADER, MAGIC
from evalcache.errors import ConfigError, UnknownNameError


def _HDR(codec_id: int, mlen: int = 0) -> bytes:
    """A well-formed, fresh header (the cache fixture's clock starts at 1e6)."""
    return HEADER.pack(MAGIC, b"V", codec_id, b"t" * 8, 1_000_000.0, 60.0, 0.0, mlen)


NASTY = ["a:b", "*", "?", "[x]", "\\", "a b", "ünï©ødé", "x" * 1024, "", "%41", "{slot}", "5"]
ids = st.one_of(st.text(max_size=40), st.integers(), st.sampled_from(NASTY))
KB = KeyBuilder("ns")


@given(st.lists(ids, max_size=4), st.lists(ids, max_size=4))
def test_distinct_id_tuples_give_distinct_keys(a: list[str | int], b: list[str | int]) -> None:
    same = [str(x) for x in a] == [str(x) for x in b]  # int 5 and "5" are one id by design
    assert (KB.key("fam", *a) == KB.key("fam", *b)) == same


@given(ids)
def test_encoded_ids_carry_no_separator_glob_or_hashtag(part: str | int) -> None:
    enc = encode_part(part)
    assert not set(enc) & set(":*?[]\\{} ")
    assert escape_pattern(enc) == enc  # already pattern-safe: a literal id matches only itself


@given(st.text(max_size=30))
def test_escape_pattern_escapes_every_metachar(text: str) -> None:
    esc = escape_pattern(text)
    unescaped = esc.replace("\\\\", "").replace("\\*", "").replace("\\?", "")
    unescaped = unescaped.replace("\\[", "").replace("\\]", "")
    assert not set(unescaped) & set("*?[]\\")


def test_pattern_builder_and_bad_names() -> None:
    assert KB.pattern("dash", ANY, 5) == "ns:dash:*:5"
    assert KB.pattern("dash", "a*", tail=True) == "ns:dash:a%2A:*"
    with pytest.raises(ConfigError, match="family"):
        KB.key("bad family", 1)
    with pytest.raises(ConfigError, match="namespace"):
        KeyBuilder("ns:x")
    with pytest.raises(ConfigError, match="accepted: str, int"):
        KB.key("f", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="namespace prefix"):
        KB.check_pattern("*")


@pytest.mark.redis
def test_nasty_ids_never_widen_pattern_invalidation(cache: DatabaseCache) -> None:
    keys = {i: cache.key("dash", "admin", i) for i in NASTY}
    for k in keys.values():
        cache.set(k, 1)
    other = cache.key("dash", "admin", "zzz")
    cache.set(other, 2)
    for victim in ("*", "?", "[x]", "\\", "a:b"):
        assert cache.invalidate_pattern(cache.pattern("dash", ANY, victim)) == 1
        assert cache.get(keys[victim]) is NO_VALUE
    assert cache.get(other) == 2
    assert cache.get(keys["x" * 1024]) == 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@pytest.mark.parametrize("name", ["orjson", "msgpack"])
@settings(max_examples=200)
@given(value=json_values)
def test_codecs_round_trip_json_values(name: str, value: object) -> None:
    codec = get_codec(name)
    assert codec.decode(codec.encode(value)) == value


@pytest.mark.parametrize("name", ["orjson", "msgpack"])
def test_codecs_give_the_json_safe_form_of_rich_types(name: str) -> None:
    codec = get_codec(name)
    t = dt.datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=dt.UTC)
    u = uuid.uuid4()
    value = {"at": t, "day": t.date(), "fee": decimal.Decimal("12.50"), "id": u, "t": (1, 2)}
    out = codec.decode(codec.encode(value))
    assert out == {
        "at": t.isoformat(),
        "day": "2024-05-01",
        "fee": "12.50",
        "id": str(u),
        "t": [1, 2],
    }
    assert out == json_safe(value)


def test_unknown_codec_lists_known() -> None:
    with pytest.raises(UnknownNameError, match="msgpack, orjson"):
        get_codec("pickle")


@pytest.mark.redis
@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"plain string",
        b"\xec\x01V",
        pickle.dumps({"a": 1}),
        _HDR(1) + b"{bad",
        _HDR(9) + b"1",
        _HDR(1, mlen=99),
    ],
)
def test_corrupt_or_foreign_entry_is_a_counted_deleted_miss(
    cache: DatabaseCache, redis_client: redis.Redis, junk: bytes
) -> None:
    key = cache.key("user", 1)
    redis_client.set(key, junk)
    assert cache.get(key) is NO_VALUE
    assert cache.stats()["corrupt"] == 1 and cache.stats()["misses"] == 1
    assert redis_client.exists(key) == 0
    assert cache.get_or_load(key, lambda: "fresh") == "fresh"
    assert cache.get(key) == "fresh"


@pytest.mark.redis
def test_msgpack_cache_reads_orjson_entries(
    cache: DatabaseCache, redis_client: redis.Redis
) -> None:
    key = cache.key("user", 1)
    cache.set(key, {"a": [1, 2]})
    other = DatabaseCache(
        redis_client, namespace=cache.namespace, codec="msgpack", clock=cache.clock
    )
    assert other.get(key) == {"a": [1, 2]}
    other.set(key, {"b": 1})
    assert cache.get(key) == {"b": 1}
