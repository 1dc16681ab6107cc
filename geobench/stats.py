"""Confidence intervals for the numbers geobench reports.

results.json carries lm-eval's `<metric>_stderr` (sample standard deviation / sqrt(n)) beside each mean. That
stderr is 0 for an accuracy of exactly 0 or 1 and undefined for one sample, which is when a reader most needs an
interval, so plots and reports draw 95% **Wilson score** intervals for accuracies (metrics whose per-sample
values are all 0 or 1) and mean +/- 1.96 stderr for everything else. `bootstrap_stderr` is the lm-eval-style
stderr for statistics that are not means (a median, a macro average).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion: sensible at 0/n and n/n, unlike p +/- z*stderr."""
    if n <= 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact ends: no 0.9999999999999999
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def is_binary(values: Sequence[float]) -> bool:
    return len(values) > 0 and all(v in (0, 1) for v in values)


def interval(values: Sequence[float], z: float = Z95) -> tuple[float, float, float]:
    """(mean, low, high) of per-sample values: Wilson for 0/1 values, mean +/- z*stderr otherwise."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = sum(values) / n
    if is_binary(values):
        return (mean, *wilson(sum(values), n, z))
    if n == 1:
        return (mean, math.nan, math.nan)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = z * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


def bootstrap_stderr(values: Sequence[float], statistic: Callable[[Sequence[float]], float],
                     iters: int = 1000, seed: int = 1234) -> float:
    """Standard deviation of `statistic` over `iters` resamples with replacement (seeded: reruns agree)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    stats = [statistic(x[rng.integers(0, len(x), len(x))]) for _ in range(iters)]
    return float(np.std(stats, ddof=1))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], iters: int = 2000, seed: int = 1234) -> dict:
    """Mean of b - a over paired samples, its 95% percentile interval over `iters` resamples of the pairs
    (seeded: reruns agree) and a two-sided bootstrap p-value for "no difference"."""
    import numpy as np

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(d)
    if n == 0:
        return {"n": 0, "diff": math.nan, "lo": math.nan, "hi": math.nan, "p": math.nan}
    rng = np.random.default_rng(seed)
    means = np.concatenate([d[rng.integers(0, n, (min(200, iters - i), n))].mean(axis=1)
                            for i in range(0, iters, 200)])  # chunks: 200 x n indices at a time
    lo, hi = np.percentile(means, [2.5, 97.5])
    p = 1.0 if not d.any() else min(1.0, 2 * min(float((means <= 0).mean()), float((means >= 0).mean())))
    return {"n": n, "diff": float(d.mean()), "lo": float(lo), "hi": float(hi), "p": p}
