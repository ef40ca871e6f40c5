"""Brier score: mean squared error of the predicted probability against the 0/1 outcome (known outcomes only).

Self-contained (numpy only), as a Hub evaluate module is: a copy of ``aivf.eval.metrics.brier`` kept
equal to it by aivf's tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Mean of (probability - outcome)^2 over embryos with a known outcome."
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_probs: probabilities in [0, 1].
Returns:
    brier: float (NaN without a known outcome).
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
        y, p = np.asarray(references, np.float64), np.asarray(prediction_probs, np.float64)
        keep = ~np.isnan(y)
        return {"brier": float(np.mean((p[keep] - y[keep]) ** 2)) if keep.any() else float("nan")}
