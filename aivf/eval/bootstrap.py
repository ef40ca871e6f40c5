"""Bootstrap confidence intervals resampled by cluster (patient / cohort), and paired differences.

Embryos of one patient share age, clinic and lab conditions, so they are not independent:
resampling whole patients gives honest intervals. A paired comparison resamples the same
patients for both methods and reads the interval of the difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def cluster_resamples(clusters: Sequence, n_boot: int, seed: int = 0) -> list[np.ndarray]:
    """Row indices of ``n_boot`` resamples, each drawing whole clusters with replacement.

    Args:
        clusters: (N,) cluster id per row.
        n_boot: number of resamples.
        seed: random seed.

    Returns:
        list of ``n_boot`` integer index arrays into the N rows (lengths vary with cluster sizes).
    """
    clusters = np.asarray(clusters)
    _, inverse = np.unique(clusters, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)] if len(clusters) else []
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_boot):
        drawn = rng.integers(0, len(members), len(members))
        out.append(np.concatenate([members[k] for k in drawn]) if len(members) else np.zeros(0, int))
    return out


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap samples, ignoring NaN resamples (e.g. no positive drawn)."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[~np.isnan(samples)]
    if len(samples) == 0:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    clusters: Sequence,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Point estimate and cluster-bootstrap CI of ``statistic(row_indices)``.

    Args:
        statistic: maps an index array into the N rows (with repeats) to a float.
        clusters: (N,) cluster id per row.
        n_boot: resamples; level: CI coverage; seed: random seed.

    Returns:
        ``{"value", "low", "high"}``.
    """
    n = len(clusters)
    value = float(statistic(np.arange(n)))
    samples = np.array([statistic(idx) for idx in cluster_resamples(clusters, n_boot, seed)])
    low, high = percentile_ci(samples, level)
    return {"value": value, "low": low, "high": high}


def paired_bootstrap(
    statistics: dict[str, Callable[[np.ndarray], float]],
    clusters: Sequence,
    baseline: str,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """CIs for several statistics AND for each one's difference to ``baseline``, on the same resamples.

    Returns:
        ``{name: {"value", "low", "high", "diff", "diff_low", "diff_high", "p_better"}}`` where the
        diff is ``name - baseline`` and ``p_better`` is the share of resamples with diff < 0 (a lower
        number is better for transfers per pregnancy; read it as 1 - p for "higher is better").
    """
    n = len(clusters)
    resamples = cluster_resamples(clusters, n_boot, seed)
    draws = {name: np.array([stat(idx) for idx in resamples]) for name, stat in statistics.items()}
    out = {}
    for name, stat in statistics.items():
        low, high = percentile_ci(draws[name], level)
        diff = draws[name] - draws[baseline]
        d_low, d_high = percentile_ci(diff, level)
        valid = diff[~np.isnan(diff)]
        out[name] = {
            "value": float(stat(np.arange(n))),
            "low": low,
            "high": high,
            "diff": float(stat(np.arange(n)) - statistics[baseline](np.arange(n))),
            "diff_low": d_low,
            "diff_high": d_high,
            "p_better": float(np.mean(valid < 0)) if len(valid) else math.nan,
        }
    return out
