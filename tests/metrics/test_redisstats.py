from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from evalcache.embedded import free_port
from evalcache.metrics import redis_snapshot


@pytest.fixture
def private_redis() -> Iterator[redis.Redis]:
    """A Redis of this test's own: command counts on the shared server include other clients."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    yield client
    client.close()
    proc.terminate()
    proc.wait(5)


@pytest.mark.redis
def test_snapshot_delta_counts_exactly_the_commands_issued(private_redis: redis.Redis) -> None:
    before = redis_snapshot(private_redis)
    private_redis.set("a", "x" * 1000)
    private_redis.set("b", "y")
    private_redis.get("a")
    private_redis.get("missing")
    private_redis.delete("b")
    delta = redis_snapshot(private_redis) - before
    assert delta.commands == 5
    assert delta.commandstats == {"set": 2, "get": 2, "del": 1}
    assert delta.keys == 1
    assert delta.keyspace_hits == 1 and delta.keyspace_misses == 1
    assert delta.used_memory_bytes > 0
    assert delta.summary() == {
        "commands": 5,
        "used_memory_bytes": delta.used_memory_bytes,
        "keys": 1,
    }
