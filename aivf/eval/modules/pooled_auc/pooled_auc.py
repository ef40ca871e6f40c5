"""Pooled ROC AUC over known outcomes (NaN references are dropped, never counted as negatives).

Self-contained (numpy and scipy only), as a Hub evaluate module is: a copy of ``aivf.eval.metrics.roc_auc``
kept equal to it by aivf's tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np
from scipy.stats import rankdata

_DESCRIPTION = "Area under the ROC curve over all embryos with a known outcome (Mann-Whitney U, ties count 1/2)."
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_scores: scores, higher = more likely positive.
Returns:
    pooled_auc: float (NaN without both classes).
"""


def roc_auc(labels, scores) -> float:
    """Mann-Whitney U / (positives x negatives) over the known labels; ties count one half."""
    y, s = np.asarray(labels, np.float64), np.asarray(scores, np.float64)
    keep = ~np.isnan(y)
    y, s = y[keep], s[keep]
    n_pos = int((y == 1).sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)  # average ranks handle ties exactly as U does
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class PooledAuc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_scores": datasets.Value("float64")}),
        )

    def _compute(self, references, prediction_scores):
        return {"pooled_auc": roc_auc(references, prediction_scores)}
