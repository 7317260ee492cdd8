"""The memoised cache-off baseline: what its key holds (code, data), and measuring it anew."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest
import redis
from scratch_db import ScratchDatabases
from sqlalchemy import create_engine, text

from evalcache.runner import baseline as memo
from evalcache.runner import forget_baselines, parse_params, run
from evalcache.runner.core import run_warmup
from evalcache.runner.database import AS_OF, SEED
from evalcache.settings import Settings

SCALE = 0.02  # the template's scale (conftest.SCALE)

#: A short mixed stream with writes; a seed no other runner test uses, so its memo is its own.
STREAM = {
    "workload": "mixed",
    "strategy": "tags",
    "scale": SCALE,
    "duration_s": 30,
    "rate": 10.0,
    "seed": 31,
    "stale_sample": 0.0,
}


# -- the code fingerprint ------------------------------------------------------------------------


def _tree(root: Path) -> None:
    for rel, src in {
        "clock.py": "NOW = 0\n",
        "domain/queries.py": "SQL = 'SELECT 1'\n",
        "runner/serve.py": "def serve(): ...\n",
        "cache/core.py": "TTL = 60\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(src)


def test_code_digest_follows_every_file_of_the_listed_packages(tmp_path: Path) -> None:
    _tree(tmp_path)
    paths = ("clock.py", "domain", "runner")

    def digest() -> str:
        return memo.source_digest(memo.code_files(paths, tmp_path), tmp_path)

    before = digest()
    assert digest() == before
    (tmp_path / "cache/core.py").write_text("TTL = 30\n")  # not on the cache-off path
    assert digest() == before
    (tmp_path / "domain/queries.py").write_text("SQL = 'SELECT 2'\n")
    changed = digest()
    assert changed != before
    (tmp_path / "runner/overlap.py").write_text("")  # a module added to a listed package
    assert digest() != changed


def test_the_fingerprint_covers_the_serving_path_only() -> None:
    files = {f.relative_to(memo.PACKAGE_ROOT).as_posix() for f in memo.code_files()}
    for rel in (
        "domain/queries.py",
        "domain/families.py",
        "domain/readspecs.py",
        "domain/repositories.py",
        "domain/writes.py",
        "domain/dashboards.py",
        "domain/invalidation.py",
        "workload/generator.py",
        "runner/serve.py",
        "runner/overlap.py",
        "runner/des.py",
        "runner/virtual.py",
        "metrics/counters.py",
        "clock.py",
    ):
        assert rel in files, rel
    assert not {f for f in files if f.startswith(("cache/", "strategies/", "report/"))}


def test_memo_key_holds_code_and_data_and_nothing_cache_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rp = parse_params(STREAM)
    url = "postgresql+psycopg://root@127.0.0.1/evalcache_tpl"

    def key(params: dict[str, object] | None = None, data: str = "d1") -> str:
        p = parse_params({**STREAM, **(params or {})})
        return memo.memo_key(p, run_warmup(p), url, data=data)

    calls: list[int] = []
    digest = memo.source_digest

    def counted(files: list[Path]) -> str:
        calls.append(1)
        return digest(files)

    memo.code_fingerprint.cache_clear()
    monkeypatch.setattr(memo, "source_digest", counted)
    base = key()
    assert key() == base and calls == [1]  # the sources are read once per process
    # cache-only parameters share the stream's baseline
    assert key({"strategy": "ttl", "ttl_scale": 0.5, "fresh_baseline": True}) == base
    assert key({"seed": 32}) != base
    assert key(data="d2") != base  # other data in the template
    monkeypatch.setattr(memo, "code_fingerprint", lambda: "other code")
    assert memo.memo_key(rp, run_warmup(rp), url, data="d1") != base


@pytest.mark.postgres
def test_template_fingerprint_sees_any_row_of_any_table(
    scratch_databases: ScratchDatabases,
) -> None:
    with scratch_databases.create("fp", scale=SCALE, seed=SEED, as_of=AS_OF) as url:
        first = memo.template_fingerprint(url)
        assert memo.template_fingerprint(url) == first
        engine = create_engine(url)
        try:
            # one payment's amount: no count changes, no expert row either
            with engine.begin() as conn:
                conn.execute(text("UPDATE payments SET amount = amount + 1 WHERE id = 1"))
            changed = memo.template_fingerprint(url)
            with engine.begin() as conn:
                conn.execute(text("UPDATE payments SET amount = amount - 1 WHERE id = 1"))
        finally:
            engine.dispose()
        assert changed != first
        assert memo.template_fingerprint(url) == first


# -- fresh baselines ------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_fresh_baseline_measures_anew_and_replaces_the_memo(runner_settings: Settings) -> None:
    assert runner_settings.database_url is not None and runner_settings.redis_url is not None
    rp = parse_params(STREAM)
    key = memo.memo_key(rp, run_warmup(rp), runner_settings.database_url)
    client = redis.Redis.from_url(runner_settings.redis_url)
    # keys name their template, so a test session clears its own template's memos only
    assert fnmatch.fnmatchcase(key, memo.memo_pattern(runner_settings.database_url))
    assert not fnmatch.fnmatchcase(key, memo.memo_pattern(runner_settings.database_url + "x"))

    def summary(**params: object) -> dict:
        return run({**STREAM, **params}, settings=runner_settings, progress=False).summary

    def stored() -> memo.Baseline:
        found = memo.Baseline.from_json(client.get(key) or b"")
        assert found is not None
        return found

    try:
        client.delete(key)
        first = summary()
        measured = first["db_statements_baseline"]
        assert first["baseline_reused"] is False and measured > 0
        assert stored().statements == measured  # the key the run used is this one
        # A doctored memo, as older code would have left: reused as long as it is asked for
        old = stored()
        client.set(key, memo.Baseline(1, old.windows, old.latency).to_json())
        reused = summary(strategy="explicit")
        assert reused["baseline_reused"] is True and reused["db_statements_baseline"] == 1
        # fresh_baseline measures the stream again and overwrites the memo ...
        fresh = summary(fresh_baseline=True)
        assert fresh["baseline_reused"] is False
        assert fresh["db_statements_baseline"] == measured
        assert fresh["params"]["fresh_baseline"] is True
        assert stored().statements == measured
        # forgetting a stream's memo (`evalcache sweep --fresh-baseline`) has the same effect
        off = {**STREAM, "cache": False}
        assert forget_baselines([STREAM, off], settings=runner_settings) == (1, 1)
        assert client.get(key) is None
        assert forget_baselines([STREAM], settings=runner_settings) == (1, 0)
    finally:
        client.delete(key)
        client.close()
