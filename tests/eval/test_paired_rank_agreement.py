"""The label-efficiency table's extra metrics: paired rank agreement with Bayes, and every-embryo ECE with a CI."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.eval.analysis import analyze, paired_rank_agreement
from aivf.eval.config import EvalConfig


def test_paired_rank_agreement_by_hand():
    bayes = np.array([0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.5, 0.5, 0.5])
    cohorts = np.array(["a"] * 3 + ["b"] * 3 + ["c"] * 3)  # c: Bayes constant, ranked by neither
    same = bayes.copy()  # Spearman 1 in a and b
    reverse = np.array([3.0, 2.0, 1.0, 1.0, 3.0, 2.0, 1.0, 2.0, 3.0])  # a: -1, b: rho of (1,3,2) vs (1,2,3) = 0.5
    out = paired_rank_agreement(same, reverse, bayes, cohorts, EvalConfig(n_bootstrap=200), seed=0)
    assert out["n_cohorts"] == 2 and out["diff"] == pytest.approx(((1 - -1) + (1 - 0.5)) / 2)
    assert 0.5 - 1e-9 <= out["diff_low"] <= out["diff"] <= out["diff_high"] <= 2.0 + 1e-9  # the two cohorts' diffs
    none = paired_rank_agreement(np.ones(9), reverse, bayes, cohorts, EvalConfig(n_bootstrap=10), seed=0)
    assert none == {"diff": None, "diff_low": None, "diff_high": None, "n_cohorts": 0}  # constant scores rank nothing


def test_metrics_json_carries_them(cohort):
    clinical, truth, preds = cohort
    result = analyze(preds, clinical, truth, EvalConfig(n_bootstrap=100), seed=0)
    o = result["transfers"]["orderings"]
    assert o["model"]["rank_agreement_vs_model"]["diff"] == 0.0
    bayes = o["bayes"]["rank_agreement_vs_model"]  # Bayes agrees with itself perfectly: above the noisy model
    assert bayes["diff"] == pytest.approx(1.0 - o["model"]["rank_agreement"]["value"], abs=0.05)
    assert 0 < bayes["diff_low"] <= bayes["diff"] <= bayes["diff_high"]
    for task, t in result["all_embryos"]["tasks"].items():
        assert t["ece_ci"]["value"] == pytest.approx(t["ece"]), task
        assert t["ece_ci"]["low"] <= t["ece"] <= t["ece_ci"]["high"], task
