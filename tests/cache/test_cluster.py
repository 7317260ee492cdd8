"""DatabaseCache on a real 3-primary Redis Cluster started for this module (slow)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from evalcache.cache import ANY, NO_VALUE, DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.embedded import free_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisCluster]:
    ports = _cluster_ports(3)
    procs = []
    dirs = []
    for p in ports:
        d = tempfile.mkdtemp(prefix="evalcache-cluster-")
        dirs.append(d)
        procs.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(p),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    f"{d}/nodes.conf",
                    "--dir",
                    d,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        for p in ports:
            for _ in range(100):
                try:
                    redis.Redis(port=p).ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.02)
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for _ in range(200):
            if all(redis.Redis(port=p).cluster("info").get("cluster_state") == "ok" for p in ports):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"test cluster on ports {ports} never reached cluster_state ok")
        client = RedisCluster(host="127.0.0.1", port=ports[0])
        yield client
        client.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(5)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _cluster_ports(n: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p + 10000 < 65536 and p not in ports and _bus_free(p + 10000):
            ports.append(p)
    return ports


def _bus_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_cluster_reads_writes_tags_patterns(cluster: RedisCluster) -> None:
    cache = DatabaseCache(cluster, namespace="cl", clock=VirtualClock(0), tag_prune_threshold=5)
    keys = [cache.key("u", i) for i in range(40)]  # spread over every primary
    assert len({cluster.keyslot(k) for k in keys}) > 10
    for i, k in enumerate(keys):
        cache.set_with_tags(k, i, 60, [f"g:{i % 2}"])
    assert cache.mget(keys) == list(range(40))
    assert cache.invalidate_tags(["g:0"]) == 20
    assert cache.mget(keys[:2]) == [NO_VALUE, 1]
    assert cache.invalidate_pattern(cache.pattern("u", ANY)) == 20
    assert cache.mget(keys) == [NO_VALUE] * 40
    assert cache.get_or_load(keys[0], lambda: "x", 60, tags=["g:0"]) == "x"
    assert cache.get(keys[0]) == "x"
    assert cache.invalidate(keys[:3]) == 1
    # Gone members left in tag sets: the 20 of g:1 (their keys went by pattern, which leaves
    # tag sets alone) and keys[0] in g:0 (deleted by key). Pruning removes exactly those.
    assert cache.prune_tags() == 21
    assert cache.prune_tags() == 0
    assert cache.stats()["errors"] == 0
    cache.flush_namespace()


def test_cluster_late_load_after_tag_invalidation_is_dropped(cluster: RedisCluster) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    cache = DatabaseCache(cluster, namespace="cl2", clock=VirtualClock(0))
    key = cache.key("prof", 1)
    assert cluster.keyslot(key) != cluster.keyslot(cache.keys.tag("user:1"))
    read, go = threading.Event(), threading.Event()

    def loader() -> str:
        read.set()
        go.wait(5)
        return "old"

    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(cache.get_or_load, key, loader, 60, tags=["user:1"])
        assert read.wait(5)
        cache.invalidate_tags(["user:1"])
        go.set()
        fut.result(5)
    assert cache.get(key) is NO_VALUE and cache.stats()["stale_sets_prevented"] == 1
    cache.flush_namespace()
