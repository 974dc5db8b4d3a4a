import math

import numpy as np
import pytest

from edgekit.bench.stats import (
    binomial_cdf,
    mann_whitney,
    normal_isf,
    quantile_test,
    ratio_test,
    shift_interval,
)


def test_mann_whitney_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x, y = np.round(rng.lognormal(0, 0.2, 80), 2), np.round(rng.lognormal(0.05, 0.2, 60), 2)  # rounded: ties
    greater, less = mann_whitney(x, y)
    assert greater == pytest.approx(stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic").pvalue)
    assert less == pytest.approx(stats.mannwhitneyu(x, y, alternative="less", method="asymptotic").pvalue)


def test_binomial_cdf_and_normal_quantile_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for n, p in [(50, 0.1), (200, 0.5), (5000, 0.9)]:
        assert np.allclose(binomial_cdf(n, p), stats.binom.cdf(np.arange(n + 1), n, p), atol=1e-10)
    assert normal_isf(0.002) == pytest.approx(stats.norm.isf(0.002), rel=1e-9)


def test_shift_interval_is_the_inverted_test():
    rng = np.random.default_rng(3)
    x, y = np.log(rng.lognormal(0.1, 0.2, 80)), np.log(rng.lognormal(0, 0.2, 60))
    z = normal_isf(0.01)
    estimate, low, high = shift_interval(x, y, z)
    assert low < estimate < high
    assert estimate == pytest.approx(np.median(np.subtract.outer(x, y)))
    eps = 1e-9  # just inside the interval the one-sided tests do not reject; just outside they do
    assert mann_whitney(x - low + eps, y)[0] < 0.01 <= mann_whitney(x - low - eps, y)[0]
    assert mann_whitney(x - high - eps, y)[1] < 0.01 <= mann_whitney(x - high + eps, y)[1]


def test_ratio_test_reports_a_ratio_and_an_interval_containing_it():
    rng = np.random.default_rng(1)
    result = ratio_test(rng.lognormal(math.log(12), 0.1, 200), rng.lognormal(math.log(10), 0.1, 200), 1.1, 0.01)
    assert result.verdict == "fail" and result.ci[0] < 1.2 < result.ci[1] and 1.15 < result.estimate < 1.25
    assert result.p_violation < 0.01 < result.p_compliance


def test_too_few_runs_are_inconclusive():
    assert ratio_test([1.0] * 5, [1.0] * 50, 1.0, 0.01).verdict == "inconclusive"
    assert quantile_test([1.0] * 5, 0.5, 2.0, 0.01).verdict == "inconclusive"


def test_quantile_test_interval_and_verdicts():
    samples = np.arange(1, 201, dtype=float)  # p50 = 100.5, p90 = 180.1
    low_ok = quantile_test(samples, 0.5, 130.0, 0.01)
    assert low_ok.verdict == "pass" and low_ok.ci[0] < 100.5 < low_ok.ci[1] < 130
    assert quantile_test(samples, 0.5, 80.0, 0.01).verdict == "fail"
    assert quantile_test(samples, 0.5, 100.0, 0.01).verdict == "inconclusive"
    assert quantile_test(samples, 0.9, 150.0, 0.01).verdict == "fail"
    assert quantile_test(samples, 0.9, 199.0, 0.01).verdict == "pass"
