"""The published per-frame phase protocol, made explicit: pure NumPy/scikit-learn, no model.

- **Unit of the split: the embryo, never the frame.** Frames of one embryo are near copies of each other, so
  a frame-level split puts the test embryo's neighbours in training. aivf's splits go further and keep the
  embryos of one couple together (patient_id = the video id before its last dash, formats.md section 1).
- **Frames scored:** every frame the annotation labels (frames outside every annotated range are left
  out, as in the dataset, where they are unlabelled).
- **Per-frame accuracy** and **macro-F1** (mean F1 over the phases present in the ground truth, so a
  phase the test set never shows does not count as 0), pooled over the test embryos' labelled frames.
- **+-1-stage accuracy:** the predicted phase is the annotated one or a neighbour in the phase order.
- **Event timing error (hours):** for each event (= first annotated frame of a phase), |predicted time -
  annotated time|, where the predicted time is the first frame the decoded sequence puts in that phase.
  An annotated event the prediction never reaches is counted as missed, not given an error.

Both the per-frame argmax and the monotone decoding (``aivf.annotate.decode.monotone_viterbi``) are scored.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def frame_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and +-1-stage accuracy over the labelled frames (``truth >= 0``), with their count."""
    truth, pred = np.asarray(truth), np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth {truth.shape} and prediction {pred.shape} differ in length")
    keep = truth >= 0
    t, p = truth[keep], pred[keep]
    if len(t) == 0:
        return {"frames": 0, "accuracy": float("nan"), "macro_f1": float("nan"), "within_one": float("nan")}
    return {"frames": int(len(t)), "accuracy": float(np.mean(t == p)),
            "macro_f1": float(f1_score(t, p, labels=np.unique(t), average="macro", zero_division=0)),
            "within_one": float(np.mean(np.abs(t - p) <= 1))}


def first_frames(phases: np.ndarray) -> dict[int, int]:
    """Phase -> index of its first frame (labelled frames only; -1 is no phase)."""
    phases = np.asarray(phases)
    return {int(p): int(np.flatnonzero(phases == p)[0]) for p in np.unique(phases) if p >= 0}


def event_errors(truth: np.ndarray, decoded: np.ndarray, hpi: np.ndarray) -> dict[int, float]:
    """Phase -> |predicted - annotated| event time in hours; NaN where the prediction never reaches the phase."""
    hpi = np.asarray(hpi, dtype=np.float64)
    predicted = first_frames(decoded)
    return {phase: (abs(hpi[predicted[phase]] - hpi[frame]) if phase in predicted else float("nan"))
            for phase, frame in first_frames(truth).items()}


def summarise_events(errors: list[dict[int, float]], names) -> list[dict]:
    """One row per event over all embryos: n annotated, n missed, median and mean absolute error (h)."""
    rows = []
    for phase, name in enumerate(names):
        values = np.array([e[phase] for e in errors if phase in e], dtype=np.float64)
        if len(values) == 0:
            continue
        found = values[~np.isnan(values)]
        rows.append({"event": name, "annotated": int(len(values)), "missed": int(np.isnan(values).sum()),
                     "median_abs_h": float(np.median(found)) if len(found) else float("nan"),
                     "mean_abs_h": float(np.mean(found)) if len(found) else float("nan")})
    return rows
