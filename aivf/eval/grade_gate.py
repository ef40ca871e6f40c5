"""The day-5 usable gate read together with the embryologist's recorded day-5 grades.

At 64 px the ICM and TE are 1.5-2.3 px across, so the model barely sees them (auxiliary AUC for ICM A/B
0.65, TE A/B 0.73 on a dev cohort), yet the clinic grades them on day 5, before any transfer, and
discards a CC blastocyst. Where the dataset or the ``--clinical`` table carries those grades, the gate
``P(usable blastocyst by day 6)`` is a logistic regression on the model's gate logit and the recorded
grades (one-hot; a missing grade is all zeros, as for an ungraded embryo on validation), fitted on every
validation embryo whose recording reaches day 5. Without grades the plain calibrated gate is shown.

Measured with ``aivf evaluate`` on the seed-1 dev cohort (every test embryo, against the simulator's
potential outcomes; docs/evaluation.md): ECE of P(FHB | day-5) 0.048 -> 0.031, embryos with Bayes < 0.05
shown above 0.5: 8 -> 6 of 325, potential-outcome AUC 0.884 -> 0.897, top-1 usable rate 0.947 -> 0.957.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

GRADE_COLUMNS = ("expansion_d5", "icm_d5", "te_d5")
FEATURES = ("gate_logit", *(f"{c}_{g}" for c in ("icm_d5", "te_d5") for g in "ABC"),
            *(f"expansion_d5_{k}" for k in range(1, 7)))
MIN_LABELS = 50  # below this (or with one class) the plain gate is kept
LOGIT_CLIP = 15.0  # a saturated gate logit must not dominate the fit


def has_grades(table: pd.DataFrame) -> bool:
    """True when ``table`` carries any recorded day-5 grade column."""
    return any(c in table for c in GRADE_COLUMNS)


def grade_features(table: pd.DataFrame, gate_logit: np.ndarray) -> np.ndarray:
    """(N, len(FEATURES)) design matrix: the clipped gate logit, then one-hot ICM, TE and expansion 1-6."""
    n = len(table)

    def column(name: str) -> pd.Series:
        return table[name].reset_index(drop=True) if name in table else pd.Series([None] * n)

    cols = [np.clip(np.asarray(gate_logit, np.float64), -LOGIT_CLIP, LOGIT_CLIP)]
    for name in ("icm_d5", "te_d5"):
        grade = column(name).astype(object)
        cols += [(grade == g).to_numpy(np.float64) for g in "ABC"]
    expansion = pd.to_numeric(column("expansion_d5"), errors="coerce")
    cols += [(expansion == k).to_numpy(np.float64) for k in range(1, 7)]
    return np.column_stack(cols)


def fit_grade_gate(table: pd.DataFrame, gate_logit: np.ndarray, labels: np.ndarray) -> dict | None:
    """Logistic regression of the recorded gate call on the gate logit and grades; None when it cannot be fitted.

    Args:
        table: validation rows (grade columns, any missing), aligned with ``gate_logit`` and ``labels``.
        gate_logit: (N,) the model's gate logit; labels: (N,) 0/1/NaN recorded call.
    """
    from sklearn.linear_model import LogisticRegression

    labels = np.asarray(labels, np.float64)
    known = ~np.isnan(labels) & np.isfinite(np.asarray(gate_logit, np.float64))
    if known.sum() < MIN_LABELS or len(np.unique(labels[known])) < 2:
        return None
    x = grade_features(table.reset_index(drop=True)[known], np.asarray(gate_logit)[known])
    fit = LogisticRegression(C=1.0, max_iter=1000).fit(x, labels[known])  # C: sklearn's default, not tuned
    return {"features": list(FEATURES), "coef": fit.coef_[0].tolist(), "intercept": float(fit.intercept_[0]),
            "n": int(known.sum())}


def apply_grade_gate(params: dict, table: pd.DataFrame, gate_logit: np.ndarray) -> np.ndarray:
    """(N,) P(usable) from a ``fit_grade_gate`` result."""
    if params["features"] != list(FEATURES):
        raise ValueError(f"grade gate fitted on features {params['features']}, this aivf builds {list(FEATURES)}: "
                         "refit the calibration with aivf evaluate")
    return expit(grade_features(table, gate_logit) @ np.asarray(params["coef"]) + params["intercept"])


def with_grades(pred: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """``pred`` with the grade columns ``table`` has (matched on embryo_id; row order of ``pred`` kept)."""
    present = [c for c in GRADE_COLUMNS if c in table and c not in pred]
    if not present:
        return pred
    grades = table[["embryo_id", *present]].drop_duplicates("embryo_id")
    return pred.merge(grades, on="embryo_id", how="left", validate="many_to_one")
