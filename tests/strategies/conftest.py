"""Strategy-suite fixtures: a small seeded database of this module's own, a cache factory, and
the hot ids the suites read and write."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import redis
from scratch_db import ScratchDatabases
from sqlalchemy import Engine, create_engine, text

from evalcache.cache import DatabaseCache
from evalcache.clock import VirtualClock
from evalcache.domain.repositories import CachedRepository, TTLSettings

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)
START = AS_OF.timestamp() + 8 * 3600  # 08:00 on the seed's reference day


@pytest.fixture(scope="module")
def seeded_engine(scratch_databases: ScratchDatabases) -> Iterator[Engine]:
    """A database of this module's own, seeded at scale 0.02 (dropped afterwards)."""
    with scratch_databases.create("strat", scale=0.02, seed=7, as_of=AS_OF) as url:
        engine = create_engine(url, pool_size=8)
        yield engine
        engine.dispose()


@dataclass(frozen=True)
class Hot:
    """Ids the suites use: two busy listed experts, patients of theirs, an expert's user."""

    experts: tuple[int, int]
    patients: tuple[int, int]
    expert_user: int
    specs: tuple[str, ...]

    @property
    def users(self) -> tuple[int, ...]:
        return (*self.patients, self.expert_user)


@pytest.fixture(scope="module")
def hot(seeded_engine: Engine) -> Hot:
    with seeded_engine.connect() as conn:
        experts = (
            conn.execute(
                text(
                    """SELECT e.id FROM experts e JOIN appointments a ON a.expert_id = e.id
                   WHERE e.is_active AND e.is_verified
                   GROUP BY e.id ORDER BY count(*) DESC, e.id LIMIT 2"""
                )
            )
            .scalars()
            .all()
        )
        patients = [
            conn.execute(
                text(
                    """SELECT a.user_id FROM appointments a JOIN users u ON u.id = a.user_id
                       WHERE a.expert_id = :e AND u.role = 'user'
                       GROUP BY a.user_id ORDER BY count(*) DESC, a.user_id LIMIT 1"""
                ),
                {"e": e},
            ).scalar_one()
            for e in experts
        ]
        expert_user = conn.execute(
            text("SELECT user_id FROM experts WHERE id = :e"), {"e": experts[0]}
        ).scalar_one()
        specs = (
            conn.execute(
                text(
                    """SELECT s.name FROM expert_specializations es
                   JOIN specializations s ON s.id = es.specialization_id
                   WHERE es.expert_id = :e ORDER BY s.name LIMIT 2"""
                ),
                {"e": experts[0]},
            )
            .scalars()
            .all()
        )
    assert len(experts) == 2 and specs
    if patients[0] == patients[1]:
        patients[1] = patients[0] + 1
    return Hot((experts[0], experts[1]), (patients[0], patients[1]), expert_user, tuple(specs))


RepoFactory = Callable[..., CachedRepository]


@pytest.fixture
def make_repo(seeded_engine: Engine, redis_url: str) -> Iterator[RepoFactory]:
    """Build repositories on fresh namespaces; everything is closed and deleted afterwards."""
    made: list[tuple[CachedRepository, DatabaseCache, str]] = []
    client = redis.Redis.from_url(redis_url)

    def make(
        strategy: str,
        *,
        clock: VirtualClock | None = None,
        ttls: TTLSettings | None = None,
        **cache_kw: object,
    ) -> CachedRepository:
        ns = f"ts{uuid.uuid4().hex[:10]}"
        clock = clock or VirtualClock(START)
        cache = DatabaseCache(client, namespace=ns, clock=clock, **cache_kw)  # type: ignore[arg-type]
        repo = CachedRepository(seeded_engine, cache, strategy, clock=clock, ttls=ttls)
        made.append((repo, cache, ns))
        return repo

    yield make
    for repo, cache, ns in made:
        repo.close()
        cache.close()
        for k in client.scan_iter(match=f"{ns}*", count=1000):
            client.unlink(k)
    client.close()
