"""A small seeded template database for the runner tests (created once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from scratch_db import ScratchDatabases

from evalcache.runner.baseline import MEMO_PREFIX
from evalcache.runner.database import AS_OF, SEED
from evalcache.settings import Settings

#: Scale of the test template (200 users): enough keys for the model checks, seeds in ~1 s.
SCALE = 0.02


@pytest.fixture(scope="session")
def runner_settings(scratch_databases: ScratchDatabases, redis_url: str) -> Iterator[Settings]:
    """Settings whose database is a template seeded at :data:`SCALE` (runs copy it)."""
    with scratch_databases.create("runner", scale=SCALE, seed=SEED, as_of=AS_OF) as url:
        client = redis.Redis.from_url(redis_url)
        memos_before = set(client.scan_iter(match=MEMO_PREFIX + "*"))
        yield Settings(database_url=url, redis_url=redis_url)
        # baselines memoised for this session's template are useless to anyone else
        for key in set(client.scan_iter(match=MEMO_PREFIX + "*")) - memos_before:
            client.unlink(key)
        client.close()
