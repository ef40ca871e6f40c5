"""Scores that order a cohort's embryos: the comparators a model must beat (and the bounds it cannot).

- ``morphology_score``: an embryologist-like proxy from what is visible on day 5 (stage reached,
  blastocyst timing, fragmentation and Gardner ICM/TE grades where the simulator writes them);
- ``KIDScoreLike``: a logistic model on *annotated* event times (truth + annotator noise, as
  human annotators disagree by 0.5-5.4 h SD) fitted on a training split, like KIDScore D5;
- the Bayes-optimal score (``truth.csv`` ``p_fhb_d5``) and perfect hindsight (the outcome itself).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aivf.sim.types import DAY5_CUTOFF_HPI, EVENTS

GRADE_POINTS = {"A": 2.0, "B": 1.0, "C": 0.0}
# Event times a KIDScore-D5-like model reads, plus two classic intervals (Meseguer 2011).
KID_EVENTS: tuple[str, ...] = ("t2", "t3", "t4", "t5", "t8", "tM", "tSB", "tB")


def event_times(table: pd.DataFrame, cutoff_hpi: float = DAY5_CUTOFF_HPI) -> pd.DataFrame:
    """Event times (hpi) per embryo from ``t_<event>`` columns; events after ``cutoff_hpi`` become NaN.

    Raises:
        KeyError: the table has no ``t_<event>`` column (say which table lacks them).
    """
    cols = {e: f"t_{e}" for e in EVENTS if f"t_{e}" in table.columns}
    if not cols:
        raise KeyError("no event-time columns t_<event> (e.g. t_t2, t_tB) in the table; pass truth.csv")
    times = pd.DataFrame({e: pd.to_numeric(table[c], errors="coerce") for e, c in cols.items()}, index=table.index)
    return times.where(times <= cutoff_hpi)


def annotate(times: pd.DataFrame, noise_sd_h: float, seed: int = 0) -> pd.DataFrame:
    """Simulated human annotation: Gaussian noise (SD ``noise_sd_h`` hours) on every observed event time."""
    rng = np.random.default_rng(seed)
    return times + rng.normal(0.0, noise_sd_h, size=times.shape) * times.notna().to_numpy()


def stage_reached(times: pd.DataFrame) -> np.ndarray:
    """Index into EVENTS of the last event observed (-1 when none): how far the embryo got."""
    reached = times.reindex(columns=list(EVENTS)).notna().to_numpy()
    last = np.where(reached.any(axis=1), len(EVENTS) - 1 - np.argmax(reached[:, ::-1], axis=1), -1)
    return last.astype(int)


def is_blastocyst(table: pd.DataFrame, cutoff_hpi: float = DAY5_CUTOFF_HPI) -> np.ndarray:
    """True when the embryo started blastulation (tSB) by the day-5 cutoff: clinics transfer only these."""
    times = event_times(table, cutoff_hpi)
    return times.get("tSB", pd.Series(np.nan, index=table.index)).notna().to_numpy()


def morphology_score(table: pd.DataFrame, cutoff_hpi: float = DAY5_CUTOFF_HPI) -> np.ndarray:
    """An embryologist's day-5 ranking from visible traits only (no fitting).

    Stage reached dominates (blastocysts before morulae before cleavage stages), then Gardner
    ICM/TE grade points and low fragmentation, then earlier full blastocyst formation. The
    weights are lexicographic-like rather than learned, as a grading scheme is.

    Args:
        table: rows with ``t_<event>`` columns and optionally ``icm_grade``, ``te_grade``, ``fragmentation``.

    Returns:
        (N,) float score, higher = transfer first.
    """
    times = event_times(table, cutoff_hpi)
    score = stage_reached(times) * 10.0
    for col in ("icm_grade", "te_grade"):
        if col in table.columns:
            score = score + table[col].map(GRADE_POINTS).fillna(0.0).to_numpy() * 2.0
    if "fragmentation" in table.columns:
        score = score - pd.to_numeric(table["fragmentation"], errors="coerce").fillna(0).to_numpy() * 10.0
    if "tB" in times:
        # Earlier blastocysts score higher; at most 1 point so it never outranks a grade step.
        score = score + (1.0 - (times["tB"].fillna(cutoff_hpi) - 90.0).clip(0, 30).to_numpy() / 30.0)
    return score.astype(np.float64)


def kid_features(times: pd.DataFrame, cutoff_hpi: float = DAY5_CUTOFF_HPI) -> np.ndarray:
    """(N, F) design matrix: each KID event time (cutoff when never reached) + a not-reached flag, cc2, s2."""
    times = times.reindex(columns=list(KID_EVENTS))
    filled = times.fillna(cutoff_hpi)
    cc2 = (filled["t3"] - filled["t2"]).to_numpy()  # second cell cycle
    s2 = (filled["t4"] - filled["t3"]).to_numpy()  # synchrony of the second cleavage
    return np.column_stack([filled.to_numpy(), times.isna().to_numpy().astype(float), cc2, s2])


class KIDScoreLike:
    """Logistic regression on annotated event times, as commercial morphokinetic scores are built."""

    def __init__(self, noise_sd_h: float = 2.0, cutoff_hpi: float = DAY5_CUTOFF_HPI, seed: int = 0):
        self.noise_sd_h, self.cutoff_hpi, self.seed = noise_sd_h, cutoff_hpi, seed
        self.model = None

    def _features(self, table: pd.DataFrame, seed: int) -> np.ndarray:
        return kid_features(annotate(event_times(table, self.cutoff_hpi), self.noise_sd_h, seed), self.cutoff_hpi)

    def fit(self, table: pd.DataFrame, labels: np.ndarray) -> KIDScoreLike:
        """Fit on rows with a known 0/1 label (NaN rows are ignored).

        Raises:
            ValueError: fewer than two classes among the known labels.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        labels = np.asarray(labels, dtype=np.float64)
        known = ~np.isnan(labels)
        if len(np.unique(labels[known])) < 2:
            raise ValueError("KIDScoreLike.fit: the training labels need both outcomes (0 and 1)")
        x = self._features(table, self.seed)[known]
        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
        self.model.fit(x, labels[known].astype(int))
        return self

    def score(self, table: pd.DataFrame) -> np.ndarray:
        """(N,) predicted probability; the annotation noise of scored rows is drawn with another seed."""
        if self.model is None:
            raise RuntimeError("KIDScoreLike.score called before fit")
        return self.model.predict_proba(self._features(table, self.seed + 1))[:, 1]
