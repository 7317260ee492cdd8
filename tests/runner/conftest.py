"""A small seeded template database for the runner tests (created once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from scratch_db import ScratchDatabases

from evalcache.runner.baseline import memo_pattern
from evalcache.runner.database import AS_OF, SEED
from evalcache.settings import Settings

#: Scale of the test template (200 users): enough keys for the model checks, seeds in ~1 s.
SCALE = 0.02


@pytest.fixture(scope="session")
def runner_settings(scratch_databases: ScratchDatabases, redis_url: str) -> Iterator[Settings]:
    """Settings whose database is a template seeded at :data:`SCALE` (runs copy it)."""
    with scratch_databases.create("runner", scale=SCALE, seed=SEED, as_of=AS_OF) as url:
        yield Settings(database_url=url, redis_url=redis_url)
        # baselines memoised for this session's template are useless to anyone else; other
        # sessions' (other templates) are theirs to keep
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=memo_pattern(url)):
            client.unlink(key)
        client.close()
