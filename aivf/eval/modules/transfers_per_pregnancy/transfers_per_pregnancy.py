"""Transfers per pregnancy: transfer each cohort's embryos by decreasing score until the first positive outcome."""

import datasets
import evaluate
import numpy as np

from aivf.eval.transfers import simulate_transfers, summarize

_DESCRIPTION = ("Sum of transfers over all cohorts / number of cohorts reaching a pregnancy, when each cohort's "
                "transferable embryos are transferred one at a time by decreasing score until the first FHB. "
                "Needs every embryo's outcome had it been transferred (known exactly only in simulation).")
_INPUTS = """
Args:
    references: 0/1 outcome of each embryo had it been transferred (no NaN).
    prediction_scores: scores, higher = transferred earlier (ties broken at random with seed).
    cohorts: cohort (patient) id of each embryo.
    transferable: optional 0/1 per embryo (default all).
    seed: tie-break seed.
Returns:
    transfers_per_pregnancy, pregnant_first_transfer, transfers_among_pregnant, n_cohorts, n_pregnant.
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _INPUTS)
class TransfersPerPregnancy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_INPUTS,
            features=datasets.Features({"references": datasets.Value("float64"),
                                        "prediction_scores": datasets.Value("float64"),
                                        "cohorts": datasets.Value("string")}),
        )

    def _compute(self, references, prediction_scores, cohorts, transferable=None, seed=0):
        mask = None if transferable is None else np.asarray(transferable, bool)
        return summarize(simulate_transfers(cohorts, prediction_scores, references, mask, seed))
