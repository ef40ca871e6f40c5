"""Brier score: mean squared error of the predicted probability against the 0/1 outcome (known outcomes only)."""

import datasets
import evaluate

from aivf.eval.metrics import brier

_DESCRIPTION = "Mean of (probability - outcome)^2 over embryos with a known outcome."
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_probs: probabilities in [0, 1].
Returns:
    brier: float.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class BrierScore(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_probs": datasets.Value("float64")}),
        )

    def _compute(self, references, prediction_probs):
        return {"brier": brier(references, prediction_probs)}
