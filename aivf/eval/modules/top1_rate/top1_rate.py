"""Top-1 rate: share of cohorts whose highest-scored embryo has a positive outcome (hit or euploid)."""

import datasets
import evaluate

from aivf.eval.metrics import top1_rate

_DESCRIPTION = ("Share of cohorts whose first-ranked embryo (among known outcomes) is positive: the top-1 hit "
                "rate with FHB references, the top-1 euploid rate with euploidy references. Ties broken at random.")
_INPUTS = """
Args:
    references: 0/1 outcomes, NaN where unknown.
    prediction_scores: scores, higher = ranked first.
    cohorts: cohort (patient) id of each embryo.
    seed: tie-break seed (default 0).
Returns:
    top1_rate: float; n_cohorts: cohorts with a known outcome.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class Top1Rate(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_scores": datasets.Value("float64"),
                                        "cohorts": datasets.Value("string")}),
        )

    def _compute(self, references, prediction_scores, cohorts, seed=0):
        rate, n = top1_rate(references, prediction_scores, cohorts, seed)
        return {"top1_rate": rate, "n_cohorts": n}
