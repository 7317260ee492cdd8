"""Fixtures of the cache tests: a cache on the shared Redis, and a private redis-server to break."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import redis

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.embedded import free_port


class RedisProcess:
    """A redis-server of the test's own on a free port: stop, freeze, restart it at will."""

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="evalcache-redis-")
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(5)
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its data but answers nothing (timeouts)."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture
def own_redis() -> Iterator[RedisProcess]:
    server = RedisProcess()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.thaw()
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_000_000.0)


@pytest.fixture
def cache(
    redis_client: redis.Redis, namespace: str, clock: VirtualClock
) -> Iterator[DatabaseCache]:
    c = DatabaseCache(
        redis_client, namespace=namespace, clock=clock, default_ttl=60, negative_ttl=10
    )
    yield c
    c.close()
