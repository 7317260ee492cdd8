"""The TTL model overlay for strategies whose writes do not simply delete one key: the runner's
hits equal the model's reference simulation on the very same request stream, and the summary's
``model_hit_rate`` is the model for the strategy's write effect (tests/test_model.py checks
model against simulation within one point on long streams)."""

from __future__ import annotations

import numpy as np
import pytest

from evalcache.model import predicted_hit_rate, simulate_ttl_cache
from evalcache.runner import run
from evalcache.runner.core import model_write_effect
from evalcache.runner.params import parse_params
from evalcache.runner.resources import read_seeded
from evalcache.settings import Settings
from evalcache.workload import WorkloadGenerator

SCALE = 0.02  # the template's scale (conftest.SCALE)
TTL = 2.0

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.mark.parametrize(
    ("strategy", "effect"),
    [
        ("pattern", "family"),  # a SCAN glob drops every user's profile
        ("table", "family"),  # the users/profiles version bump changes every key
        ("write_through", "refresh_held"),  # rewritten, even past the TTL (virtual clock)
        ("generation", "key"),  # one counter per user: only the written key
    ],
)
def test_runner_hits_are_the_models_simulation(
    runner_settings: Settings, strategy: str, effect: str
) -> None:
    params = {
        "workload": "synthetic",
        "strategy": strategy,
        "scale": SCALE,
        "rate": 100.0,
        "write_ratio": 0.05,
        "duration_s": 12,
        "ttl": {"user_profile": TTL},
        "stale_sample": 0.0,
        "baseline": False,
    }
    s = run(params, settings=runner_settings, progress=False).summary
    rp = parse_params(params)
    assert model_write_effect(rp) == effect
    # the same stream the runner replayed (same spec, id pools and seed)
    assert runner_settings.database_url is not None
    gen = WorkloadGenerator(rp.spec(), read_seeded(runner_settings.database_url).pools, rp.seed)
    batches = list(gen.batches())
    t = np.concatenate([b.t for b in batches])
    keys = np.concatenate([b.args[:, 0] for b in batches])
    reads = np.concatenate([b.op for b in batches]) == batches[0].op_names.index(
        "read:user_profile"
    )

    def simulated(how: str) -> tuple[int, int]:
        return simulate_ttl_cache(
            t[reads], keys[reads], TTL, write_times=t[~reads], write_keys=keys[~reads],
            warmup_s=s["warmup_s"], write_effect=how,
        )  # fmt: skip

    assert s["writes"] > 20 and s["errors"] == 0
    assert (s["hits"], s["reads"]) == simulated(effect)
    # the other effects would be wrong on this stream: the check tells them apart
    others = {e: simulated(e)[0] for e in ("key", "family", "refresh_held") if e != effect}
    assert s["hits"] not in others.values(), others
    _, rates = gen.key_rates("read:user_profile")
    model = predicted_hit_rate(
        float(rates.sum()), gen.popularity("users").probabilities(), TTL,
        write_rate=100.0 * 0.05, write_effect=effect,
    )  # fmt: skip
    assert s["model_hit_rate"] == pytest.approx(model)
