"""Seeded data and runs do not depend on the calendar day: a fixed as-of everywhere."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from pathlib import Path

import pytest
from scratch_db import ScratchDatabases
from sqlalchemy import create_engine

from evalcache.domain import seeding
from evalcache.domain.seeding import seed_database, table_checksums
from evalcache.runner import core, run
from evalcache.runner.baseline import template_fingerprint
from evalcache.runner.database import AS_OF, SEED, data_as_of, prepare_template
from evalcache.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SCALE = 0.02
DAYS = (datetime(2031, 3, 4, tzinfo=UTC), datetime(2032, 7, 9, tzinfo=UTC))
RUN = {
    "workload": "mixed",
    "strategy": "tags",
    "scale": SCALE,
    "duration_s": 30,
    "rate": 10.0,
    "seed": 5,
    "stale_sample": 1.0,
    "baseline": False,
}

pytestmark = [pytest.mark.postgres]


def _on(day: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``day`` today for the seeder's default as-of and the runner's wall clock."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Clock:
            return cls.fromtimestamp(day.timestamp(), tz)

    monkeypatch.setattr(seeding, "today_utc", lambda: day)
    monkeypatch.setattr(core, "datetime", Clock)


def _fingerprints(url: str) -> tuple[dict[str, str], str]:
    engine = create_engine(url)
    try:
        return table_checksums(engine), template_fingerprint(url)
    finally:
        engine.dispose()


@pytest.mark.redis
def test_same_as_of_on_different_days_gives_the_same_data_and_run(
    scratch_databases: ScratchDatabases, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scratch_databases.create("day") as url:
        settings = Settings(database_url=url, redis_url=redis_url)
        # the default as-of is the day the seed runs: the data follow the calendar
        defaults = []
        for day in DAYS:
            _on(day, monkeypatch)
            seed_database(url, scale=SCALE, seed=SEED, reset=True, progress=False)
            defaults.append(_fingerprints(url)[1])
        assert defaults[0] != defaults[1]
        # a fixed as-of: the same rows, and the same run, whatever the day
        data, runs = [], []
        for day in DAYS:
            _on(day, monkeypatch)
            seed_database(url, scale=SCALE, seed=SEED, as_of=AS_OF, reset=True, progress=False)
            data.append(_fingerprints(url))
            assert data_as_of(url) == AS_OF
            runs.append(run(RUN, settings=settings, progress=False).summary)
    assert data[0] == data[1]
    a, b = runs
    assert a["started_at"] != b["started_at"]  # the runs did see two different days
    assert a["started_at"].startswith(DAYS[0].date().isoformat())
    assert a["requests"] > 200 and a["hits"] > 0 and a["writes"] > 0
    assert a["outcome_digest"] == b["outcome_digest"]
    for key in ("hits", "misses", "db_statements", "stale_reads", "writes"):
        assert a[key] == b[key], key


def test_sibling_templates_take_the_configured_databases_as_of(
    scratch_databases: ScratchDatabases,
) -> None:
    """A run at another scale seeds a sibling template with the as-of of the configured
    database, and reseeds it when that database is reseeded with another one."""
    first, second = "2024-11-04T00:00:00+00:00", "2024-12-02T00:00:00+00:00"
    with scratch_databases.create("sib", scale=0.01, seed=SEED, as_of=first) as url:
        assert data_as_of(url) == first
        sibling = prepare_template(url, 0.005)
        assert sibling != url and data_as_of(sibling) == first
        assert prepare_template(url, 0.005) == sibling  # found seeded: kept
        seed_database(url, scale=0.01, seed=SEED, as_of=second, reset=True, progress=False)
        assert prepare_template(url, 0.005) == sibling
        assert data_as_of(sibling) == second


def test_the_makefile_seeds_as_the_runner_does() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")

    def default(name: str) -> str:
        found = re.search(rf"^{name}\s*\?=\s*(\S+)\s*$", makefile, re.MULTILINE)
        assert found, f"Makefile sets no default {name}"
        return found[1]

    as_of = datetime.fromisoformat(default("AS_OF")).replace(tzinfo=UTC)
    assert as_of == datetime.fromisoformat(AS_OF)
    assert int(default("SEED")) == SEED
    seed_lines = [line for line in makefile.splitlines() if "$(EC) seed " in line]
    assert seed_lines and all("--as-of $(AS_OF)" in line for line in seed_lines)
