"""The scratch Redis the tests break on purpose (fixture ``own_redis``): stop, restart, freeze."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import redis

from evalcache.embedded import ScratchRedis, scratch_redis

pytestmark = pytest.mark.redis


def test_stop_start_freeze_thaw_and_cleanup() -> None:
    with ScratchRedis() as server:
        pid, folder = server.pid, Path(server.folder)
        client = redis.Redis.from_url(server.url, socket_timeout=0.3)
        assert client.set("k", "v") and client.get("k") == b"v"
        server.freeze()  # the data stays, nothing answers
        with pytest.raises(redis.TimeoutError):
            client.get("k")
        server.thaw()
        client = redis.Redis.from_url(server.url, socket_timeout=0.3)
        assert client.get("k") == b"v"
        server.freeze()
        server.stop()  # a frozen server still stops
        assert pid is not None and not psutil.pid_exists(pid)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        port = server.port
        server.start()
        assert server.port == port and server.pid != pid
        assert client.get("k") is None  # nothing persisted
        client.close()
    assert server.pid is None and not folder.exists()


def test_scratch_redis_yields_a_url_and_stops() -> None:
    with scratch_redis("--maxmemory", "12mb") as url:
        client = redis.Redis.from_url(url)
        assert client.config_get("maxmemory") == {"maxmemory": str(12 * 1024 * 1024)}
        client.close()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
