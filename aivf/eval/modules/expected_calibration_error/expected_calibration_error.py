"""Expected calibration error with equal-mass bins, plus the reliability-curve points."""

import datasets
import evaluate

from aivf.eval.metrics import expected_calibration_error, reliability_curve

_DESCRIPTION = ("ECE: sum over equal-mass bins of (bin share) x |observed positive rate - mean prediction|, "
                "over embryos with a known outcome.")
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_probs: probabilities in [0, 1].
    n_bins: number of equal-mass bins (default 10).
Returns:
    ece: float; mean_pred, frac_pos, count: the reliability curve, one value per bin.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class ExpectedCalibrationError(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_probs": datasets.Value("float64")}),
        )

    def _compute(self, references, prediction_probs, n_bins=10):
        curve = reliability_curve(references, prediction_probs, n_bins)
        return {"ece": expected_calibration_error(references, prediction_probs, n_bins),
                **{k: v.tolist() for k, v in curve.items()}}
