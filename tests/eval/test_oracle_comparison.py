"""Model vs exact Bayes vs keyframe oracle (analysis.oracle_comparison) on a synthetic cohort, and its report section."""

from __future__ import annotations

import json

import pytest

from aivf.eval import metrics
from aivf.eval.analysis import analyze
from aivf.eval.config import EvalConfig
from aivf.eval.evaluate_cli import _clean
from aivf.eval.orderings import is_blastocyst
from aivf.eval.report import render_report
from tests.eval.synthetic import synthetic_cohort


def with_oracle(truth):
    """Oracle columns = the exact posterior read coarsely (fewer distinct levels without grades)."""
    out = truth.copy()
    for column in ("p_fhb_d3", "p_fhb_d5", "p_euploid_d5"):
        out[f"{column}_kf"] = (out[column] * 6).round() / 6
        out[f"{column}_kf_nograde"] = (out[column] * 2).round() / 2
    return out


@pytest.fixture(scope="module")
def cohort():
    clinical, truth, preds = synthetic_cohort(n_patients=120, seed=3)
    return clinical, with_oracle(truth), preds


@pytest.fixture(scope="module")
def result(cohort):
    clinical, truth, preds = cohort
    return analyze(preds, clinical, truth, EvalConfig(n_bootstrap=200), seed=0)


def test_three_way_comparison_on_the_same_embryos(result, cohort):
    clinical, truth, preds = cohort
    o = result["keyframe_oracle"]
    assert o["auc_margin"] == 0.03 and set(o["tasks"]) == {"d3_fhb", "d5_fhb", "euploid"}
    d5 = o["tasks"]["d5_fhb"]
    table = preds.merge(clinical, on="embryo_id").merge(truth, on="embryo_id")
    rows = is_blastocyst(table)
    y = table.fhb_potential.to_numpy()
    assert d5["transferable"]["n"] == rows.sum() and d5["all"]["n"] == len(table)
    for name, column in (("model", "prob_d5_fhb"), ("bayes", "p_fhb_d5"), ("oracle", "p_fhb_d5_kf")):
        auc = d5["transferable"]["auc"][name]
        assert auc["value"] == pytest.approx(metrics.roc_auc(y[rows], table[column].to_numpy()[rows]))
        assert auc["low"] <= auc["value"] <= auc["high"]
    diff = d5["transferable"]["model_minus_oracle"]
    a = d5["transferable"]["auc"]
    assert diff["diff"] == pytest.approx(a["model"]["value"] - a["oracle"]["value"])
    assert diff["diff_low"] <= diff["diff"] <= diff["diff_high"]
    assert d5["transferable"]["within_target"] == (diff["diff"] >= -0.03)
    # built to order: exact > oracle > oracle without grades, over all embryos
    a = d5["all"]["auc"]
    assert a["bayes"]["value"] > a["oracle"]["value"] > a["oracle_nograde"]["value"]
    r = d5["rank_agreement"]
    assert 0 < r["oracle_vs_bayes"]["value"] < 1
    assert r["model_vs_oracle"]["n_cohorts"] > 10 and r["model_vs_bayes"]["n_cohorts"] > 10  # tied cohorts drop out


def test_a_model_that_is_the_oracle_meets_the_target(cohort):
    clinical, truth, preds = cohort
    preds = preds.copy()
    preds["prob_d5_fhb"] = preds[["embryo_id"]].merge(truth, on="embryo_id")["p_fhb_d5_kf"].to_numpy()
    d5 = analyze(preds, clinical, truth, EvalConfig(n_bootstrap=50), seed=0)["keyframe_oracle"]["tasks"]["d5_fhb"]
    assert d5["transferable"]["model_minus_oracle"]["diff"] == pytest.approx(0.0)
    assert d5["transferable"]["within_target"]
    assert d5["rank_agreement"]["model_vs_oracle"]["value"] == pytest.approx(1.0)


def test_no_oracle_columns_no_block(cohort):
    clinical, truth, preds = cohort
    plain = truth[[c for c in truth.columns if not c.endswith(("_kf", "_kf_nograde"))]]
    assert "keyframe_oracle" not in analyze(preds, clinical, plain, EvalConfig(n_bootstrap=20), seed=0)


def test_report_shows_the_ceiling_and_the_compass_target(result):
    assert "NaN" not in json.dumps(_clean(result["keyframe_oracle"]))  # metrics.json stays valid JSON
    page = render_report(result)
    assert "Attainable ceiling: the keyframe oracle" in page
    assert "Compass target: within 0.03 AUC of the keyframe oracle" in page
    assert "rank agreement with the oracle" in page
