"""``evalcache bench cache``: the latency of a cache hit, side by side with raw GET and peers.

Every variant reads the same ~1 KB payload from the same Redis, interleaved call by call (the
order rotates each iteration) so that scheduler placement drifts hit every variant alike. Per
round we take p50/p99 per variant and the ratio of each p50 to the raw redis-py GET's p50 in
that round; the report prints medians over rounds. Async peers (cashews, aiocache) are awaited
inside one running event loop, so no loop start-up is timed. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson
import redis

from evalcache.cache.core import DatabaseCache
from evalcache.settings import Settings

Variant = tuple[str, Callable[[], Any] | None, Callable[[], Awaitable[Any]] | None]


def make_payload(size: int) -> dict[str, Any]:
    """A profile-like dict whose orjson encoding is about ``size`` bytes."""
    base: dict[str, Any] = {
        "id": 4242,
        "email": "someone@example.org",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "created_at": "2024-05-01T10:00:00+00:00",
        "rating": 4.87,
        "specializations": ["cardiology", "nutrition", "sleep"],
        "verified": True,
    }
    filler = size - len(orjson.dumps(base)) - len(',"bio":""')
    base["bio"] = "x" * max(0, filler)
    return base


def _placement() -> str:
    aff = sorted(os.sched_getaffinity(0))
    try:
        with open(f"/proc/{os.getpid()}/stat") as f:
            cpu = f.read().rsplit(")", 1)[1].split()[36]
    except (OSError, IndexError):
        cpu = "?"
    return f"client affinity CPUs {aff}, last ran on CPU {cpu}, {os.cpu_count()} CPUs"


async def _setup_peers(url: str, ns: str, payload: dict[str, Any]) -> tuple[list[Variant], Any]:
    """Each installed peer, primed with the payload; returns variants and a cleanup callable."""
    variants: list[Variant] = []
    closers: list[Callable[[], Awaitable[Any] | Any]] = []
    try:
        from dogpile.cache import make_region

        region = make_region().configure(
            "dogpile.cache.redis",
            arguments={"url": url, "redis_expiration_time": 600},
            expiration_time=600,
        )
        region.set(f"{ns}:dogpile", payload)
        variants.append(("dogpile.cache", lambda: region.get(f"{ns}:dogpile"), None))
    except ImportError:
        pass
    try:
        from cashews import Cache

        cashews = Cache()
        cashews.setup(url, client_side=False)
        await cashews.set(f"{ns}:cashews", payload, expire=600)
        variants.append(("cashews", None, lambda: cashews.get(f"{ns}:cashews")))
        closers.append(cashews.close)
    except ImportError:
        pass
    try:
        from aiocache import RedisCache
        from aiocache.serializers import JsonSerializer

        u = urlsplit(url)
        aio = RedisCache(
            serializer=JsonSerializer(),
            endpoint=u.hostname or "127.0.0.1",
            port=u.port or 6379,
            db=int(u.path.strip("/") or 0),
        )
        await aio.set(f"{ns}:aiocache", payload, ttl=600)
        variants.append(("aiocache", None, lambda: aio.get(f"{ns}:aiocache")))
        closers.append(aio.close)
    except ImportError:
        pass

    async def cleanup() -> None:
        for close in closers:
            res = close()
            if asyncio.iscoroutine(res):
                await res

    return variants, cleanup


async def _run(url: str, n: int, rounds: int, size: int) -> dict[str, list[tuple[float, float]]]:
    ns = f"bench{uuid.uuid4().hex[:8]}"
    payload = make_payload(size)
    raw_client = redis.Redis.from_url(url)
    raw_key = f"{ns}:raw"
    raw_client.set(raw_key, orjson.dumps(payload), ex=600)
    cache = DatabaseCache(redis.Redis.from_url(url), namespace=ns)
    key = cache.key("bench", 1)
    cache.set(key, payload, 600)
    assert cache.get(key) == payload and cache.get_or_load(key, lambda: None, 600) == payload

    def loader() -> Any:
        raise AssertionError("benchmark hit path ran the loader")

    variants: list[Variant] = [
        ("raw redis-py GET", lambda: raw_client.get(raw_key), None),
        ("DatabaseCache.get", lambda: cache.get(key), None),
        ("DatabaseCache.get_or_load", lambda: cache.get_or_load(key, loader, 600), None),
    ]
    peers, cleanup = await _setup_peers(url, ns, payload)
    variants += peers
    clock = time.perf_counter_ns
    results: dict[str, list[tuple[float, float]]] = {v[0]: [] for v in variants}
    try:
        for _ in range(rounds):
            samples = {v[0]: np.empty(n) for v in variants}
            for i in range(n + 200):  # the first 200 iterations warm up and are dropped
                order = variants[i % len(variants) :] + variants[: i % len(variants)]
                for name, sync, coro in order:
                    t0 = clock()
                    if sync is not None:
                        sync()
                    else:
                        await coro()  # type: ignore[misc]
                    if i >= 200:
                        samples[name][i - 200] = (clock() - t0) / 1000.0
            for name, arr in samples.items():
                results[name].append((float(np.percentile(arr, 50)), float(np.percentile(arr, 99))))
    finally:
        await cleanup()
        cache.flush_namespace()
        cache.close()
        cache.client.close()
        for k in raw_client.scan_iter(match=f"*{ns}*"):
            raw_client.unlink(k)
        raw_client.close()
    return results


def report(results: dict[str, list[tuple[float, float]]]) -> str:
    """Medians over rounds of p50, p99 and of each round's p50 ratio to raw GET."""
    base = results["raw redis-py GET"]
    lines = [f"{'variant':28s} {'p50 µs':>8s} {'p99 µs':>8s} {'p50/raw':>8s} {'p99/raw':>8s}"]
    for name, per_round in results.items():
        p50 = statistics.median(r[0] for r in per_round)
        p99 = statistics.median(r[1] for r in per_round)
        r50 = statistics.median(a[0] / b[0] for a, b in zip(per_round, base, strict=True))
        r99 = statistics.median(a[1] / b[1] for a, b in zip(per_round, base, strict=True))
        lines.append(f"{name:28s} {p50:8.1f} {p99:8.1f} {r50:7.2f}x {r99:7.2f}x")
    return "\n".join(lines)


def _cmd(args: argparse.Namespace) -> int:
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    url = args.url or Settings.from_env().redis_url or "redis://127.0.0.1:6379/0"
    print(
        f"evalcache bench cache: {args.rounds} rounds x {args.n} interleaved hits per variant, "
        f"~{args.payload} B payload, {url}"
    )
    results = asyncio.run(_run(url, args.n, args.rounds, args.payload))
    print(f"placement: {_placement()}")
    print(report(results))
    return 0


def add_cli(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache bench cache`` in the ``bench`` group's subparsers."""
    p = bench.add_parser(
        "cache", help="latency of a cache hit vs raw redis-py GET and cashews/dogpile/aiocache"
    )
    p.add_argument("--url", help="Redis URL (default: EVALCACHE_REDIS_URL or local 6379)")
    p.add_argument("--n", type=int, default=3000, help="timed hits per variant per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--payload", type=int, default=1024, help="payload size in bytes")
    p.add_argument("--pin", type=int, default=None, help="pin this process to one CPU")
    p.set_defaults(func=_cmd)
