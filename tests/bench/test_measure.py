import numpy as np

from edgekit.bench.measure import parity, summarize
from edgekit.bench.stats import ratio_with_ci


def test_parity_passes_within_tolerance_and_fails_beyond():
    ref = np.array([[1.0, 3.0, 2.0], [0.5, -1.0, 4.0]])
    assert parity(ref + 1e-5, ref, atol=1e-3)["passed"]
    bad = parity(ref + 0.1, ref, atol=1e-3)
    assert not bad["passed"] and bad["max_abs_diff"] > 0.09


def test_a_top1_flip_within_tolerance_is_a_near_tie():
    ref = np.array([[1.0, 1.0 + 1e-6], [0.0, 5.0]])
    out = np.array([[1.0 + 2e-6, 1.0], [0.0, 5.0]])
    result = parity(out, ref, atol=1e-3)
    assert result["top1_agreement"] == 0.5 and result["passed"]
    clear = np.array([[2.0, 1.0], [0.0, 5.0]])
    assert not parity(clear, np.array([[1.0, 2.0], [0.0, 5.0]]), atol=1e-3)["passed"]


def test_non_finite_outputs_fail():
    assert not parity(np.array([[np.nan, 1.0]]), np.array([[0.0, 1.0]]), atol=1e9)["passed"]


def test_shape_mismatch_fails():
    assert not parity(np.zeros((2, 3)), np.zeros((2, 4)), atol=1)["passed"]


def test_summary_percentiles():
    stats = summarize(list(range(1, 101)))
    assert stats["p50"] == 50.5 and stats["min"] == 1 and 98 < stats["p99"] < 100


def test_ratio_ci_brackets_the_true_ratio():
    rng = np.random.default_rng(0)
    base = rng.normal(10, 0.3, 200)
    cand = rng.normal(12, 0.3, 200)
    result = ratio_with_ci(cand.tolist(), base.tolist())
    low, high = result["ratio_ci"]
    assert low < 1.2 < high and high - low < 0.05
