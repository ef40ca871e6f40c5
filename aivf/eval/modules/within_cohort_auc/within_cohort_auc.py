"""Within-cohort AUC: AUC inside each patient's cohort, averaged weighted by positive x negative pairs.

Self-contained (numpy and scipy only), as a Hub evaluate module is: a copy of
``aivf.eval.metrics.within_cohort_auc`` kept equal to it by aivf's tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np
from scipy.stats import rankdata

_DESCRIPTION = ("AUC inside each cohort with at least one known positive and one known negative, averaged "
                "over cohorts weighted by pos x neg pairs: the ranking question a clinic asks.")
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_scores: scores, higher = more likely positive.
    cohorts: cohort (patient) id of each embryo.
Returns:
    within_cohort_auc: float; n_cohorts: informative cohorts; n_pairs: positive-negative pairs.
"""


def within_cohort_auc(labels, scores, cohorts) -> tuple[float, int, int]:
    """(pair-weighted mean of the per-cohort AUCs or NaN, informative cohorts, pos-neg pairs)."""
    y, s, c = np.asarray(labels, np.float64), np.asarray(scores, np.float64), np.asarray(cohorts)
    keep = ~np.isnan(y)
    y, s, c = y[keep], s[keep], c[keep]
    concordant, pairs, n_cohorts = 0.0, 0, 0
    for cohort in np.unique(c):
        member = c == cohort
        yc, sc = y[member], s[member]
        n_pos = int((yc == 1).sum())
        n_neg = len(yc) - n_pos
        if n_pos and n_neg:
            ranks = rankdata(sc)
            # U statistic = the cohort's concordant pairs (ties 1/2); summing U over cohorts weights each AUC by its pairs
            concordant += ranks[yc == 1].sum() - n_pos * (n_pos + 1) / 2
            pairs += n_pos * n_neg
            n_cohorts += 1
    return (float(concordant / pairs) if pairs else float("nan")), n_cohorts, pairs


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class WithinCohortAuc(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_scores": datasets.Value("float64"),
                                        "cohorts": datasets.Value("string")}),
        )

    def _compute(self, references, prediction_scores, cohorts):
        auc, n_cohorts, n_pairs = within_cohort_auc(references, prediction_scores, cohorts)
        return {"within_cohort_auc": auc, "n_cohorts": n_cohorts, "n_pairs": n_pairs}
