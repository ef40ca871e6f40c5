"""Pooled ROC AUC over known outcomes (NaN references are dropped, never counted as negatives)."""

import datasets
import evaluate

from aivf.eval.metrics import roc_auc

_DESCRIPTION = "Area under the ROC curve over all embryos with a known outcome (Mann-Whitney U, ties count 1/2)."
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_scores: scores, higher = more likely positive.
Returns:
    pooled_auc: float (NaN without both classes).
"""


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
