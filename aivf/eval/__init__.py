"""Evaluation and ranking: clinical metrics, orderings, transfers per pregnancy, reports.

- ``metrics``: pooled / within-cohort AUC, ROC, cross-entropy, Brier, ECE + reliability curve,
  age bands, top-1 rates, subgroup tables (pure numpy);
- ``bootstrap``: CIs resampled by patient/cohort, paired differences;
- ``transfers``: transfers per pregnancy (one transfer per attempt until the first FHB), random
  order in expectation or by permutations, paired comparison of orderings;
- ``orderings``: morphology proxy, KIDScore-like logistic model on annotated event times;
- ``calibration``: temperature / isotonic per task, saved as ``calibration.json`` beside a checkpoint;
- ``attribution``: temporal occlusion over keyframes;
- ``analysis.analyze``: predictions + clinical (+ truth) -> every number of the report;
- ``report`` / ``rank_page``: self-contained HTML; ``evaluate_cli`` / ``rank_cli``: the commands;
- ``modules/<metric>/<metric>.py``: the same metrics as ``evaluate`` modules loadable by path.

The metric modules import nothing from the model; the CLIs import it lazily.
"""
