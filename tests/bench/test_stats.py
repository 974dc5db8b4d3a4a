import math

import numpy as np
import pytest
from scipy import stats

from edgekit.bench.stats import (
    mann_whitney,
    quantile_test,
    ratio_test,
    ratio_with_ci,
    shift_interval,
    speedup_with_ci,
)


def test_mann_whitney_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    x, y = np.round(rng.lognormal(0, 0.2, 80), 2), np.round(rng.lognormal(0.05, 0.2, 60), 2)  # rounded: ties
    greater, less = mann_whitney(x, y)
    assert greater == pytest.approx(stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic").pvalue)
    assert less == pytest.approx(stats.mannwhitneyu(x, y, alternative="less", method="asymptotic").pvalue)


def test_shift_interval_is_the_inverted_test():
    rng = np.random.default_rng(3)
    x, y = np.log(rng.lognormal(0.1, 0.2, 80)), np.log(rng.lognormal(0, 0.2, 60))
    z = stats.norm.isf(0.01)
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


def test_quantile_test_p_values_are_the_exact_sign_test():
    rng = np.random.default_rng(2)
    samples = np.round(rng.lognormal(0, 0.1, 100), 1)  # rounded: many runs equal to the limit, which comply
    q, limit = 0.5, float(np.median(samples))
    slower = int((samples > limit).sum())  # Binomial(n, 1 - q) when the q-quantile is at the limit
    result = quantile_test(samples, q, limit, 0.01)
    assert result.p_violation == pytest.approx(stats.binom.sf(slower - 1, len(samples), 1 - q))
    assert result.p_compliance == pytest.approx(stats.binom.cdf(slower, len(samples), 1 - q))
    assert result.verdict == "pass" and result.ci[0] <= limit <= result.ci[1]


def _old_ratio_ci(candidate, baseline, confidence, resamples, seed):
    """The hand-written percentile bootstrap ratio_with_ci had before it used SciPy."""
    rng = np.random.default_rng(seed)
    ratios = (np.median(rng.choice(candidate, (resamples, len(candidate))), axis=1)
              / np.median(rng.choice(baseline, (resamples, len(baseline))), axis=1))
    return np.quantile(ratios, [(1 - confidence) / 2, (1 + confidence) / 2])


def test_ratio_with_ci_agrees_with_the_hand_written_bootstrap():
    rng = np.random.default_rng(4)
    cand, base = rng.lognormal(math.log(12), 0.1, 150), rng.lognormal(math.log(10), 0.1, 120)
    result = ratio_with_ci(cand.tolist(), base.tolist(), confidence=0.9, resamples=1000, seed=7)
    low, high = result["ratio_ci"]
    assert result["ratio"] == round(np.median(cand) / np.median(base), 4) and low < result["ratio"] < high
    noise = np.std([_old_ratio_ci(cand, base, 0.9, 1000, seed) for seed in range(20)], axis=0)
    assert np.allclose([low, high], _old_ratio_ci(cand, base, 0.9, 1000, 7), atol=3 * noise.max())


def test_speedup_with_ci_is_the_inverted_ratio_and_its_interval():
    rng = np.random.default_rng(5)
    cand, base = rng.lognormal(math.log(5), 0.05, 100), rng.lognormal(math.log(10), 0.05, 100)
    ratio = ratio_with_ci(cand.tolist(), base.tolist())
    result = speedup_with_ci(cand.tolist(), base.tolist())
    assert result["speedup"] == pytest.approx(1 / ratio["ratio"], abs=1e-3)
    assert result["ci"] == pytest.approx([1 / ratio["ratio_ci"][1], 1 / ratio["ratio_ci"][0]], abs=1e-3)
    assert result["ci"][0] < result["speedup"] < result["ci"][1] and 1.9 < result["speedup"] < 2.1
