"""A new user through every strategy: the cached "not found" of its id (alone, in a batch, in a
scan) and the admin dashboard's user count must not outlive the insert, except where nothing
invalidates on writes (``ttl``) or the seed plan has no code for a new user (``seed``)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from evalcache.strategies import strategy_names

from .conftest import RepoFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: Strategies that leave every read below stale after an insert.
NO_INSERT_INVALIDATION = ("ttl", "seed")


@pytest.mark.parametrize("name", strategy_names())
def test_an_insert_ends_the_new_ids_negative_entries(
    name: str, make_repo: RepoFactory, seeded_engine: Engine
) -> None:
    repo = make_repo(name)
    with seeded_engine.connect() as conn:
        new = int(conn.execute(text("SELECT max(id) + 1 FROM users")).scalar_one())
    reads = [
        ("user_profile", (new,)),
        ("user_profiles_batch", (new - 1, new)),
        ("user_profiles_scan", (new - 2, 4)),  # two users, then the new id and one more
        ("dashboard_admin", ()),
    ]
    for family, args in reads:
        assert repo.read(family, *args).outcome == "miss"
        assert repo.read(family, *args).outcome == "hit"
    assert repo.read("user_profile", new).negative
    repo.write("insert_user", new)
    assert repo.drain(10.0)
    stale = []
    for family, args in reads:
        got = repo.read(family, *args)
        with seeded_engine.connect() as conn:
            if got.value != repo.fresh(conn, family, *args):
                stale.append(family)
    want = [f for f, _ in reads] if name in NO_INSERT_INVALIDATION else []
    assert stale == want
    assert repo.read("user_profile", new).value is not None or name in NO_INSERT_INVALIDATION
