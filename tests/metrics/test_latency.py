def test_fast_mean_equals_hdrh_mean() -> None:
    import numpy as np

    from evalcache.metrics.latency import mean_ns, new_histogram

    hist = new_histogram()
    rng = np.random.default_rng(3)
    for v in rng.lognormal(11, 1.5, 5000).astype(int):
        hist.record_value(max(int(v), 1))
    assert mean_ns(hist) == hist.get_mean_value()
    assert mean_ns(new_histogram()) == 0.0


def test_recorded_values_equal_hdrh_recorded_iterator() -> None:
    import numpy as np

    from evalcache.metrics.latency import new_histogram, recorded_values

    hist = new_histogram()
    for v in np.random.default_rng(3).lognormal(12, 2, 5000):
        hist.record_value(int(v))
    expected = [
        (i.value_iterated_to, i.count_at_value_iterated_to) for i in hist.get_recorded_iterator()
    ]
    values, counts = recorded_values(hist)
    assert len(expected) > 100
    assert list(zip(values.tolist(), counts.tolist(), strict=True)) == expected
    assert recorded_values(new_histogram())[0].size == 0
