"""Within-cohort AUC: AUC inside each patient's cohort, averaged weighted by positive x negative pairs."""

import datasets
import evaluate

from aivf.eval.metrics import within_cohort_auc

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
