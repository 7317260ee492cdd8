"""``evalcache bench invalidation``: the cost of one invalidation versus the keyspace size.

For each size N the keyspace holds N synthetic entries (``user_appointments:U:<part>``, 10 per
user, each tagged ``patient:U`` in a tag set, as the ``tags`` strategy stores them). One
invalidation removes one user's entries:

- ``pattern``: ``invalidate_pattern(user_appointments:U:*)``: SCAN of the whole keyspace;
- ``tags``: ``invalidate_tags(["patient:U"])``: SPOP the tag set, UNLINK its members;
- ``generation``: one INCR of ``gen:patient:U`` (entries become orphans; nothing deleted).

Time and Redis commands per invalidation (``INFO commandstats`` deltas, the INFO call itself
excluded) are medians over rounds; deleted entries are restored between rounds. By default a
private ``redis-server`` on a free port is started (so other clients' commands do not pollute
the counts) and stopped afterwards. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from evalcache.cache import DatabaseCache
from evalcache.embedded import scratch_redis
from evalcache.strategies.generation import GenerationStrategy

PER_USER = 10
STRATEGIES: tuple[str, ...] = ("pattern", "tags", "generation")


def _calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def _fill(cache: DatabaseCache, users: range, value: bytes) -> None:
    client, keys = cache.client, cache.keys
    pipe = client.pipeline(transaction=False)
    for i, u in enumerate(users):
        tk = keys.tag(f"patient:{u}")
        members = [keys.key("user_appointments", u, p) for p in range(PER_USER)]
        for k in members:
            pipe.set(k, value, px=3_600_000)
        pipe.sadd(tk, *members)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def measure(client: redis.Redis, n_keys: int, rounds: int, scan_batch: int) -> dict[str, Any]:
    """Fill ``n_keys`` entries under a private namespace, time each strategy, clean up."""
    ns = f"bench{uuid.uuid4().hex[:8]}"
    cache = DatabaseCache(client, namespace=ns, scan_batch=scan_batch)
    gen = GenerationStrategy()
    value = b"x" * 200
    n_users = max(1, n_keys // PER_USER)
    try:
        t0 = time.perf_counter()
        _fill(cache, range(n_users), value)
        fill_s = time.perf_counter() - t0
        ops: dict[str, Callable[[int], int]] = {
            "pattern": lambda u: cache.invalidate_pattern(
                cache.pattern("user_appointments", u, tail=True)
            ),
            "tags": lambda u: cache.invalidate_tags([f"patient:{u}"]),
            "generation": lambda u: gen_bump(u),
        }

        def gen_bump(u: int) -> int:
            return gen.bump([f"patient:{u}"])

        gen._host = _BenchHost(cache)  # type: ignore[assignment]
        out: dict[str, Any] = {"n_keys": n_users * PER_USER, "fill_s": fill_s}
        for name in STRATEGIES:
            times, cmds, removed = [], [], []
            for r in range(rounds):
                u = (r * 7919) % n_users
                before = _calls(client)
                t = time.perf_counter()
                removed.append(ops[name](u))
                times.append(time.perf_counter() - t)
                cmds.append(_calls(client) - before)
                _fill(cache, range(u, u + 1), value)  # restore the user's entries
            out[name] = {
                "ms": statistics.median(times) * 1000,
                "commands": statistics.median(cmds),
                "removed": statistics.median(removed),
            }
        return out
    finally:
        for pattern in cache.keys.namespace_patterns():
            batch = []
            for k in client.scan_iter(match=pattern, count=10_000):
                batch.append(k)
                if len(batch) >= 10_000:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)


class _BenchHost:
    """The part of a repository :class:`GenerationStrategy.bump` needs (its cache)."""

    def __init__(self, cache: DatabaseCache) -> None:
        self.cache = cache


def report(rows: list[dict[str, Any]]) -> str:
    """The table and the growth ratio from the smallest to the largest keyspace."""
    head = f"{'keys':>9s} " + " ".join(f"{s + ' ms':>14s} {s + ' cmds':>16s}" for s in STRATEGIES)
    lines = [head]
    for r in rows:
        cells = " ".join(f"{r[s]['ms']:14.3f} {r[s]['commands']:16.1f}" for s in STRATEGIES)
        lines.append(f"{r['n_keys']:>9d} {cells}")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        lines.append(f"growth {a['n_keys']} -> {b['n_keys']} keys (time ratio, commands ratio):")
        for s in STRATEGIES:
            lines.append(
                f"  {s:11s} {b[s]['ms'] / a[s]['ms']:8.2f}x  "
                f"{b[s]['commands'] / max(a[s]['commands'], 1):8.2f}x"
            )
    return "\n".join(lines)


def _cmd(args: argparse.Namespace) -> int:
    sizes = [int(x) for x in args.sizes.split(",")]
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(scratch_redis())
        client = redis.Redis.from_url(url)
        stack.callback(client.close)
        print(
            f"evalcache bench invalidation: {args.rounds} rounds per size, {PER_USER} entries "
            f"per invalidated user, SCAN COUNT {args.scan_batch}, "
            f"{url if args.url else 'private redis-server'}"
        )
        rows = []
        for n in sizes:
            row = measure(client, n, args.rounds, args.scan_batch)
            print(f"  filled {row['n_keys']} keys in {row['fill_s']:.1f} s", flush=True)
            rows.append(row)
        print(report(rows))
    return 0


def add_cli(bench: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``evalcache bench invalidation`` in the ``bench`` group's subparsers."""
    p = bench.add_parser(
        "invalidation", help="cost of one invalidation (pattern, tags, generation) vs keyspace"
    )
    p.add_argument("--url", help="Redis URL (default: start a private redis-server)")
    p.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated key counts")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--scan-batch", type=int, default=500, help="SCAN COUNT")
    p.set_defaults(func=_cmd)
