"""The frequently accessed keys (80 % of reads) and their hit rate, on hand-built counts."""

from __future__ import annotations

import numpy as np
import pytest

from evalcache.metrics.popularity import FREQUENT_SHARE, KeyReads, frequent_keys
from evalcache.report import scorecard


def test_the_hottest_keys_holding_80_percent_of_reads() -> None:
    # reads per key: 50, 30, 10, 5, 5 (100 in all): the first two hold exactly 80 %.
    hits = [49, 27, 2, 0, 0]
    misses = [1, 3, 8, 5, 5]
    f = frequent_keys(hits, misses)
    assert (f.keys_read, f.keys, f.reads, f.hits, f.total_reads) == (5, 2, 80, 76, 100)
    assert f.hit_rate == pytest.approx(0.95)
    # every read: 78 %, which "> 85 % for frequently accessed data" does not judge
    assert sum(hits) / 100 == 0.78
    # one read fewer on the second key: 79 of 99 is short of 80 %, the third key joins
    f2 = frequent_keys([49, 26, 2, 0, 0], misses)
    assert (f2.keys, f2.reads) == (3, 89)


def test_keys_are_ranked_by_reads_and_ties_keep_first_read_order() -> None:
    # reads 1, 4, 4: the cold key read first stays out; of the two equal keys the first read
    # one (3 hits) gets in, not the other (2 hits)
    f = frequent_keys([0, 3, 2], [1, 1, 2], share=0.4)
    assert (f.keys, f.reads, f.hits) == (1, 4, 3)
    assert frequent_keys([0, 3, 2], [1, 1, 2], share=0.5).hits == 5  # both, at 8 of 9 reads
    f1 = frequent_keys([0, 1, 3], [4, 0, 0], share=0.4)
    assert (f1.keys, f1.hits) == (1, 0)  # ranked by reads, hits or misses: 4 misses is hottest
    assert frequent_keys([], []).hit_rate is None
    assert frequent_keys([0, 0], [0, 0]) == (0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="share"):
        frequent_keys([1], [1], share=0.0)


def test_key_reads_counts_per_key_and_feeds_the_scorecard() -> None:
    reads = KeyReads()
    rng = np.random.default_rng(5)
    # hand-built: key 0 read 60 times (1 miss), key 1 20 times (1 miss), 20 keys read once
    stream = [0] * 60 + [1] * 20 + list(range(2, 22))
    seen: set[int] = set()
    for k in rng.permutation(stream).tolist():
        reads.record(("user_profile", k), hit=k in seen)
        seen.add(k)
    assert len(reads) == 22
    f = reads.frequent()
    assert FREQUENT_SHARE == 0.8
    assert (f.keys, f.reads, f.hits, f.keys_read) == (2, 80, 78, 22)
    # the run-wide hit rate is 78 %, the frequently accessed keys' 97.5 %: the target passes
    row = {
        "hit_rate": 78 / 100,
        "frequent_hit_rate": f.hit_rate,
        "frequent_keys": f.keys,
        "keys_read": f.keys_read,
    }
    judged = scorecard.score_run(row).set_index("key").loc["hit_rate"]
    assert judged["passed"] is True and judged["measured"] == 0.975
    assert judged["shown"] == "97.5 % (2 of 22 keys; all reads 78.0 %)"
