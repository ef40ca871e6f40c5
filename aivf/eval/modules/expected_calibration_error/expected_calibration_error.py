"""Expected calibration error with equal-mass bins, plus the reliability-curve points.

Self-contained (numpy only), as a Hub evaluate module is: a copy of
``aivf.eval.metrics.reliability_curve`` / ``expected_calibration_error`` kept equal to them by aivf's
tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np

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


def reliability_curve(labels, probs, n_bins: int = 10) -> dict:
    """Mean prediction, observed positive rate and count per equal-mass (quantile) bin of the known labels."""
    y, p = np.asarray(labels, np.float64), np.asarray(probs, np.float64)
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    if len(y) == 0:
        return {"mean_pred": np.zeros(0), "frac_pos": np.zeros(0), "count": np.zeros(0, dtype=int)}
    order = np.argsort(p, kind="stable")  # equal-mass bins stay populated when predictions crowd together
    bins = [b for b in np.array_split(order, min(n_bins, len(y))) if len(b)]
    return {"mean_pred": np.array([p[b].mean() for b in bins]), "frac_pos": np.array([y[b].mean() for b in bins]),
            "count": np.array([len(b) for b in bins])}


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
        total = curve["count"].sum()
        ece = float(np.sum(curve["count"] / total * np.abs(curve["frac_pos"] - curve["mean_pred"]))) if total else float("nan")
        return {"ece": ece, **{k: v.tolist() for k, v in curve.items()}}
