"""``evaluate`` metric modules, one folder each, loadable offline by path.

    import evaluate
    from aivf.eval.modules import module_path
    auc = evaluate.load(module_path("within_cohort_auc"))
    auc.compute(references=y, prediction_scores=s, cohorts=patient_ids)

Each folder is what a Hub evaluate module is: one self-contained script (evaluate, datasets, numpy,
scipy; no aivf import, so the folder can be copied or pushed alone) and its ``README.md`` metric card.
The scripts are therefore copies of ``aivf.eval.metrics`` / ``transfers`` functions; tests/eval/test_modules.py
loads them in a process without aivf and checks they give aivf's and scikit-learn's values.
(These folders hold no ``__init__.py``: evaluate copies the single script into its module cache.)
"""

from __future__ import annotations

from pathlib import Path

MODULES: tuple[str, ...] = ("pooled_auc", "within_cohort_auc", "brier_score", "cross_entropy",
                            "expected_calibration_error", "top1_rate", "transfers_per_pregnancy")


def module_path(name: str) -> str:
    """Folder of one metric module, for ``evaluate.load``.

    Raises:
        KeyError: unknown name (the message lists the modules).
    """
    if name not in MODULES:
        raise KeyError(f"no aivf evaluate module {name!r}; choose one of {', '.join(MODULES)}")
    return str(Path(__file__).resolve().parent / name)
