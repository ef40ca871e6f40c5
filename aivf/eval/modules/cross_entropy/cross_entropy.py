"""Binary cross-entropy (nats) of predicted probabilities over known outcomes.

Self-contained (numpy only), as a Hub evaluate module is: a copy of ``aivf.eval.metrics.cross_entropy``
kept equal to it by aivf's tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Mean binary cross-entropy over embryos with a known outcome; probabilities clipped to [1e-7, 1-1e-7]."
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_probs: probabilities in [0, 1].
    eps: clipping of the probabilities (default 1e-7), so that a confident miss costs a finite amount.
Returns:
    cross_entropy: float (NaN without a known outcome).
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class CrossEntropy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_probs": datasets.Value("float64")}),
        )

    def _compute(self, references, prediction_probs, eps=1e-7):
        y, p = np.asarray(references, np.float64), np.asarray(prediction_probs, np.float64)
        keep = ~np.isnan(y)
        if not keep.any():
            return {"cross_entropy": float("nan")}
        y, p = y[keep], np.clip(p[keep], eps, 1 - eps)
        return {"cross_entropy": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))}
