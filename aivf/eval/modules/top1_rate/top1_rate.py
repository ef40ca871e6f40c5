"""Top-1 rate: share of cohorts whose highest-scored embryo has a positive outcome (hit or euploid).

Self-contained (numpy only), as a Hub evaluate module is: a copy of ``aivf.eval.metrics.top1_rate``
kept equal to it by aivf's tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np

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
        y, s, c = np.asarray(references, np.float64), np.asarray(prediction_scores, np.float64), np.asarray(cohorts)
        keep = ~np.isnan(y)
        y, s, c = y[keep], s[keep], c[keep]
        # the tie-break is drawn over the known rows, so a constant score is not credited with file order
        tiebreak = np.random.default_rng(seed).random(len(y))
        hits = []
        for cohort in np.unique(c):
            member = np.flatnonzero(c == cohort)
            hits.append(y[member[np.lexsort((-tiebreak[member], -s[member]))[0]]])
        return {"top1_rate": float(np.mean(hits)) if hits else float("nan"), "n_cohorts": len(hits)}
