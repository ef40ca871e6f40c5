"""The day-5 gate read with the embryologist's recorded grades (aivf.eval.grade_gate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aivf.eval.calibration import Calibrator
from aivf.eval.grade_gate import FEATURES, apply_grade_gate, fit_grade_gate, grade_features, with_grades
from aivf.eval.scoring import add_probabilities, fit_calibrator


def graded_validation(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A validation table where a TE-C blastocyst is never usable, whatever the (grade-blind) gate logit says."""
    rng = np.random.default_rng(seed)
    te = rng.choice(["A", "B", "C", None], n, p=[0.3, 0.3, 0.25, 0.15])
    logit = rng.normal(0, 2, n)
    usable = (rng.random(n) < 1 / (1 + np.exp(-logit))) & (te != "C")
    return pd.DataFrame({"embryo_id": [f"P{i // 5}-{i % 5}" for i in range(n)], "patient_id": [f"P{i // 5}" for i in range(n)],
                         "logit_d5_fhb": rng.normal(0, 1, n), "label_d5_fhb": np.where(usable, rng.random(n) < 0.5, np.nan),
                         "logit_usable_d6": logit, "label_usable_d6": usable.astype(float),
                         "last_keyframe_hpi": 116.0, "te_d5": te, "icm_d5": rng.choice(["A", "B", "C"], n),
                         "expansion_d5": rng.integers(0, 7, n).astype(float)})


def test_features_one_hot_the_grades_and_leave_a_missing_grade_all_zero():
    table = pd.DataFrame({"icm_d5": ["A", None], "te_d5": ["C", "B"], "expansion_d5": [4.0, np.nan]})
    x = grade_features(table, np.array([30.0, -1.0]))
    named = dict(zip(FEATURES, x[0]))
    assert named["gate_logit"] == 15.0  # clipped
    assert named["icm_d5_A"] == named["te_d5_C"] == named["expansion_d5_4"] == 1.0
    assert x[0].sum() == 15.0 + 3 and x[1].sum() == -1.0 + 1  # row 2: only te_d5_B besides the logit


def test_a_recorded_te_c_lowers_the_gate_that_the_video_alone_cannot_lower():
    val = graded_validation()
    params = fit_grade_gate(val, val["logit_usable_d6"].to_numpy(), val["label_usable_d6"].to_numpy())
    same_logit = pd.DataFrame({"te_d5": ["A", "C"], "icm_d5": ["A", "A"], "expansion_d5": [4.0, 4.0]})
    p = apply_grade_gate(params, same_logit, np.array([2.0, 2.0]))
    assert p[0] > 0.7 and p[1] < 0.2
    assert fit_grade_gate(val.head(30), val["logit_usable_d6"].head(30).to_numpy(),
                          val["label_usable_d6"].head(30).to_numpy()) is None  # too few labels: plain gate kept
    with pytest.raises(ValueError, match="refit the calibration"):
        apply_grade_gate(dict(params, features=["gate_logit"]), same_logit, np.zeros(2))


def test_the_calibrator_saves_the_grade_gate_and_uses_it_only_for_day5_recordings_with_grades(tmp_path):
    val = graded_validation()
    cal = fit_calibrator(val, "platt")
    assert cal.grade_gate is not None and cal.grade_gate["n"] == len(val)
    cal.save(tmp_path)
    loaded = Calibrator.load(tmp_path)
    assert loaded.grade_gate == cal.grade_gate

    test = graded_validation(20, seed=1).drop(columns=["label_d5_fhb", "label_usable_d6"])
    test.loc[:1, "te_d5"], test.loc[:1, "logit_usable_d6"] = "C", 3.0
    test.loc[1, "last_keyframe_hpi"] = 66.7  # a day-3 transfer's recording: no day-5 grades to read
    with_g = add_probabilities(test.copy(), loaded)
    without = add_probabilities(test.drop(columns=["te_d5", "icm_d5", "expansion_d5"]), loaded)
    plain = loaded.transform_task("usable_d6", test["logit_usable_d6"].to_numpy())
    assert np.allclose(without["prob_usable_d6"], plain)
    assert with_g.loc[0, "prob_usable_d6"] < 0.3 < 0.7 < plain[0]
    assert with_g.loc[1, "prob_usable_d6"] == pytest.approx(plain[1])
    assert np.allclose(with_g["prob_d5_fhb"], with_g["prob_usable_d6"] * with_g["prob_d5_fhb_if_transferred"])


def test_with_grades_matches_on_embryo_id_and_keeps_the_row_order():
    pred = pd.DataFrame({"embryo_id": ["b", "a"], "logit_usable_d6": [0.0, 1.0]})
    table = pd.DataFrame({"embryo_id": ["a", "b", "c"], "te_d5": ["A", "C", "B"], "age": [30, 31, 32]})
    out = with_grades(pred, table)
    assert out["embryo_id"].tolist() == ["b", "a"] and out["te_d5"].tolist() == ["C", "A"] and "age" not in out
