def test_fast_mean_equals_hdrh_mean() -> None:
    import numpy as np

    from evalcache.metrics.latency import mean_ns, new_histogram

    hist = new_histogram()
    rng = np.random.default_rng(3)
    for v in rng.lognormal(11, 1.5, 5000).astype(int):
        hist.record_value(max(int(v), 1))
    assert mean_ns(hist) == hist.get_mean_value()
    assert mean_ns(new_histogram()) == 0.0
