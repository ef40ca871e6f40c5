"""Transfers per pregnancy: transfer each cohort's embryos by decreasing score until the first positive outcome.

Self-contained (numpy only), as a Hub evaluate module is: a copy of ``aivf.eval.transfers``'
``simulate_transfers`` + ``summarize`` kept equal to them by aivf's tests/eval/test_modules.py.
"""

import datasets
import evaluate
import numpy as np

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


def transfers_per_pregnancy(outcome, scores, cohorts, transferable=None, seed: int = 0) -> dict:
    """Each cohort's transferable embryos in decreasing score until the first 1; totals over cohorts."""
    cohorts, scores, outcome = np.asarray(cohorts), np.asarray(scores, np.float64), np.asarray(outcome, np.float64)
    if np.isnan(outcome).any():
        raise ValueError("transfers_per_pregnancy: references has NaN; every embryo needs an outcome had it "
                         "been transferred")
    keep = np.ones(len(cohorts), bool) if transferable is None else np.asarray(transferable, bool)
    tiebreak = np.random.default_rng(seed).random(len(cohorts))
    ids = np.unique(cohorts)
    transfers, pregnant, first = (np.zeros(len(ids)) for _ in range(3))
    for k, cohort in enumerate(ids):
        member = np.flatnonzero((cohorts == cohort) & keep)
        ordered = outcome[member[np.lexsort((tiebreak[member], -scores[member]))]]
        hits = np.flatnonzero(ordered == 1)
        transfers[k] = hits[0] + 1 if len(hits) else len(ordered)  # no pregnancy: every transferable embryo used
        pregnant[k] = float(len(hits) > 0)
        first[k] = float(len(ordered) > 0 and ordered[0] == 1)
    n_preg = float(pregnant.sum())
    return {
        "transfers_per_pregnancy": float(transfers.sum() / n_preg) if n_preg else float("nan"),
        "pregnant_first_transfer": float(first.mean()) if len(ids) else float("nan"),
        "transfers_among_pregnant": float((transfers * pregnant).sum() / n_preg) if n_preg else float("nan"),
        "n_cohorts": int(len(ids)),
        "n_pregnant": n_preg,
    }


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
        return transfers_per_pregnancy(references, prediction_scores, cohorts, transferable, seed)
