"""Transfers per pregnancy on tiny cohorts by hand, random-order expectation, bootstrap CIs and pairing."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.eval import bootstrap, transfers

# Three cohorts. A: outcomes by score order [0, 1, 0] -> 2 transfers, pregnant.
# B: [1, 0] -> 1 transfer, pregnant at first. C: [0, 0] -> 2 transfers, never pregnant.
COHORTS = np.array(["A", "A", "A", "B", "B", "C", "C"])
SCORES = np.array([0.9, 0.5, 0.1, 0.7, 0.6, 0.4, 0.3])
OUTCOME = np.array([0, 1, 0, 1, 0, 0, 0], float)


def test_three_tiny_cohorts_by_hand():
    r = transfers.simulate_transfers(COHORTS, SCORES, OUTCOME)
    assert r.transfers.tolist() == [2, 1, 2] and r.pregnant.tolist() == [1, 1, 0]
    s = transfers.summarize(r)
    assert s["transfers_per_pregnancy"] == pytest.approx(5 / 2)
    assert s["pregnant_first_transfer"] == pytest.approx(1 / 3)
    assert s["transfers_among_pregnant"] == pytest.approx(3 / 2)


def test_hindsight_is_lower_bound_and_transferable_mask():
    hind = transfers.summarize(transfers.simulate_transfers(COHORTS, OUTCOME, OUTCOME))
    assert hind["transfers_per_pregnancy"] == pytest.approx((1 + 1 + 2) / 2)
    # dropping A's first embryo from the transferable set: A needs 1 transfer
    mask = np.array([False, True, True, True, True, True, True])
    r = transfers.simulate_transfers(COHORTS, SCORES, OUTCOME, transferable=mask)
    assert r.transfers.tolist() == [1, 1, 2]


def test_random_expectation_by_hand_and_against_permutations():
    r = transfers.expected_random_transfers(COHORTS, OUTCOME)
    # A: n=3, m=1 -> (3+1)/2 = 2; B: n=2, m=1 -> 1.5; C: 2 (exhausted)
    assert r.transfers.tolist() == pytest.approx([2.0, 1.5, 2.0])
    assert r.first_hit.tolist() == pytest.approx([1 / 3, 1 / 2, 0])
    perm = transfers.permuted_random_transfers(COHORTS, OUTCOME, n_permutations=3000, seed=2)
    assert perm.transfers == pytest.approx(r.transfers, abs=0.05)


def test_cluster_bootstrap_resamples_whole_clusters():
    clusters = np.array([0, 0, 0, 1, 2, 2])
    for idx in bootstrap.cluster_resamples(clusters, 20, seed=0):
        counts = np.bincount(idx, minlength=6)
        assert counts[0] == counts[1] == counts[2] and counts[4] == counts[5]


def test_compare_orderings_paired_difference():
    rng = np.random.default_rng(0)
    cohorts = np.repeat(np.arange(150), 4)
    p = rng.random(600)
    outcome = (rng.random(600) < p).astype(float)
    results = {
        "random": transfers.expected_random_transfers(cohorts, outcome),
        "bayes": transfers.simulate_transfers(cohorts, p, outcome),
        "hindsight": transfers.simulate_transfers(cohorts, outcome, outcome),
    }
    table = transfers.compare_orderings(results, "random", n_boot=300)
    assert table["hindsight"]["value"] < table["bayes"]["value"] < table["random"]["value"]
    assert table["bayes"]["diff_high"] < 0 and table["bayes"]["p_better"] > 0.95
    assert table["random"]["diff"] == 0
    assert table["bayes"]["low"] <= table["bayes"]["value"] <= table["bayes"]["high"]


def test_bootstrap_ci_covers_the_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, 400)
    ci = bootstrap.bootstrap_ci(lambda idx: x[idx].mean(), np.arange(400), n_boot=300)
    assert ci["low"] < 1.0 < ci["high"] and ci["high"] - ci["low"] < 0.5
