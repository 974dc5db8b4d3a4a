"""The latency gate on a test double with a known latency distribution (log-normal, 15% spread, 100 runs a side):
false alarms on identical models ≤ 1% over 200 seeded trials, a 15% slowdown caught in ≥ 95%, noise → inconclusive."""

import math

import numpy as np
import pytest
from doubles import lognormal, make_artifact, make_report

from edgekit.bench.budget import BudgetFile
from edgekit.bench.gate import evaluate

TRIALS, RUNS, MEDIAN = 200, 100, 10.0


def verdicts(key: str, limit: float, slowdown: float, *, sigma: float = 0.15, runs: int = RUNS, seed: int = 0,
             outliers: float = 0.0, trials: int = TRIALS) -> dict[str, int]:
    """Run the real gate `trials` times on fresh samples; count its verdicts."""
    rng = np.random.default_rng(seed)
    budgets = BudgetFile.model_validate({"budgets": [{key: limit}]})
    cand = lognormal(rng, MEDIAN * slowdown, (trials, runs), sigma)
    base = lognormal(rng, MEDIAN, (trials, runs), sigma)
    if outliers:  # CI noise: a fraction of runs hit by a 3x stall, on both sides
        cand = np.where(rng.random(cand.shape) < outliers, 3 * cand, cand)
        base = np.where(rng.random(base.shape) < outliers, 3 * base, base)
    counts = {"pass": 0, "fail": 0, "inconclusive": 0}
    for c, b in zip(cand, base):
        if key == "max_latency_ratio":
            report = make_report([make_artifact(samples=c)], [make_artifact(samples=b)])
        else:
            report = make_report([make_artifact(samples=c)])
        counts[evaluate(report, budgets)["verdict"]] += 1
    return counts


@pytest.mark.parametrize("outliers", [0.0, 0.05])
def test_ratio_gate_false_alarms_and_power(outliers):
    same = verdicts("max_latency_ratio", 1.0, 1.0, outliers=outliers)  # identical models, limit exactly at the truth
    assert same["fail"] <= 0.01 * TRIALS, same
    slower = verdicts("max_latency_ratio", 1.0, 1.15, seed=1, outliers=outliers)
    assert slower["fail"] >= 0.95 * TRIALS, slower


def test_ratio_gate_passes_identical_models_under_a_budget_with_headroom():
    same = verdicts("max_latency_ratio", 1.10, 1.0, seed=2)
    assert same["fail"] == 0 and same["pass"] >= 0.9 * TRIALS, same


@pytest.mark.parametrize("key, q", [("max_latency_p50_ms", 0.5), ("max_latency_p90_ms", 0.9)])
def test_absolute_percentile_gate_false_alarms_and_power(key, q):
    z = {0.5: 0.0, 0.9: 1.2815515655446004}[q]
    limit = MEDIAN * math.exp(0.15 * z)  # the true percentile sits exactly at the limit
    trials = 1000  # the sign test is cheap: a tighter estimate of its false-alarm rate than 200 trials give
    at_limit = verdicts(key, limit, 1.0, seed=3, trials=trials)
    assert at_limit["fail"] <= 0.01 * trials, at_limit
    slower = verdicts(key, limit, 1.15, seed=4)
    assert slower["fail"] >= 0.95 * TRIALS, slower


def test_a_noisy_environment_is_inconclusive_not_a_coin_flip():
    noisy = verdicts("max_latency_ratio", 1.0, 1.0, sigma=1.0, runs=20, seed=5)
    assert noisy["fail"] <= 0.01 * TRIALS and noisy["inconclusive"] >= 0.95 * TRIALS, noisy
    # a real 15% slowdown drowned in noise is not called a pass either
    drowned = verdicts("max_latency_ratio", 1.10, 1.15, sigma=1.0, runs=20, seed=6)
    assert drowned["pass"] <= 0.05 * TRIALS and drowned["inconclusive"] >= 0.9 * TRIALS, drowned
