"""YCSB as YCSB defines it: the scrambled Zipfian against YCSB's Java, the model against the
sampler, D's reads of the latest users as inserts arrive, E's scans, F's read-modify-writes,
and the core-workload properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evalcache.errors import ConfigError
from evalcache.workload import WorkloadGenerator, get_workload, workload_names
from evalcache.workload.popularity import Popularity, PopularitySpec, zipf_probabilities
from evalcache.workload.scrambled import (
    ITEM_COUNT,
    ZETAN,
    draw_keys,
    fnvhash64,
    scrambled_keys,
    scrambled_probabilities,
    ycsb_zipfian,
    zeta,
    zipfian_values,
)
from evalcache.workload.ycsb import from_properties

# Derived by running YCSB's own classes (core/src/main/java/site/ycsb: Utils,
# generator/ZipfianGenerator, ScrambledZipfianGenerator; master at d9faaac8) under Java 17:
# Utils.fnvhash64 of these values,
JAVA_FNV = {
    0: 6284781860667377211,
    1: 8517097267634966620,
    255: 8064062821143829734,
    256: 2056600594528442646,
    12345: 1792800413050876852,
    4294967296: 634246865027890484,
    10_000_000_000: 1201321332300452516,
    2**63 - 1: 8289549613075766851,
}
# and, with the thread's ThreadLocalRandom seed set to 2024 (reflection), the doubles
# nextDouble() returned (raw bits) and the keys ScrambledZipfianGenerator(0, 10000) and
# (0, ITEM_COUNT - 1) drew from them.
JAVA_U_BITS = [4604933211171207757, 4603876825069227253, 4596499655092482332,
               4593625134065690848, 4580297851859755168, 4605004155038826872]  # fmt: skip
JAVA_KEYS_10001 = [3874, 2573, 1941, 9778, 4927, 2235]
JAVA_KEYS_1E10 = [9548203250, 888579788, 2352564030, 1668624146, 667377211, 2601019845]
# The top 1 % of 10,000 records' share of 1,000,000 keys of CoreWorkload's zipfian chooser
# (ScrambledZipfianGenerator(0, 10000), keys above 9999 drawn again), YCSB's own random.
JAVA_TOP1_SHARE = 0.229831

POOLS = {"users": np.arange(1, 2001)}


def top_share(counts: np.ndarray, share: float = 0.01) -> float:
    ordered = np.sort(counts)[::-1]
    return float(ordered[: int(len(counts) * share)].sum() / counts.sum())


# -- the scrambled Zipfian ---------------------------------------------------------------------
def test_fnvhash64_is_ycsbs() -> None:
    assert fnvhash64(list(JAVA_FNV)).tolist() == list(JAVA_FNV.values())


def test_same_uniforms_same_keys_as_ycsb() -> None:
    u = np.array(JAVA_U_BITS, dtype=np.int64).view(np.float64)
    values = zipfian_values(u, ycsb_zipfian(0.99))
    assert scrambled_keys(values, 10_001).tolist() == JAVA_KEYS_10001
    assert scrambled_keys(values, ITEM_COUNT).tolist() == JAVA_KEYS_1E10


def test_top_one_percent_share_matches_ycsb() -> None:
    rng = np.random.default_rng(5)
    keys = draw_keys(rng, 1_000_000, ycsb_zipfian(0.99), 10_001, limit=10_000)
    share = top_share(np.bincount(keys, minlength=10_000))
    assert abs(share - JAVA_TOP1_SHARE) < 0.02
    # an exact bounded Zipf over the same keys is far more concentrated
    assert top_share(zipf_probabilities(10_000, 0.99)) > share + 0.25


@pytest.mark.parametrize("theta", [0.2, 0.5, 0.99])
def test_zeta_euler_maclaurin_agrees_with_direct_summation(theta: float) -> None:
    for n in (10, 20_000, 1_000_000):
        direct = math.fsum(np.arange(1, n + 1, dtype=np.float64) ** -theta)
        assert zeta(n, theta) == pytest.approx(direct, rel=1e-13)


def test_zeta_at_ycsbs_item_count_is_its_zetan() -> None:
    # YCSB summed 10^10 terms in double; the approximation agrees to 1e-11
    assert zeta(ITEM_COUNT, 0.99) == pytest.approx(ZETAN, rel=1e-11)
    assert ycsb_zipfian(0.99).zetan == ZETAN  # used as YCSB uses it
    assert ycsb_zipfian(0.5).zetan == pytest.approx(zeta(ITEM_COUNT + 1, 0.5), rel=1e-15)


@pytest.mark.parametrize(
    ("theta", "itemcount", "exact_items"),
    [(0.99, 1000, None), (0.99, 1301, 10**6), (0.6, 1000, 10**6)],
)
def test_model_probabilities_match_sampled_frequencies(
    theta: float, itemcount: int, exact_items: int | None
) -> None:
    n, draws = 1000, 1_000_000
    pop = Popularity(n, PopularitySpec("scrambled_zipf", theta), itemcount=itemcount)
    probs = (
        pop.probabilities()  # the default: 10^7 items exact
        if exact_items is None
        else scrambled_probabilities(n, theta, itemcount, exact_items=exact_items)
    )
    assert probs.shape == (n,) and probs.sum() == pytest.approx(1.0, abs=1e-12)
    counts = np.bincount(pop.sample(np.random.default_rng(9), draws), minlength=n)
    expected = probs * draws
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 / (n - 1) < 1.25  # ~1 when the model is the sampler's distribution
    top = np.argsort(probs)[-10:]
    want = expected[top].sum()
    assert counts[top].sum() == pytest.approx(want, abs=5 * math.sqrt(want))


def test_scrambled_theta_must_be_below_one() -> None:
    with pytest.raises(ConfigError, match="0 <= theta < 1"):
        PopularitySpec("scrambled_zipf", 1.0)
    with pytest.raises(ConfigError, match="skew"):
        get_workload("ycsb_a", skew=1.2)
    assert get_workload("ycsb_a", skew=0.5).popularity_of("users").theta == 0.5


# -- D: the latest users, as inserts arrive -------------------------------------------------
def test_latest_with_inserts_reads_existing_ids_and_favours_the_newest() -> None:
    gen = WorkloadGenerator(get_workload("ycsb_d", rate=400), POOLS, seed=3, duration=60)
    inserted, newest, ranks, counts = 0, 2000, [], []
    for r in gen:
        if r.op == "write:insert_user":
            assert r.args == (2001 + inserted,)  # new ids in order, after the pool's
            inserted += 1
            newest = r.args[0]
        else:
            ranks.append(newest - r.args[0])  # 0: the newest record at that request
            counts.append(2000 + inserted)
    ranks_a = np.array(ranks)
    assert inserted > 1000 and ranks_a.min() >= 0  # only existing or just inserted ids
    assert ranks_a.max() < 2000 + inserted
    # rank r is drawn with (r + 1)^-0.99 / zeta(count): the newest most of all
    zetas = np.cumsum(np.arange(1, max(counts) + 1, dtype=np.float64) ** -0.99)
    expected = 1 / zetas[np.array(counts) - 1]
    got = (ranks_a == 0).mean()
    assert got == pytest.approx(expected.mean(), abs=4 * math.sqrt(expected.mean() / len(ranks)))
    assert (ranks_a < 10).mean() > 0.3 > (ranks_a >= 1000).mean()


def test_the_same_seed_gives_the_same_inserts_and_reads() -> None:
    def digest(seed: int) -> str:
        return WorkloadGenerator(get_workload("ycsb_d"), POOLS, seed=seed, duration=20).digest()

    assert digest(4) == digest(4) != digest(5)


# -- E: scans -------------------------------------------------------------------------------
def test_scans_are_uniform_1_to_100_from_existing_records() -> None:
    gen = WorkloadGenerator(get_workload("ycsb_e", rate=1000), POOLS, seed=6, duration=40)
    lengths, last = [], 2000
    for r in gen:
        if r.op == "write:insert_user":
            last = r.args[0]
        else:
            assert r.op == "read:user_profiles_scan" and 1 <= r.args[0] <= last
            lengths.append(r.args[1])
    counts = np.bincount(lengths, minlength=101)[1:]
    assert counts.size == 100 and counts.min() > 0 and len(lengths) == counts.sum()
    expected = len(lengths) / 100
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 160  # 99 degrees of freedom: p ~ 1e-4 beyond


def test_ycsb_shapes() -> None:
    d, e, f = (get_workload(f"ycsb_{c}") for c in "def")
    assert d.op_probabilities() == pytest.approx({"read:user_profile": 0.95,
                                                  "write:insert_user": 0.05})  # fmt: skip
    assert e.op_probabilities() == pytest.approx(
        {"read:user_profiles_scan": 0.95, "write:insert_user": 0.05}
    )
    assert e.max_scan_length == 100 and e.popularity_of("users").kind == "scrambled_zipf"
    assert f.op_probabilities() == pytest.approx(
        {"read:user_profile": 0.5, "write:rmw_user_profile": 0.5}
    )
    assert {get_workload(f"ycsb_{c}").key_space for c in "abcdef"} == {"ycsb"}


def test_non_ycsb_streams_are_unchanged() -> None:
    # digests of these streams before the YCSB work (evalcache at 4a9cd36); the workloads that
    # took every write of the application (issue 14) pinned again then, profile and synthetic
    # unchanged since
    pinned = {
        "booking": "18abe2c3b8e14b4b",
        "browse": "a4caa16b539eccb7",
        "cold_start": "603510e7e861be1c",
        "dashboard": "488188e4cb9166dd",
        "flash_crowd": "a4caa16b539eccb7",
        "mixed": "603510e7e861be1c",
        "payments": "59219f62cb46144e",
        "profile": "5e5da10a437e68c7",
        "synthetic": "5d5ce5fde58c574a",
    }
    pools = {
        "users": np.arange(1, 2001),
        "experts": np.arange(5001, 5201),
        "specializations": np.arange(1, 31),
        "open_appointments": np.arange(10_001, 12_001),
        "pending_payments": np.arange(900, 1400),
        "succeeded_payments": np.arange(3000, 1500, -1),
    }
    assert set(pinned) == {n for n in workload_names() if not n.startswith("ycsb_")}
    for name, digest in pinned.items():
        gen = WorkloadGenerator(get_workload(name, rate=200), pools, seed=11, duration=30)
        assert gen.digest()[:16] == digest, name


# -- properties -----------------------------------------------------------------------------
def test_a_ycsb_workload_file_as_properties() -> None:
    # workloads/workloade as a properties file gives it (strings), with a record count
    props = {"recordcount": "1000", "operationcount": "6000", "readallfields": "true",
             "workload": "site.ycsb.workloads.CoreWorkload", "readproportion": "0",
             "updateproportion": "0", "scanproportion": "0.95", "insertproportion": "0.05",
             "requestdistribution": "zipfian", "maxscanlength": "100",
             "scanlengthdistribution": "uniform", "target": "200"}  # fmt: skip
    spec = from_properties(props, name="e1000")
    assert (spec.name, spec.rate, spec.duration_s, spec.record_count) == ("e1000", 200, 30, 1000)
    gen = WorkloadGenerator(spec, {"users": np.arange(5000, 1, -1)}, seed=1)
    assert gen.pools["users"].tolist() == list(range(2, 1002))  # the first 1000 ids in order
    assert gen.first_new_id == 5001  # after the whole pool, not the records kept
    starts = [r.args[0] for r in gen if r.op == "read:user_profiles_scan"]
    assert starts and all(2 <= s <= 1001 or s >= 5001 for s in starts)


@pytest.mark.parametrize(
    ("props", "name", "match"),
    [
        ({"readproportion": 0.5}, "proportions", r"readproportion 0\.5 \+ updateproportion 0\.05 "
         r"\(default\).* = 0\.55"),
        ({"readproportion": 1.5, "updateproportion": 0}, "readproportion", r"\[0, 1\]"),
        ({"requestdistribution": "hotspot"}, "requestdistribution", "uniform, zipfian, latest"),
        ({"requestdistribution": "exponential"}, "requestdistribution", "not implemented"),
        ({"zipfianconstant": 1.0}, "zipfianconstant", "0 <= theta < 1"),
        ({"target": 0}, "target", "> 0"),
        ({"recordcount": 10.5}, "recordcount", "integer >= 1"),
        ({"operationcount": "many"}, "operationcount", "integer >= 1"),
        ({"maxscanlength": 0}, "maxscanlength", "integer >= 1"),
        ({"maxscanlength": 1001}, "maxscanlength", "<= 1000"),
        ({"minscanlength": 2}, "minscanlength", "only 1"),
        ({"scanlengthdistribution": "zipfian"}, "scanlengthdistribution", "accepted: uniform"),
        ({"readproportoin": 1}, "readproportoin", "accepted: recordcount, operationcount"),
        ({"updateproportion": True}, "updateproportion", "must be a number"),
    ],
)  # fmt: skip
def test_bad_properties_name_the_property(props: dict[str, object], name: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        from_properties(props)
    assert info.value.name == name


def test_recordcount_above_the_pool_names_the_pool_size() -> None:
    spec = from_properties({"recordcount": 2500})
    with pytest.raises(ConfigError, match=r"holds 2000 users.*accepted: 1\.\.2000") as info:
        WorkloadGenerator(spec, POOLS, seed=1)
    assert info.value.name == "record_count"
