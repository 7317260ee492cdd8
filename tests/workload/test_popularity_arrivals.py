from __future__ import annotations

import numpy as np
import pytest

from evalcache.errors import ConfigError, UnknownNameError
from evalcache.workload import Burst, Popularity, PopularitySpec, arrivals, rate_pieces
from evalcache.workload.popularity import zipf_probabilities


def test_zipf_probabilities_match_the_formula() -> None:
    p = zipf_probabilities(4, 1.0)
    h = 1 + 1 / 2 + 1 / 3 + 1 / 4
    assert p == pytest.approx([1 / h, 1 / (2 * h), 1 / (3 * h), 1 / (4 * h)])
    assert zipf_probabilities(5, 0.0) == pytest.approx([0.2] * 5)


@pytest.mark.parametrize("kind", ["zipf", "uniform", "latest"])
def test_sampling_follows_probabilities(kind: str) -> None:
    pop = Popularity(50, PopularitySpec(kind, 0.99))  # type: ignore[arg-type]
    draws = pop.sample(np.random.default_rng(5), 400_000)
    freq = np.bincount(draws, minlength=50) / draws.size
    assert np.abs(freq - pop.probabilities()).max() < 0.005
    assert draws.min() >= 0 and draws.max() < 50


def test_latest_makes_the_last_position_hottest() -> None:
    p = Popularity(10, PopularitySpec("latest")).probabilities()
    assert p.argmax() == 9 and p[9] > p[0]


def test_sequential_uses_each_key_once_in_order() -> None:
    pop = Popularity(5, PopularitySpec("sequential"))
    rng = np.random.default_rng(0)
    assert pop.sample(rng, 3).tolist() == [0, 1, 2]
    assert pop.sample(rng, 4).tolist() == [3, 4, 0, 1]


def test_sampling_is_deterministic_for_a_seed() -> None:
    pop = Popularity(1000)
    a = pop.sample(np.random.default_rng(42), 1000)
    b = pop.sample(np.random.default_rng(42), 1000)
    c = pop.sample(np.random.default_rng(43), 1000)
    assert (a == b).all() and not (a == c).all()


def test_bad_popularity_parameters() -> None:
    with pytest.raises(UnknownNameError, match="zipf"):
        PopularitySpec("pareto")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="skew"):
        PopularitySpec("zipf", -1)
    with pytest.raises(ConfigError, match="at least one key"):
        Popularity(0)


def test_poisson_arrivals_rate_and_interarrivals() -> None:
    t = arrivals(np.random.default_rng(1), 200.0, 500.0)
    assert t.size == pytest.approx(100_000, rel=0.02)
    assert (np.diff(t) >= 0).all() and t.min() >= 0 and t.max() < 500.0
    gaps = np.diff(t)
    # exponential gaps: mean 1/λ and coefficient of variation 1
    assert gaps.mean() == pytest.approx(1 / 200, rel=0.02)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.02)


def test_arrivals_deterministic_and_chunked_consistently() -> None:
    a = arrivals(np.random.default_rng(9), 5000.0, 120.0)  # > one chunk
    b = arrivals(np.random.default_rng(9), 5000.0, 120.0)
    assert a.tobytes() == b.tobytes()
    assert (np.diff(a) >= 0).all()


def test_burst_multiplies_the_rate_inside_its_window() -> None:
    burst = Burst(100.0, 50.0, 10.0)
    assert rate_pieces(10.0, 300.0, [burst]) == [
        (0.0, 100.0, 10.0),
        (100.0, 150.0, 100.0),
        (150.0, 300.0, 10.0),
    ]
    t = arrivals(np.random.default_rng(3), 10.0, 300.0, [burst])
    inside = ((t >= 100) & (t < 150)).sum()
    outside = t.size - inside
    assert inside / 50 == pytest.approx(100, rel=0.1)
    assert outside / 250 == pytest.approx(10, rel=0.1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"multiplier": 0}, "multiplier"),
        ({"duration_s": -1}, "duration_s"),
        ({"focus_share": 2}, "focus_share"),
    ],
)
def test_bad_burst(kwargs: dict[str, float], name: str) -> None:
    args = {"start_s": 0.0, "duration_s": 1.0, "multiplier": 2.0, **kwargs}
    with pytest.raises(ConfigError, match=name):
        Burst(**args)  # type: ignore[arg-type]


def test_bad_rate_and_duration() -> None:
    with pytest.raises(ConfigError, match="rate"):
        arrivals(np.random.default_rng(0), -5, 10)
    with pytest.raises(ConfigError, match="duration"):
        arrivals(np.random.default_rng(0), 5, float("nan"))
