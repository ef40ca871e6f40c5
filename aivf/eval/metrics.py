"""Discrimination, calibration and top-1 metrics: pure functions over numpy arrays.

Labels are floats with NaN where the outcome is unknown (a discarded embryo has no FHB label);
every function drops those rows first, because counting unknown outcomes as negatives inflates
AUC (../shared/docs/clinical-metrics.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

AGE_BANDS: tuple[str, ...] = ("<35", "35-37", "38-40", ">40")


def _known(labels: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    labels = np.asarray(labels, dtype=np.float64)
    keep = ~np.isnan(labels)
    return (labels[keep], *(np.asarray(o)[keep] for o in others))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count one half).

    Hand-written rather than ``sklearn.metrics.roc_auc_score`` on purpose: measured 20x faster inside
    the patient bootstraps (thousands of AUCs per report, issue 15), with the same value (tested).

    Args:
        labels: (N,) 0/1 with NaN for unknown outcomes (dropped).
        scores: (N,) higher = more likely positive.

    Returns:
        AUC in [0, 1], or NaN when fewer than one positive and one negative are known.
    """
    y, s = _known(labels, scores)
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(s.astype(np.float64))  # average ranks handle ties exactly as U does
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC points (false-positive rate, true-positive rate), from (0, 0) to (1, 1), one per distinct score.

    The project's one ROC curve (report and W&B figure); the same points as
    ``sklearn.metrics.roc_curve(..., drop_intermediate=False)`` without its leading infinite threshold.
    """
    y, s = _known(labels, scores)
    if len(y) == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last_of_tie = np.r_[np.diff(s) != 0, True]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(1 - y)[last_of_tie]
    tpr = np.r_[0.0, tp / max(tp[-1], 1)]
    fpr = np.r_[0.0, fp / max(fp[-1], 1)]
    return fpr, tpr


def within_cohort_auc(labels: np.ndarray, scores: np.ndarray, cohorts: Sequence) -> tuple[float, int, int]:
    """AUC inside each cohort with >=1 known positive and negative, averaged weighted by pos x neg pairs.

    This is the ranking question a clinic asks (which of this patient's embryos first), free of
    between-patient differences such as maternal age that inflate or deflate a pooled AUC.

    Args:
        labels: (N,) 0/1/NaN.
        scores: (N,).
        cohorts: (N,) cohort (patient) id of each embryo.

    Returns:
        (weighted AUC or NaN, number of informative cohorts, number of pos-neg pairs).
    """
    y, s, c = _known(labels, scores, np.asarray(cohorts))
    total, pairs, n_cohorts = 0.0, 0, 0
    for cohort in np.unique(c):
        member = c == cohort
        n_pos = int((y[member] == 1).sum())
        n_neg = int(member.sum()) - n_pos
        if n_pos and n_neg:
            # The weighted mean of per-cohort AUCs = share of concordant within-cohort pairs.
            total += roc_auc(y[member], s[member]) * n_pos * n_neg
            pairs += n_pos * n_neg
            n_cohorts += 1
    return (total / pairs if pairs else math.nan), n_cohorts, pairs


def within_cohort_rank_agreement(scores: np.ndarray, reference: np.ndarray, cohorts: Sequence,
                                 min_size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Spearman correlation of ``scores`` with ``reference`` inside each cohort of >= ``min_size`` embryos.

    With the simulator's Bayes posterior as the reference this asks the ranking question directly,
    on every transferable embryo rather than on the few with a known outcome: 1 = the cohort is
    ordered as the best possible score orders it, 0 = unrelated.

    Returns:
        (cohort ids, their correlations); cohorts where either score is constant are left out.
    """
    scores, reference, cohorts = np.asarray(scores, float), np.asarray(reference, float), np.asarray(cohorts)
    ids, values = [], []
    for cohort in np.unique(cohorts):
        member = cohorts == cohort
        a, b = scores[member], reference[member]
        if member.sum() >= min_size and np.ptp(a) > 0 and np.ptp(b) > 0:
            ids.append(cohort)
            values.append(float(np.corrcoef(rankdata(a), rankdata(b))[0, 1]))
    return np.asarray(ids), np.asarray(values, dtype=np.float64)


def cross_entropy(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy (nats) over known labels; probabilities are clipped to [eps, 1-eps]."""
    y, p = _known(labels, probs)
    if len(y) == 0:
        return math.nan
    p = np.clip(p.astype(np.float64), eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def brier(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean squared error of the probability against the 0/1 outcome, over known labels."""
    y, p = _known(labels, probs)
    return float(np.mean((p - y) ** 2)) if len(y) else math.nan


def reliability_curve(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Equal-mass bins of predicted probability: mean prediction, observed positive rate and count per bin.

    Equal-mass (quantile) bins keep every bin populated when predictions crowd into a narrow
    range, which fixed-width bins do not.

    Returns:
        dict with ``mean_pred``, ``frac_pos``, ``count`` (each (B,), B <= n_bins non-empty bins).
    """
    y, p = _known(labels, probs)
    if len(y) == 0:
        return {"mean_pred": np.zeros(0), "frac_pos": np.zeros(0), "count": np.zeros(0, dtype=int)}
    order = np.argsort(p, kind="stable")
    bins = [b for b in np.array_split(order, min(n_bins, len(y))) if len(b)]
    return {
        "mean_pred": np.array([p[b].mean() for b in bins]),
        "frac_pos": np.array([y[b].mean() for b in bins]),
        "count": np.array([len(b) for b in bins]),
    }


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> float:
    """ECE with equal-mass bins: sum over bins of (bin share) x |observed rate - mean prediction|."""
    curve = reliability_curve(labels, probs, n_bins)
    if curve["count"].sum() == 0:
        return math.nan
    weights = curve["count"] / curve["count"].sum()
    return float(np.sum(weights * np.abs(curve["frac_pos"] - curve["mean_pred"])))


def age_band(ages: np.ndarray) -> np.ndarray:
    """Maternal-age band of each age in completed years: <35, 35-37, 38-40, >40 (clinical convention)."""
    years = np.floor(np.asarray(ages, dtype=np.float64))
    index = np.searchsorted([35, 38, 41], years, side="right")
    return np.array(AGE_BANDS, dtype=object)[index]


def top1_rate(
    outcome: np.ndarray, scores: np.ndarray, cohorts: Sequence, seed: int = 0
) -> tuple[float, int]:
    """Share of cohorts whose highest-scored embryo (among known outcomes) is positive.

    Used both for the top-1 hit rate (outcome = FHB) and the top-1 euploid rate (outcome =
    euploid). Ties at the top are broken at random with ``seed`` so that a constant score is
    not credited with the first embryo in file order.

    Returns:
        (rate or NaN, number of cohorts with at least one known outcome).
    """
    y, s, c = _known(outcome, scores, np.asarray(cohorts))
    tiebreak = np.random.default_rng(seed).random(len(y))
    hits = []
    for cohort in np.unique(c):
        member = np.flatnonzero(c == cohort)
        best = member[np.lexsort((-tiebreak[member], -s[member]))[0]]
        hits.append(y[best])
    return (float(np.mean(hits)) if hits else math.nan), len(hits)


def top1_usable_rate(usable: np.ndarray, scores: np.ndarray, cohorts: Sequence, seed: int = 0) -> tuple[float, int]:
    """Share of cohorts with at least one usable embryo whose highest-scored embryo (of ALL its embryos) is usable.

    The Bayes posterior reaches ~1.0; a score that ranks an arrested embryo first in a cohort with a
    blastocyst fails that cohort. Ties at the top are broken at random with ``seed``.

    Returns:
        (rate or NaN, number of cohorts with a usable embryo).
    """
    usable, scores, cohorts = np.asarray(usable, bool), np.asarray(scores, np.float64), np.asarray(cohorts)
    with_usable = np.isin(cohorts, np.unique(cohorts[usable]))
    return top1_rate(usable[with_usable].astype(np.float64), scores[with_usable], cohorts[with_usable], seed)


def binary_summary(labels: np.ndarray, probs: np.ndarray, cohorts: Sequence, n_bins: int = 10) -> dict:
    """Every per-task number of the report for one set of predictions (no CIs)."""
    y, _ = _known(labels, probs)
    wc, n_wc, pairs = within_cohort_auc(labels, probs, cohorts)
    return {
        "n": len(y),
        "n_pos": int((y == 1).sum()),
        "auc": roc_auc(labels, probs),
        "within_cohort_auc": wc,
        "within_cohort_n": n_wc,
        "within_cohort_pairs": pairs,
        "cross_entropy": cross_entropy(labels, probs),
        "brier": brier(labels, probs),
        "ece": expected_calibration_error(labels, probs, n_bins),
    }


def subgroup_table(
    labels: np.ndarray, probs: np.ndarray, groups: Sequence, cohorts: Sequence, n_bins: int = 10
) -> list[dict]:
    """One ``binary_summary`` row per subgroup value (clinic, age band ...), sorted by group name."""
    groups = np.asarray(groups, dtype=object)
    cohorts = np.asarray(cohorts, dtype=object)
    rows = []
    for value in sorted(set(groups.tolist()), key=str):
        member = groups == value
        rows.append({"group": str(value), **binary_summary(labels[member], probs[member], cohorts[member], n_bins)})
    return rows
