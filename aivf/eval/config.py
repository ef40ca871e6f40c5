"""Settings of evaluation and ranking (``aivf evaluate``, ``aivf rank``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass
class EvalConfig:
    """How predictions are turned into clinical metrics, orderings and reports."""

    split: str = ""  # split ``aivf evaluate`` scores, "<scheme>/<fold>/<part>"; empty = "<train.split>/test"
    output: str = "eval"  # folder for metrics.json / report.html, relative to the run folder unless absolute
    batch_size: int = 8  # embryos per forward pass when scoring
    n_bootstrap: int = 1000  # bootstrap resamples (by patient/cohort) for every 95% CI
    ci_level: float = 0.95  # coverage of the bootstrap intervals
    ece_bins: int = 10  # equal-mass bins of the expected calibration error and reliability plot
    random_orderings: Literal["expectation", "permutations"] = "expectation"  # exact mean or seeded shuffles
    n_random_permutations: int = 200  # shuffles per cohort when random_orderings=permutations
    transferable: Literal["all", "blastocyst"] = "blastocyst"  # which embryos of a cohort may be transferred
    outcome: Literal["truth", "sampled"] = "truth"  # counterfactual FHB: truth.csv fhb_potential (0/1), or drawn from p_fhb_d5
    annotator_noise_sd_h: float = 2.0  # SD (h) of simulated annotator error on event times (literature 0.5-5.4)
    calibration: Literal["platt", "temperature", "isotonic"] = "platt"  # fitted on validation (platt = a*logit+b per task), saved beside the checkpoint
    calibration_split: str = ""  # split the calibration is fitted on; empty = the "val" part of ``split``'s fold
    attribution_embryos: int = 3  # highest- and lowest-ranked embryos shown with keyframe strips (each end)
    rank_by: Literal["d5_fhb", "d3_fhb", "euploid"] = "d5_fhb"  # task whose probability orders a cohort in aivf rank
    rank_thumbnails: int = 8  # keyframes shown per embryo on the ranked-cohort page
    thumbnail_size: int = 80  # keyframe thumbnail side on the ranked-cohort page, pixels
