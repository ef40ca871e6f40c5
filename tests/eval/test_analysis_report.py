"""analyze() on a synthetic cohort: structure, orderings in the expected order, a self-contained report."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from aivf.eval.analysis import analyze, task_labels
from aivf.eval.config import EvalConfig
from aivf.eval.evaluate_cli import _clean
from aivf.eval.orderings import KIDScoreLike, event_times, is_blastocyst, morphology_score, stage_reached
from aivf.eval.rank_page import render_ranking
from aivf.eval.report import render_report


@pytest.fixture(scope="module")
def result(cohort):
    clinical, truth, preds = cohort
    return analyze(preds, clinical, truth, EvalConfig(n_bootstrap=100), seed=0)


def test_task_labels_from_pgt_and_euploid_column():
    import pandas as pd

    lab = task_labels(pd.DataFrame({"d3_fhb": [1, None, None], "d5_fhb": [None, 0, None],
                                    "pgt": ["mosaic", "euploid", None]}))
    assert lab["euploid"].tolist()[:2] == [0.0, 1.0] and math.isnan(lab["euploid"][2])
    assert lab["d3_fhb"][0] == 1 and math.isnan(lab["d5_fhb"][0])


def test_metrics_have_cis_and_model_beats_chance(result):
    for task, entry in result["tasks"].items():
        for name, m in entry["metrics"].items():
            assert m["low"] <= m["value"] <= m["high"], (task, name, m)
        assert entry["n"] > 0 and entry["by_clinic"] and entry["by_age"]
    d5 = result["tasks"]["d5_fhb"]
    assert d5["metrics"]["auc"]["low"] > 0.5
    assert d5["bayes"]["auc"] >= d5["metrics"]["auc"]["value"] - 0.05  # the noisy model is below the ceiling
    assert [r["group"] for r in d5["by_age"]] == sorted([r["group"] for r in d5["by_age"]],
                                                       key=["<35", "35-37", "38-40", ">40"].index)


def test_orderings_rank_as_theory_says(result):
    o = result["transfers"]["orderings"]
    assert set(o) == {"random", "morphology", "kidscore", "model", "bayes", "hindsight"}
    assert o["hindsight"]["value"] <= o["bayes"]["value"] <= o["random"]["value"]
    assert o["hindsight"]["transfers_among_pregnant"] == 1.0
    # every ordering is evaluated on the same cohorts and reaches the same pregnancies
    assert len({v["n_pregnant"] for v in o.values()}) == 1 and len({v["n_cohorts"] for v in o.values()}) == 1
    assert "fhb_potential" in result["transfers"]["outcome_source"]
    assert o["bayes"]["rank_agreement"]["value"] == pytest.approx(1.0)
    model = o["model"]["rank_agreement"]  # the noisy model orders cohorts like the truth, but not perfectly
    assert 0 < model["low"] <= model["value"] <= model["high"] < 1 and model["n_cohorts"] > 10
    auc = {name: o[name]["potential_auc"] for name in ("model", "bayes", "hindsight")}
    assert auc["hindsight"]["value"] == 1.0 and 0.5 < auc["model"]["low"] <= auc["model"]["value"] <= auc["bayes"]["value"]
    assert auc["model"]["n"] == result["transfers"]["n_transferable"]


def test_tasks_with_a_simulated_truth_are_also_judged_on_every_transferable_blastocyst(result):
    for task in ("d5_fhb", "euploid"):
        truth = result["tasks"][task]["simulated_truth"]
        assert truth["auc"]["n"] > result["tasks"][task]["n"]  # more embryos than the known outcomes
        assert 0.5 < truth["auc"]["value"] <= truth["bayes_auc"] + 0.05
        assert truth["rank_agreement"]["n_cohorts"] > 10
    assert "simulated_truth" not in result["tasks"]["d3_fhb"]  # no potential day-3 outcome in truth.csv


def test_morphology_and_kidscore_orderings(cohort):
    clinical, truth, _ = cohort
    stage = stage_reached(event_times(truth))
    score = morphology_score(truth)
    assert np.all(score[stage == stage.max()].min() > score[stage < stage.max() - 1].max())
    assert is_blastocyst(truth).sum() < len(truth)
    y = clinical["d5_fhb"].to_numpy(float)
    p = KIDScoreLike(noise_sd_h=2.0).fit(truth, y).score(truth)
    assert p.shape == (len(truth),) and np.all((p >= 0) & (p <= 1))
    with pytest.raises(ValueError, match="both outcomes"):
        KIDScoreLike().fit(truth, np.zeros(len(truth)))


def test_report_and_json_are_self_contained(result, tmp_path):
    text = json.dumps(_clean(result))
    assert "NaN" not in text
    strips = {"d5_fhb": [{"embryo_id": "C1P0000-1", "rank": 1, "prob": 0.7, "label": 1.0,
                          "frames": np.zeros((4, 16, 16), np.uint8), "hpi": np.arange(4.0) * 20,
                          "attribution": np.array([0.1, -0.2, 0.0, 0.3])}]}
    page = render_report(result, strips=strips)
    assert page.count("data:image/png;base64,") >= 3 * 2 + 1  # ROC + reliability per task, TPP
    assert page.count("data:image/jpeg;base64,") == 1  # the 4 keyframes as one JPEG strip
    assert page.count("class='attr'") == 4
    assert not re.search(r"(src|href)=['\"]https?://", page)  # nothing fetched from the network
    assert "mean nothing clinically" in page and "Transfers per pregnancy" in page


def test_ranking_page(cohort):
    clinical, _, preds = cohort
    ranked = preds.assign(patient_id=clinical["patient_id"], rank=1, source="test").head(5)
    page = render_ranking(ranked, {ranked["embryo_id"].iloc[0]: (np.zeros((2, 8, 8), np.uint8), np.array([10.0, 20]))},
                          {"checkpoint": "x", "input": "y", "calibration": "none", "speed": "fast", "skipped": ["bad: z"]})
    assert "mean nothing clinically" in page and page.count("<h2>") == ranked["patient_id"].nunique()


def test_every_embryo_block_sees_what_the_labelled_embryos_hide():
    """Two patients; the model gives an arrested embryo (no blastocyst, Bayes 0) the top probability."""
    from aivf.eval.analysis import all_embryo_analysis
    from aivf.eval.config import EvalConfig

    table = pd.DataFrame({
        "patient_id": ["a", "a", "a", "b", "b", "b"],
        "t_tSB": [100.0, np.nan, 105.0, 98.0, 110.0, np.nan],  # a-2 and b-3 never blastulate
        "fhb_potential": [1, 0, 0, 1, 0, 0], "ploidy": ["euploid", "aneuploid", "euploid", "euploid", "mosaic", None],
        "p_fhb_d5": [0.6, 0.0, 0.3, 0.7, 0.2, 0.01], "p_fhb_d3": [0.5, 0.1, 0.3, 0.6, 0.2, 0.05],
        "p_euploid_d5": [0.7, 0.2, 0.6, 0.8, 0.4, 0.3],
        "prob_d5_fhb": [0.5, 0.9, 0.2, 0.6, 0.3, 0.1], "prob_d3_fhb": [0.4, 0.2, 0.3, 0.5, 0.2, 0.1],
        "prob_euploid": [0.6, 0.3, 0.5, 0.7, 0.4, 0.2],
        "last_keyframe_hpi": [116.0, 66.0, 116.0, 116.0, 116.0, 116.0],  # a-2 left on day 3
    })
    cohorts = table["patient_id"].to_numpy()
    scores = {"model": table["prob_d5_fhb"].to_numpy(), "bayes": table["p_fhb_d5"].to_numpy()}
    out = all_embryo_analysis(table, scores, cohorts, EvalConfig(n_bootstrap=20, ece_bins=2), seed=0)
    assert out["n"] == 6 and out["n_transferable"] == 4
    assert out["orderings"]["model"]["top1_usable"] == 0.5  # patient a's first is the arrested a-2
    assert out["orderings"]["bayes"]["top1_usable"] == 1.0
    assert out["orderings"]["model"]["top1_usable_day5"] == 1.0 and out["n_day5_candidates"] == 5
    d5 = out["tasks"]["d5_fhb"]
    assert d5["n_excluded"] == 2 and d5["n_excluded_shown_high"] == 1  # a-2: Bayes 0.0, shown 0.9
    assert d5["mean_shown_non_transferable"] == pytest.approx(0.5)  # (0.9 + 0.1) / 2
    assert d5["mean_bayes_non_transferable"] == pytest.approx(0.005)
    # AUC on every embryo: positives a-1 (0.5), b-1 (0.6) vs 4 negatives (0.9, 0.2, 0.3, 0.1): 6 of 8 pairs
    assert d5["auc"]["value"] == pytest.approx(0.75) and d5["bayes_auc"] == pytest.approx(1.0)
    assert out["tasks"]["euploid"]["auc"]["n"] == 5  # the embryo without a ploidy is left out
