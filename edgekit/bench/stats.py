"""Statistics behind latency comparisons and the budget gate (SciPy's tests; the Hodges–Lehmann interval here).

Two distribution-free tests decide latency budgets, each answering with two one-sided p-values:

- `ratio_test`: is candidate latency / baseline latency above or below a limit? Mann–Whitney U on log latency:
  the candidate's samples divided by the limit are compared with the baseline's. Under "ratio == limit" (a pure
  multiplicative shift) both sets come from one distribution, so the test's false-alarm rate is α whatever the
  shape of the latency distribution (heavy tails, outliers). The reported interval is the Hodges–Lehmann ratio's
  confidence interval obtained by inverting the same test, so verdict and interval always agree.
- `quantile_test`: is a latency percentile (p50, p90) above or below an absolute limit? The number of runs slower
  than the limit is Binomial(n, 1 - q) when the q-quantile sits exactly at the limit (exact sign test, SciPy's
  `quantile_test`; runs equal to the limit comply).

Both assume runs are exchangeable (no trend); interleaved A/B rounds make drift hit both sides of a ratio alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

MIN_SAMPLES = 10  # fewer runs than this on a side: no latency verdict


def ratio_with_ci(candidate: list[float], baseline: list[float], confidence: float = 0.95,
                  resamples: int = 2000, seed: int = 0) -> dict:
    """Ratio of medians (candidate / baseline) with a percentile-bootstrap confidence interval, each sample
    resampled on its own (SciPy's `bootstrap`)."""
    cand = np.asarray(candidate, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    ci = stats.bootstrap((cand, base), _ratio_of_medians, n_resamples=resamples, vectorized=True, paired=False,
                         confidence_level=confidence, method="percentile", rng=seed).confidence_interval
    return {"ratio": round(float(_ratio_of_medians(cand, base)), 4),
            "ratio_ci": [round(float(ci.low), 4), round(float(ci.high), 4)], "confidence": confidence,
            "method": "bootstrap of the ratio of medians, interleaved A/B rounds"}


def speedup_with_ci(candidate: list[float], baseline: list[float], confidence: float = 0.95) -> dict:
    """The baseline's median over the candidate's (how many times faster), with `ratio_with_ci`'s interval
    inverted: {"speedup", "ci": [low, high]}."""
    ratio = ratio_with_ci(candidate, baseline, confidence)
    low, high = ratio["ratio_ci"]
    return {"speedup": round(1 / ratio["ratio"], 3), "ci": [round(1 / high, 3), round(1 / low, 3)]}


def _ratio_of_medians(candidate: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(candidate, axis=axis) / np.median(baseline, axis=axis)


@dataclass
class LatencyDecision:
    """Outcome of one latency test against a limit; `verdict` is pass, fail or inconclusive."""

    verdict: str
    estimate: float | None  # the ratio (Hodges–Lehmann) or the sample percentile
    ci: tuple[float | None, float | None]  # two-sided 1 - 2α interval of the estimate
    p_violation: float | None  # small: the limit is significantly exceeded
    p_compliance: float | None  # small: the value is significantly below the limit
    n: tuple[int, ...]
    reason: str = ""

    def as_dict(self) -> dict:
        out = asdict(self)
        out["ci"] = list(self.ci)
        out["n"] = list(self.n)
        return out


def decide(p_violation: float, p_compliance: float, alpha: float) -> str:
    """fail when the violation is significant at α, pass when compliance is, else inconclusive."""
    if p_violation < alpha:
        return "fail"
    if p_compliance < alpha:
        return "pass"
    return "inconclusive"


def _rank_sum(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Mann–Whitney U of `x` over `y`, its null mean and its tie-corrected null standard deviation."""
    n, m = len(x), len(y)
    ranks = stats.rankdata(np.concatenate([x, y]))
    u = float(ranks[:n].sum() - n * (n + 1) / 2.0)
    return u, n * m / 2.0, math.sqrt(n * m * (n + m + 1) / 12.0 * stats.tiecorrect(ranks))


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One-sided p-values (x stochastically greater than y, x smaller): SciPy's asymptotic Mann–Whitney U with
    continuity and tie correction."""
    return tuple(float(stats.mannwhitneyu(x, y, alternative=side, method="asymptotic").pvalue)
                 for side in ("greater", "less"))


def _shift_where(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """The shift d at which U(x - d, y) - mean crosses `target` (U decreases as d grows): bisection."""
    low, high = float(x.min() - y.max()), float(x.max() - y.min())
    for _ in range(48):
        mid = (low + high) / 2
        u, mean, _ = _rank_sum(x - mid, y)
        if u - mean > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def shift_interval(x: np.ndarray, y: np.ndarray, z: float) -> tuple[float, float, float]:
    """Hodges–Lehmann shift of x over y and the interval of shifts the one-sided Mann–Whitney tests at critical
    value `z` do not reject (Moses): order statistics of the pairwise differences, bisection when there are many."""
    _, mean, sd = _rank_sum(x, y)
    n_pairs = len(x) * len(y)
    if n_pairs > 1_000_000:
        return (_shift_where(x, y, 0.0), _shift_where(x, y, z * sd + 0.5), _shift_where(x, y, -z * sd - 0.5))
    diffs = np.subtract.outer(x, y).ravel()
    c = min(int(math.floor(mean + 0.5 + z * sd)), n_pairs - 1)  # at most c differences may lie beyond a bound
    low_index, high_index = max(n_pairs - c - 1, 0), c
    ordered = np.partition(diffs, sorted({low_index, high_index}))
    return float(np.median(diffs)), float(ordered[low_index]), float(ordered[high_index])


def ratio_test(candidate, baseline, limit: float, alpha: float) -> LatencyDecision:
    """Test candidate / baseline latency against `limit` with Mann–Whitney U on log latency (see module doc)."""
    cand = np.log(np.asarray(candidate, dtype=np.float64))
    base = np.log(np.asarray(baseline, dtype=np.float64))
    n = (len(cand), len(base))
    if min(n) < MIN_SAMPLES:
        return LatencyDecision("inconclusive", None, (None, None), None, None, n,
                          f"needs at least {MIN_SAMPLES} runs on each side")
    p_violation, p_compliance = mann_whitney(cand - math.log(limit), base)
    shift, low, high = shift_interval(cand, base, stats.norm.isf(alpha))
    return LatencyDecision(decide(p_violation, p_compliance, alpha), math.exp(shift), (math.exp(low), math.exp(high)),
                      p_violation, p_compliance, n)


def quantile_test(samples, q: float, limit: float, alpha: float) -> LatencyDecision:
    """Test the q-quantile of `samples` against an absolute `limit` (exact binomial sign test, see module doc)."""
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    if n < MIN_SAMPLES:
        return LatencyDecision("inconclusive", None, (None, None), None, None, (n,),
                          f"needs at least {MIN_SAMPLES} runs")
    above = stats.quantile_test(x, q=limit, p=q, alternative="greater")  # small p: the quantile exceeds the limit
    # small p: it is below the limit; runs equal to the limit comply (x < nextafter(limit) is x <= limit)
    below = stats.quantile_test(x, q=np.nextafter(limit, np.inf), p=q, alternative="less")
    p_violation, p_compliance = float(above.pvalue), float(below.pvalue)
    ci = (_finite(above.confidence_interval(1 - alpha).low), _finite(below.confidence_interval(1 - alpha).high))
    return LatencyDecision(decide(p_violation, p_compliance, alpha), float(np.quantile(x, q)), ci, p_violation,
                           p_compliance, (n,))


def _finite(value: float) -> float | None:
    """A confidence bound, None where there are too few runs for one (SciPy's nan)."""
    return None if math.isnan(value) else float(value)
