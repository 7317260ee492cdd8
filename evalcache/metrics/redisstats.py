"""Redis load: commands processed, memory, keys, from INFO, before and after a run.

One ``INFO all`` per snapshot (stats, memory, keyspace and commandstats together), so a
snapshot costs exactly one command; deltas subtract it. On a shared server every client's
commands are in these figures: measure on a server of the run's own when exact command counts
matter, or read the cache's own counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

#: Commands one snapshot itself adds to ``total_commands_processed``.
SNAPSHOT_COMMANDS = 1


@dataclass(frozen=True)
class RedisSnapshot:
    """Server-wide Redis figures at one moment (or the delta of two).

    Attributes
    ----------
    commands:
        ``total_commands_processed``.
    used_memory_bytes:
        ``used_memory``.
    keys:
        Keys in the client's database (``keyspace`` section).
    expired_keys, evicted_keys, keyspace_hits, keyspace_misses:
        From ``INFO stats``.
    commandstats:
        Command name -> calls.
    version:
        ``redis_version`` (a delta keeps the later snapshot's).
    """

    commands: int
    used_memory_bytes: int
    keys: int
    expired_keys: int = 0
    evicted_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    commandstats: dict[str, int] = field(default_factory=dict)
    version: str = ""

    def __sub__(self, before: RedisSnapshot) -> RedisSnapshot:
        names = set(self.commandstats) | set(before.commandstats)
        calls = {
            n: self.commandstats.get(n, 0) - before.commandstats.get(n, 0) for n in sorted(names)
        }
        # The earlier snapshot's INFO is counted in the later one's totals.
        if calls.get("info"):
            calls["info"] -= SNAPSHOT_COMMANDS
        return RedisSnapshot(
            commands=self.commands - before.commands - SNAPSHOT_COMMANDS,
            used_memory_bytes=self.used_memory_bytes - before.used_memory_bytes,
            keys=self.keys - before.keys,
            expired_keys=self.expired_keys - before.expired_keys,
            evicted_keys=self.evicted_keys - before.evicted_keys,
            keyspace_hits=self.keyspace_hits - before.keyspace_hits,
            keyspace_misses=self.keyspace_misses - before.keyspace_misses,
            commandstats={n: c for n, c in calls.items() if c},
            version=self.version,
        )

    def summary(self) -> dict[str, int]:
        """The summary.json ``redis`` figures: commands, used_memory_bytes, keys."""
        return {
            "commands": self.commands,
            "used_memory_bytes": self.used_memory_bytes,
            "keys": self.keys,
        }


def redis_snapshot(client: Any) -> RedisSnapshot:
    """Read one snapshot with a single ``INFO all`` from a redis-py client."""
    info: dict[str, Any] = client.info("all")
    db = int(client.connection_pool.connection_kwargs.get("db", 0) or 0)
    keyspace = info.get(f"db{db}") or {}
    calls = {
        name.removeprefix("cmdstat_"): int(v["calls"])
        for name, v in info.items()
        if name.startswith("cmdstat_") and isinstance(v, dict)
    }
    return RedisSnapshot(
        commands=int(info["total_commands_processed"]),
        used_memory_bytes=int(info["used_memory"]),
        keys=int(keyspace.get("keys", 0)) if isinstance(keyspace, dict) else 0,
        expired_keys=int(info.get("expired_keys", 0)),
        evicted_keys=int(info.get("evicted_keys", 0)),
        keyspace_hits=int(info.get("keyspace_hits", 0)),
        keyspace_misses=int(info.get("keyspace_misses", 0)),
        commandstats=calls,
        version=str(info.get("redis_version", "")),
    )


class CommandCount:
    """Commands one client sent: pipelines count each command, a script call counts once.

    Unlike ``total_commands_processed`` it excludes every other client of the server, so
    runs executing side by side in a sweep do not count each other's commands. SCAN-family
    calls are counted apart (``scans``): how many calls a pattern takes depends on the size and
    rehashing of the server's hash table (every client's keys), not on what the run did.
    """

    def __init__(self) -> None:
        self.value = 0
        self.scans = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n

    def scan(self) -> None:
        with self._lock:
            self.scans += 1


def command_name(name: Any) -> str:
    """A command name as redis-py sends it (``"GET"``, ``b"get"``) in upper case."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    return str(name).upper()


def is_scan(name: Any) -> bool:
    """SCAN, SSCAN, HSCAN, ZSCAN."""
    return command_name(name).endswith("SCAN")


def count_commands(client: Any) -> CommandCount:
    """Make a redis-py ``Redis`` or ``ConnectionPool`` count the commands sent from now on.

    Wraps the pool's connection class (its public ``send_command`` and ``pack_commands``),
    and drops connections made before, which would not count. A single-connection client
    holds its connection from construction: wrap its pool first, then build the client.
    """
    counter = CommandCount()
    if getattr(client, "connection", None) is not None:
        raise ValueError(
            "count_commands: this client already holds its single connection; call "
            "count_commands(pool) before redis.Redis(connection_pool=pool, ...)"
        )
    pool = getattr(client, "connection_pool", client)
    base = pool.connection_class

    class CountingConnection(base):  # type: ignore[misc, valid-type]
        def send_command(self, *args: Any, **kwargs: Any) -> None:
            if is_scan(args[0] if args else ""):
                counter.scan()
            else:
                counter.add(1)
            super().send_command(*args, **kwargs)

        def pack_commands(self, commands: Any) -> Any:
            commands = list(commands)
            counter.add(len(commands))
            return super().pack_commands(commands)

    pool.connection_class = CountingConnection
    pool.disconnect()
    return counter


@dataclass
class KeyUsage:
    """Keys and their bytes: ``MEMORY USAGE`` (key, value and Redis's overhead) and, for
    string values, ``STRLEN`` (the stored value's own bytes)."""

    keys: int = 0
    memory_bytes: int = 0
    value_bytes: int = 0


def namespace_usage(
    client: Any,
    patterns: Iterable[str],
    batch: int = 500,
    keep: Callable[[bytes], bool] | None = None,
) -> tuple[int, int]:
    """``(keys, bytes)`` of the keys matching ``patterns`` (SCAN, then MEMORY USAGE).

    A run's own footprint, unlike ``used_memory``, which every client's keys change. ``keep``
    filters keys (e.g. entries still live on a virtual clock, while Redis still holds
    virtually expired ones).
    """
    keys = bytes_used = 0
    for pattern in patterns:
        for usage in grouped_usage(client, pattern, batch=batch, keep=keep).values():
            keys, bytes_used = keys + usage.keys, bytes_used + usage.memory_bytes
    return keys, bytes_used


def grouped_usage(
    client: Any,
    pattern: str,
    group: Callable[[bytes], str | None] = lambda key: None,
    *,
    batch: int = 500,
    keep: Callable[[bytes], bool] | None = None,
    strlen: bool = False,
) -> dict[str | None, KeyUsage]:
    """:class:`KeyUsage` of the keys matching ``pattern``, by ``group(key)``.

    ``strlen``: also add up ``STRLEN`` (the keys hold strings; others count 0).
    """
    out: dict[str | None, KeyUsage] = {}
    chunk: list[Any] = []
    for key in client.scan_iter(match=pattern, count=batch):
        if keep is not None and not keep(key):
            continue
        chunk.append(key)
        if len(chunk) >= batch:
            _usage(client, chunk, group, strlen, out)
            chunk = []
    _usage(client, chunk, group, strlen, out)
    return out


def _usage(
    client: Any,
    chunk: list[Any],
    group: Callable[[bytes], str | None],
    strlen: bool,
    out: dict[str | None, KeyUsage],
) -> None:
    if not chunk:
        return
    pipe = client.pipeline(transaction=False)
    for key in chunk:
        pipe.memory_usage(key, samples=0)
        if strlen:
            pipe.strlen(key)
    replies = pipe.execute(raise_on_error=False)
    step = 2 if strlen else 1
    for i, key in enumerate(chunk):
        size = replies[i * step]
        if size is None or isinstance(size, Exception):
            continue  # a key may expire meanwhile
        usage = out.setdefault(group(key), KeyUsage())
        usage.keys += 1
        usage.memory_bytes += int(size)
        if strlen and not isinstance(value := replies[i * step + 1], Exception):
            usage.value_bytes += int(value)
