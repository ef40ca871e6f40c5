"""Event timing, arrest and visible traits given an embryo's hidden state (ploidy g, quality q, direct D).

Every function broadcasts over arrays, so the sampler (cohort.py) and the exact posterior (bayes.py)
use the very same numbers: the sampler with one state per embryo, the posterior with every state of
the (g, q, D) grid at once.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from aivf.sim import params as P

NUM_EVENTS = 16


def interval_lognormal(g: np.ndarray, q: np.ndarray, d: np.ndarray, ivf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-median and log-SD of the 16 intervals.

    Args:
        g: int ploidy index, any shape S (broadcast with the others).
        q: quality value, shape broadcastable to S.
        d: 1 if the embryo cleaves directly (1 -> 3 cells), else 0.
        ivf: 1 for conventional IVF, 0 for ICSI.

    Returns:
        ``(mu, sigma)``, each of shape (*S, 16): interval k ~ LogNormal(mu[..., k], sigma[..., k]).
    """
    g, q, d, ivf = np.broadcast_arrays(np.asarray(g), np.asarray(q, float), np.asarray(d), np.asarray(ivf))
    g, q, d, ivf = (a[..., None] for a in (g, q, d, ivf))
    ploidy_scale = np.where(g == 1, 1.0, np.where(g == 2, P.MOSAIC_SHIFT_FRACTION, 0.0))
    mu = np.log(P.INTERVAL_MEDIAN_H) + ploidy_scale * P.ANEUPLOID_SHIFT + P.Q_SPEED * q + ivf * P.IVF_SHIFT
    sigma = P.INTERVAL_LOG_SD * np.exp(P.Q_SYNC * q)
    # direct cleavage replaces the cc2 interval (index 4 = t3) by a short one and lengthens the
    # 3-cell stage (index 5 = t4) so that t4 stays near its usual time
    direct = d[..., 0] == 1
    mu[..., 4] = np.where(direct, np.log(P.DC_MEDIAN_H) + ploidy_scale[..., 0] * P.ANEUPLOID_SHIFT[4], mu[..., 4])
    sigma[..., 4] = np.where(direct, P.DC_LOG_SD, sigma[..., 4])
    mu[..., 5] = np.where(direct, np.log(P.DC_S2_MEDIAN_H) + ploidy_scale[..., 0] * P.ANEUPLOID_SHIFT[5], mu[..., 5])
    sigma[..., 5] = np.where(direct, P.DC_S2_LOG_SD, sigma[..., 5])
    return mu, sigma


def direct_cleavage_prob(g: np.ndarray, q: np.ndarray) -> np.ndarray:
    """P(D = 1 | g, q), same shape as the broadcast of g and q."""
    return expit(P.DC_LOGIT[np.asarray(g)] + P.DC_Q * np.asarray(q, float))


def arrest_prob(g: np.ndarray, q: np.ndarray) -> np.ndarray:
    """P(an embryo alive after event k-1 never reaches event k), shape (*S, 16)."""
    g, q = np.broadcast_arrays(np.asarray(g), np.asarray(q, float))
    base = np.log(P.ARREST_BASE / (1 - P.ARREST_BASE))
    return expit(base + P.ARREST_PLOIDY[g][..., None] + P.ARREST_Q * q[..., None])


def _ordered_probs(latent: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """Ordered-logit level probabilities: P(level >= j) = sigmoid(cuts[j-1] + latent); (*S, len(cuts)+1)."""
    upper = expit(cuts + latent[..., None])  # (*S, J-1), decreasing in j
    ones = np.ones(latent.shape + (1,))
    zeros = np.zeros(latent.shape + (1,))
    at_least = np.concatenate([ones, upper, zeros], axis=-1)
    return at_least[..., :-1] - at_least[..., 1:]


def fragmentation_probs(g: np.ndarray, q: np.ndarray) -> np.ndarray:
    """P(fragmentation level = 0..3 | g, q), shape (*S, 4)."""
    g, q = np.broadcast_arrays(np.asarray(g), np.asarray(q, float))
    return _ordered_probs(-P.FRAG_Q * q + P.FRAG_PLOIDY[g], P.FRAG_CUTS)


def grade_probs(g: np.ndarray, q: np.ndarray, which: str) -> np.ndarray:
    """P(ICM or TE grade = A, B, C | g, q), shape (*S, 3); ``which`` is "icm" or "te"."""
    g, q = np.broadcast_arrays(np.asarray(g), np.asarray(q, float))
    cuts = P.ICM_CUTS if which == "icm" else P.TE_CUTS
    return _ordered_probs(-P.GRADE_Q * q + P.GRADE_PLOIDY[g], cuts)


def sample_development(
    rng: np.random.Generator, g: np.ndarray, q: np.ndarray, d: np.ndarray, ivf: np.ndarray
) -> dict[str, np.ndarray]:
    """Sample event times, arrest and traits for N embryos with known hidden state.

    Args:
        rng: numpy generator.
        g, q, d, ivf: (N,) hidden ploidy index, quality value, direct-cleavage flag, IVF flag.

    Returns:
        dict with ``times`` (N, 16) hpi (NaN for events never reached), ``last`` (N,) index of the
        last event reached (-1 = none, 15 = hatched), ``t_arrest_visible`` (N,) hpi from which an
        arrested embryo visibly degenerates (NaN if it hatches or arrests after tB), ``frag`` (N,) level 0-3,
        ``icm``/``te`` (N,) grade index 0-2 (drawn for all; visible only once tB is reached).
    """
    n = len(g)
    mu, sigma = interval_lognormal(g, q, d, ivf)
    durations = np.exp(mu + sigma * rng.standard_normal((n, NUM_EVENTS)))
    arrests = rng.random((n, NUM_EVENTS)) < arrest_prob(g, q)
    reached = np.cumprod(~arrests, axis=1).astype(bool)
    times = np.where(reached, np.cumsum(durations, axis=1), np.nan)
    last = reached.sum(axis=1) - 1
    last_time = np.where(last >= 0, times[np.arange(n), np.maximum(last, 0)], 0.0)
    shows = (last < NUM_EVENTS - 1) & (last + 1 <= P.ARREST_VISIBLE_MAX_PENDING)
    t_visible = np.where(shows, last_time + P.ARREST_VISIBLE_DELAY_H, np.nan)

    def draw(probs: np.ndarray) -> np.ndarray:
        return (rng.random((n, 1)) > np.cumsum(probs, axis=1)).sum(axis=1)

    return {
        "times": times,
        "last": last,
        "t_arrest_visible": t_visible,
        "frag": draw(fragmentation_probs(g, q)),
        "icm": draw(grade_probs(g, q, "icm")),
        "te": draw(grade_probs(g, q, "te")),
    }
