"""Tag sets: one Redis set per tag lists the entry keys carrying it.

- Registration (``SADD`` + ``PEXPIRE NX`` + ``PEXPIRE GT``) queues into the caller's pipeline,
  so it travels with the entry's own write: one round trip, inside MULTI on a single Redis.
  A tag set lives as long as its longest-lived member's Redis TTL, so a tag nobody uses again
  disappears by itself.
- A tag in steady use would still collect members of expired entries; when a registration
  sees the set grown past ``prune_threshold`` it prunes it (members whose key no longer
  exists are removed). On a single Redis pruning is a Lua script (the EXISTS check and the
  SREM are atomic, so a concurrent re-registration is never lost). On a cluster the members
  live in other slots, so it is SREM-then-recheck: a member whose key reappeared is added back
  (a window of a few microseconds in which a tag invalidation could miss that one key).
- Invalidation pops members in batches (``SPOP``) and unlinks them: a member registered while
  the invalidation runs stays in the set instead of being dropped with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from redis.commands.core import Script

from evalcache.cache.keys import KeyBuilder
from evalcache.cache.locks import PRUNE_TAG


def _text(k: Any) -> str:
    return k.decode() if isinstance(k, bytes) else str(k)


class TagIndex:
    """Tag-set operations for one namespace."""

    def __init__(
        self,
        client: Any,
        keys: KeyBuilder,
        *,
        cluster: bool,
        prune_threshold: int = 1000,
        batch: int = 500,
    ) -> None:
        self._client = client
        self._keys = keys
        self._cluster = cluster
        self.prune_threshold = prune_threshold
        self.batch = batch
        self._prune_script: Script = client.register_script(PRUNE_TAG)

    def register(self, pipe: Any, key: str, tags: Sequence[str], px: int) -> list[tuple[str, int]]:
        """Queue memberships of ``key``; return ``(tag, index of its SCARD result)``."""
        out: list[tuple[str, int]] = []
        n = len(pipe)
        for tag in tags:
            tk = self._keys.tag(tag)
            pipe.sadd(tk, key)
            pipe.pexpire(tk, px, nx=True)
            pipe.pexpire(tk, px, gt=True)
            pipe.scard(tk)
            n += 4
            out.append((tag, n - 1))
        return out

    def after(self, results: Sequence[Any], positions: list[tuple[str, int]]) -> None:
        """Prune the tags whose set outgrew ``prune_threshold`` (seen in ``results``)."""
        for tag, i in positions:
            if isinstance(results[i], int) and results[i] > self.prune_threshold:
                self.prune(tag)

    def prune(self, tag: str) -> int:
        """Remove members of ``tag`` whose entry no longer exists; return how many."""
        tk = self._keys.tag(tag)
        removed = 0
        for batch in self._batches(self._client.sscan_iter(tk, count=self.batch)):
            if not self._cluster:
                removed += int(self._prune_script(keys=[tk], args=batch))
                continue
            pipe = self._client.pipeline(transaction=False)
            for k in batch:
                pipe.exists(k)
            gone = [k for k, e in zip(batch, pipe.execute(), strict=True) if not e]
            if gone:
                removed += int(self._client.srem(tk, *gone))
                pipe = self._client.pipeline(transaction=False)
                for k in gone:
                    pipe.exists(k)
                back = [k for k, e in zip(gone, pipe.execute(), strict=True) if e]
                if back:
                    self._client.sadd(tk, *back)
                    removed -= len(back)
        return removed

    def invalidate(self, tags: Iterable[str]) -> int:
        """Delete every entry carrying any of ``tags``; return the number of keys removed."""
        removed = 0
        for tag in tags:
            tk = self._keys.tag(tag)
            for _ in range(1_000_000):  # bounded: each round empties one batch
                members = self._client.spop(tk, self.batch)
                if not members:
                    break
                removed += int(self._client.unlink(*members))
        return removed

    def prune_all(self) -> int:
        """Prune every tag set of the namespace."""
        pattern = self._keys.tag_pattern()
        tag_keys = list(self._client.scan_iter(match=pattern, count=self.batch))
        return sum(self.prune(self._keys.tag_of(_text(tk))) for tk in tag_keys)

    def _batches(self, it: Iterable[Any]) -> Iterable[list[str]]:
        batch: list[str] = []
        for k in it:
            batch.append(_text(k))
            if len(batch) >= self.batch:
                yield batch
                batch = []
        if batch:
            yield batch
