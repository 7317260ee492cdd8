from __future__ import annotations

import math

import numpy as np
import pytest

from evalcache.errors import ConfigError
from evalcache.model import (
    expected_lifetime,
    hit_probability,
    predicted_hit_rate,
    simulate_ttl_cache,
)
from evalcache.workload import WorkloadGenerator, get_workload


def test_closed_forms() -> None:
    assert float(hit_probability(2.0, 4.0)) == pytest.approx(8 / 9)
    assert float(expected_lifetime(10.0, 0.5)) == pytest.approx((1 - math.exp(-5)) / 0.5)
    # tiny write rates tend to the no-invalidation case
    assert float(expected_lifetime(10.0, 1e-12)) == pytest.approx(10.0)
    mu, lam, ttl = 0.2, 3.0, 7.0
    ed = (1 - math.exp(-mu * ttl)) / mu
    assert float(hit_probability(lam, ttl, mu)) == pytest.approx(lam * ed / (1 + lam * ed))


def test_aggregate_is_request_weighted() -> None:
    p = np.array([0.75, 0.25])
    want = 0.75 * (75 / 76) + 0.25 * (25 / 26)
    assert predicted_hit_rate(100.0, p, 1.0) == pytest.approx(want)
    # per-key write rates equal to "spread like reads"
    assert predicted_hit_rate(100.0, p, 1.0, write_rate=4.0) == pytest.approx(
        predicted_hit_rate(100.0, p, 1.0, write_rates=4.0 * p)
    )


def test_model_rejects_bad_input() -> None:
    with pytest.raises(ConfigError, match="ttl"):
        predicted_hit_rate(1.0, [1.0], -1.0)
    with pytest.raises(ConfigError, match="probabilities"):
        predicted_hit_rate(1.0, [], 1.0)
    with pytest.raises(ConfigError, match="write_rates"):
        predicted_hit_rate(1.0, [0.5, 0.5], 1.0, write_rates=[1.0])


def test_simulation_by_hand() -> None:
    # TTL 2: miss at 0 (stored till 2), hit at 1, miss at 2.5 (till 4.5), hit at 3
    assert simulate_ttl_cache([0, 1, 2.5, 3], [1, 1, 1, 1], 2.0) == (2, 4)
    # a write at 0.5 deletes the entry: the read at 1 misses
    assert simulate_ttl_cache([0, 1, 1.5], [1, 1, 1], 2.0, write_times=[0.5], write_keys=[1]) == (
        1,
        3,
    )
    # warm-up excludes early reads from the count
    assert simulate_ttl_cache([0, 1, 2.5, 3], [1, 1, 1, 1], 2.0, warmup_s=2.0) == (1, 2)


def _stream(write_ratio: float) -> tuple[WorkloadGenerator, np.ndarray, np.ndarray, np.ndarray]:
    spec = get_workload("synthetic", rate=300, write_ratio=write_ratio)
    gen = WorkloadGenerator(spec, {"users": np.arange(3000)}, seed=11, duration=1500)
    batches = list(gen.batches())
    t = np.concatenate([b.t for b in batches])
    op = np.concatenate([b.op for b in batches])
    keys = np.concatenate([b.args[:, 0] for b in batches])
    reads = op == batches[0].op_names.index("read:user_profile")
    return gen, t, keys, reads


@pytest.mark.parametrize("ttl", [2.0, 30.0, 200.0])
@pytest.mark.parametrize("write_ratio", [0.0, 0.2])
def test_model_matches_simulation_within_one_point(ttl: float, write_ratio: float) -> None:
    gen, t, keys, reads = _stream(write_ratio)
    hits, n = simulate_ttl_cache(
        t[reads], keys[reads], ttl, write_times=t[~reads], write_keys=keys[~reads], warmup_s=2 * ttl
    )
    probs = gen.popularity("users").probabilities()
    rate = gen.spec.rate
    model = predicted_hit_rate(rate * (1 - write_ratio), probs, ttl, write_rate=rate * write_ratio)
    assert n > 200_000
    assert abs(hits / n - model) < 0.01, (hits / n, model)
    # and the model is not trivially satisfied: a 2x TTL moves it by more than the tolerance
    assert (
        abs(predicted_hit_rate(rate, probs, 2 * ttl) - predicted_hit_rate(rate, probs, ttl)) > 0.01
    )


def test_refresh_lifetime_closed_form() -> None:
    mu, ttl = 0.3, 4.0
    assert float(expected_lifetime(ttl, mu, refresh=True)) == pytest.approx(
        (math.exp(mu * ttl) - 1) / mu
    )
    assert float(expected_lifetime(ttl, 1e-12, refresh=True)) == pytest.approx(ttl)
    lam = 2.0
    ed = (math.exp(mu * ttl) - 1) / mu
    held = float(hit_probability(lam, ttl, mu, write_effect="refresh_held"))
    assert held == pytest.approx((lam + mu) * ed / (1 + (lam + mu) * ed))
    # "none" ignores writes; "family" takes the full write rate on every key
    assert float(hit_probability(lam, ttl, 5.0, write_effect="none")) == pytest.approx(8 / 9)
    p = np.array([0.75, 0.25])
    assert predicted_hit_rate(10.0, p, 1.0, write_rate=2.0, write_effect="family") == (
        pytest.approx(predicted_hit_rate(10.0, p, 1.0, write_rates=[2.0, 2.0]))
    )
    with pytest.raises(ConfigError, match="accepted: none, key, family"):
        predicted_hit_rate(1.0, [1.0], 1.0, write_effect="delete")


@pytest.mark.parametrize("ttl", [2.0, 30.0])
@pytest.mark.parametrize(
    ("effect", "write_ratio"),
    [("none", 0.2), ("family", 0.01), ("refresh", 0.2), ("refresh_held", 0.2), ("refresh", 0.5)],
)
def test_write_effects_match_simulation_within_one_point(
    ttl: float, effect: str, write_ratio: float
) -> None:
    gen, t, keys, reads = _stream(write_ratio)
    hits, n = simulate_ttl_cache(
        t[reads], keys[reads], ttl,
        write_times=t[~reads], write_keys=keys[~reads], warmup_s=2 * ttl, write_effect=effect,
    )  # fmt: skip
    probs = gen.popularity("users").probabilities()
    rate = gen.spec.rate
    model = predicted_hit_rate(
        rate * (1 - write_ratio), probs, ttl, write_rate=rate * write_ratio, write_effect=effect
    )
    assert abs(hits / n - model) < 0.01, (hits / n, model)
    # each effect is a different prediction: delete-on-write is off by more than the tolerance
    key = predicted_hit_rate(
        rate * (1 - write_ratio), probs, ttl, write_rate=rate * write_ratio, write_effect="key"
    )
    assert abs(model - key) > 0.01, (model, key)
