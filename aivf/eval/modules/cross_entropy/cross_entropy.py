"""Binary cross-entropy (nats) of predicted probabilities over known outcomes."""

import datasets
import evaluate

from aivf.eval.metrics import cross_entropy

_DESCRIPTION = "Mean binary cross-entropy over embryos with a known outcome; probabilities clipped to [1e-7, 1-1e-7]."
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_probs: probabilities in [0, 1].
Returns:
    cross_entropy: float.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class CrossEntropy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_probs": datasets.Value("float64")}),
        )

    def _compute(self, references, prediction_probs):
        return {"cross_entropy": cross_entropy(references, prediction_probs)}
