"""Statistics for side-by-side latency comparisons."""

from __future__ import annotations

import numpy as np


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
