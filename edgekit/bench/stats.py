"""Statistics behind latency comparisons and the budget gate (numpy only, no SciPy).

Two distribution-free tests decide latency budgets, each answering with two one-sided p-values:

- `ratio_test`: is candidate latency / baseline latency above or below a limit? Mann–Whitney U on log latency:
  the candidate's samples divided by the limit are compared with the baseline's. Under "ratio == limit" (a pure
  multiplicative shift) both sets come from one distribution, so the test's false-alarm rate is α whatever the
  shape of the latency distribution (heavy tails, outliers). The reported interval is the Hodges–Lehmann ratio's
  confidence interval obtained by inverting the same test, so verdict and interval always agree.
- `quantile_test`: is a latency percentile (p50, p90) above or below an absolute limit? The number of runs slower
  than the limit is Binomial(n, 1 - q) when the q-quantile sits exactly at the limit (exact sign test).

Both assume runs are exchangeable (no trend); interleaved A/B rounds make drift hit both sides of a ratio alike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

MIN_SAMPLES = 10  # fewer runs than this on a side: no latency verdict


def ratio_with_ci(candidate: list[float], baseline: list[float], confidence: float = 0.95,
                  resamples: int = 2000, seed: int = 0) -> dict:
    """Ratio of medians (candidate / baseline) with a percentile-bootstrap confidence interval."""
    cand = np.asarray(candidate, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    rng = np.random.default_rng(seed)
    boot_c = np.median(rng.choice(cand, (resamples, len(cand))), axis=1)
    boot_b = np.median(rng.choice(base, (resamples, len(base))), axis=1)
    ratios = boot_c / boot_b
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return {"ratio": round(float(np.median(cand) / np.median(base)), 4),
            "ratio_ci": [round(float(low), 4), round(float(high), 4)], "confidence": confidence,
            "method": "bootstrap of the ratio of medians, interleaved A/B rounds"}


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


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_isf(p: float) -> float:
    """z with P(Z > z) = p (bisection on normal_sf; p in (0, 1))."""
    low, high = -40.0, 40.0
    for _ in range(200):
        mid = (low + high) / 2
        if normal_sf(mid) > p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def rank_sum(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Mann–Whitney U of `x` over `y`, its null mean and its tie-corrected null standard deviation."""
    n, m = len(x), len(y)
    pooled = np.concatenate([x, y])
    order = np.argsort(pooled, kind="mergesort")
    _, inverse, counts = np.unique(pooled[order], return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based mid-ranks of each tie group
    ranks = np.empty(n + m)
    ranks[order] = average_rank[inverse]
    u = float(ranks[:n].sum() - n * (n + 1) / 2.0)
    ties = float((counts.astype(np.float64) ** 3 - counts).sum())
    total = n + m
    var = n * m / 12.0 * ((total + 1) - ties / (total * (total - 1)))
    return u, n * m / 2.0, math.sqrt(max(var, 0.0))


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One-sided p-values (x stochastically greater than y, x smaller), normal approximation with continuity
    correction and tie correction (as SciPy's `mannwhitneyu(..., method="asymptotic")`)."""
    u, mean, sd = rank_sum(x, y)
    if sd == 0:
        return 1.0, 1.0
    return normal_sf((u - mean - 0.5) / sd), normal_sf((mean - u - 0.5) / sd)


def _shift_where(x: np.ndarray, y: np.ndarray, target: float) -> float:
    """The shift d at which U(x - d, y) - mean crosses `target` (U decreases as d grows): bisection."""
    low, high = float(x.min() - y.max()), float(x.max() - y.min())
    for _ in range(48):
        mid = (low + high) / 2
        u, mean, _ = rank_sum(x - mid, y)
        if u - mean > target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def shift_interval(x: np.ndarray, y: np.ndarray, z: float) -> tuple[float, float, float]:
    """Hodges–Lehmann shift of x over y and the interval of shifts the one-sided Mann–Whitney tests at critical
    value `z` do not reject (Moses): order statistics of the pairwise differences, bisection when there are many."""
    _, mean, sd = rank_sum(x, y)
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
    shift, low, high = shift_interval(cand, base, normal_isf(alpha))
    return LatencyDecision(decide(p_violation, p_compliance, alpha), math.exp(shift), (math.exp(low), math.exp(high)),
                      p_violation, p_compliance, n)


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """P(X <= k) for k = 0..n, X ~ Binomial(n, p), 0 < p < 1 (log-space recursion, stable for large n)."""
    k = np.arange(n)
    log_step = np.log(n - k) - np.log(k + 1) + math.log(p) - math.log1p(-p)
    log_pmf = np.concatenate([[n * math.log1p(-p)], n * math.log1p(-p) + np.cumsum(log_step)])
    pmf = np.exp(log_pmf - log_pmf.max())
    return np.minimum(np.cumsum(pmf) / pmf.sum(), 1.0)


def quantile_test(samples, q: float, limit: float, alpha: float) -> LatencyDecision:
    """Test the q-quantile of `samples` against an absolute `limit` (exact binomial sign test, see module doc)."""
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = len(x)
    if n < MIN_SAMPLES:
        return LatencyDecision("inconclusive", None, (None, None), None, None, (n,),
                          f"needs at least {MIN_SAMPLES} runs")
    slower = int((x > limit).sum())
    cdf = binomial_cdf(n, 1.0 - q)  # runs slower than the limit when the quantile sits exactly at it
    p_violation = float(1.0 - cdf[slower - 1]) if slower > 0 else 1.0
    p_compliance = float(cdf[slower])
    # order-statistic interval: x_(j) <= true quantile with probability P(Binomial(n, q) >= j)
    at_most = binomial_cdf(n, q)  # P(B <= j) for B ~ Binomial(n, q)
    lower_ok = np.nonzero(1.0 - np.concatenate([[0.0], at_most[:-1]]) >= 1 - alpha)[0]  # P(B >= j) for j = 0..n
    upper_ok = np.nonzero(at_most >= 1 - alpha)[0]  # P(B <= j - 1) >= 1 - α with j - 1 = index
    low = float(x[lower_ok.max() - 1]) if lower_ok.size and lower_ok.max() >= 1 else None
    high = float(x[upper_ok.min()]) if upper_ok.size and upper_ok.min() < n else None
    estimate = float(np.quantile(x, q))
    return LatencyDecision(decide(p_violation, p_compliance, alpha), estimate, (low, high), p_violation, p_compliance,
                      (n,))
