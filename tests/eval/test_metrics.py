"""Metrics against hand-computed tiny cases and brute-force references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from aivf.eval import metrics


def brute_auc(y, s):
    pairs = [(p, n) for p, n in itertools.product(np.flatnonzero(y == 1), np.flatnonzero(y == 0))]
    return sum(1.0 if s[p] > s[n] else 0.5 if s[p] == s[n] else 0.0 for p, n in pairs) / len(pairs)


def test_auc_hand_case_with_ties_and_unknown_labels():
    y = np.array([1, 0, 1, 0, np.nan])
    s = np.array([0.9, 0.9, 0.3, 0.1, 0.0])
    # pairs (pos, neg): (0.9, 0.9) tie 0.5, (0.9, 0.1) 1, (0.3, 0.9) 0, (0.3, 0.1) 1 -> 2.5 / 4
    assert metrics.roc_auc(y, s) == pytest.approx(0.625)
    assert math.isnan(metrics.roc_auc(np.array([1.0, 1.0]), np.array([0.1, 0.2])))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pair_enumeration(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40).astype(float)
    s = rng.integers(0, 6, 40).astype(float)  # many ties
    assert metrics.roc_auc(y, s) == pytest.approx(brute_auc(y, s))


def test_roc_curve_area_equals_auc():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60).astype(float)
    s = rng.integers(0, 8, 60).astype(float)
    fpr, tpr = metrics.roc_curve(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.roc_auc(y, s))


@pytest.mark.parametrize("seed", range(3))
def test_roc_curve_and_auc_match_sklearn(seed):
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 80).astype(float)
    s = np.round(rng.random(80), 1)  # ties
    y_known = y.copy()
    y[:5] = np.nan  # unknown outcomes are dropped, as sklearn never sees them here
    fpr, tpr, _ = roc_curve(y_known[5:], s[5:], drop_intermediate=False)
    ours = metrics.roc_curve(y, s)
    np.testing.assert_allclose(ours[0], fpr)
    np.testing.assert_allclose(ours[1], tpr)
    assert metrics.roc_auc(y, s) == pytest.approx(roc_auc_score(y_known[5:], s[5:]))


def test_within_cohort_auc_by_hand():
    # cohort A: pos 0.8, negs 0.9, 0.1 -> AUC 0.5, 2 pairs; cohort B: pos 0.2, 0.6; neg 0.4 -> 0.5, 2 pairs
    # cohort C: only positives (uninformative); cohort D: pos 0.7 vs neg 0.3 -> 1.0, 1 pair
    y = np.array([1, 0, 0, 1, 1, 0, 1, 1, 1, 0, np.nan])
    s = np.array([0.8, 0.9, 0.1, 0.2, 0.6, 0.4, 0.5, 0.5, 0.7, 0.3, 0.99])
    c = ["A", "A", "A", "B", "B", "B", "C", "C", "D", "D", "D"]
    auc, n, pairs = metrics.within_cohort_auc(y, s, c)
    assert (n, pairs) == (3, 5)
    assert auc == pytest.approx((0.5 * 2 + 0.5 * 2 + 1.0 * 1) / 5)


def test_within_cohort_auc_equals_concordant_within_pairs():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 80).astype(float)
    s = rng.random(80)
    c = rng.integers(0, 12, 80)
    good = total = 0.0
    for i, j in itertools.permutations(range(80), 2):
        if c[i] == c[j] and y[i] == 1 and y[j] == 0:
            total += 1
            good += 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0
    assert metrics.within_cohort_auc(y, s, c)[0] == pytest.approx(good / total)


def test_within_cohort_rank_agreement_by_hand():
    # A: same order as the reference (+1); B: reversed (-1); C: 3 embryos, one swap -> Spearman 0.5;
    # D: two embryos only (too small); E: a constant score (no ranking) -> both left out.
    s = np.array([1, 2, 3, 3, 2, 1, 1, 3, 2, 5, 6, 4, 4, 4])
    r = np.array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 1, 2, 3])
    c = ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 2 + ["E"] * 3
    ids, values = metrics.within_cohort_rank_agreement(s, r, c)
    assert list(ids) == ["A", "B", "C"]
    assert values == pytest.approx([1.0, -1.0, 0.5])


def test_cross_entropy_and_brier_by_hand():
    y = np.array([1.0, 0.0, np.nan])
    p = np.array([0.8, 0.4, 0.5])
    assert metrics.cross_entropy(y, p) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)
    assert metrics.brier(y, p) == pytest.approx((0.04 + 0.16) / 2)


def test_ece_equal_mass_bins_by_hand():
    y = np.array([0, 1, 0, 1, 1, 1], float)
    p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    curve = metrics.reliability_curve(y, p, n_bins=2)
    assert curve["count"].tolist() == [3, 3]
    assert curve["mean_pred"] == pytest.approx([0.2, 0.7])
    assert curve["frac_pos"] == pytest.approx([1 / 3, 1.0])
    assert metrics.expected_calibration_error(y, p, 2) == pytest.approx(0.5 * (2 / 15) + 0.5 * 0.3)
    # perfectly calibrated in the limit: ECE small
    rng = np.random.default_rng(0)
    q = rng.random(20000)
    assert metrics.expected_calibration_error(rng.random(20000) < q, q, 10) < 0.02


def test_age_bands_use_completed_years():
    assert metrics.age_band(np.array([30, 34.9, 35, 37.99, 38, 40.9, 41, 45])).tolist() == [
        "<35", "<35", "35-37", "35-37", "38-40", "38-40", ">40", ">40"]


def test_top1_rate_by_hand_and_random_tie_break():
    y = np.array([1, 0, 0, 1, 0, np.nan])
    s = np.array([0.9, 0.1, 0.8, 0.2, 0.5, 1.0])
    c = ["A", "A", "B", "B", "C", "C"]  # C's only known embryo is negative
    assert metrics.top1_rate(y, s, c) == (pytest.approx(1 / 3), 3)
    # a constant score must not be credited with the first embryo in file order
    y2 = np.tile([1.0, 0.0], 500)
    rate, _ = metrics.top1_rate(y2, np.zeros(1000), np.repeat(np.arange(500), 2), seed=1)
    assert 0.4 < rate < 0.6


def test_subgroup_table_rows():
    y = np.array([1, 0, 1, 0], float)
    p = np.array([0.9, 0.1, 0.2, 0.8])
    rows = metrics.subgroup_table(y, p, ["C1", "C1", "C2", "C2"], ["a", "a", "b", "b"])
    assert [r["group"] for r in rows] == ["C1", "C2"]
    assert rows[0]["auc"] == 1.0 and rows[1]["auc"] == 0.0 and rows[0]["n"] == 2


def test_top1_usable_rate_by_hand():
    from aivf.eval.metrics import top1_usable_rate

    cohorts = np.array(["a", "a", "a", "b", "b", "c", "c"])
    usable = np.array([1, 0, 0, 0, 1, 0, 0], bool)  # c has no usable embryo: left out
    scores = np.array([0.2, 0.9, 0.1, 0.1, 0.3, 0.5, 0.4])  # a ranks an unusable first, b a usable
    assert top1_usable_rate(usable, scores, cohorts) == (0.5, 2)
    assert top1_usable_rate(usable, usable.astype(float), cohorts) == (1.0, 2)
