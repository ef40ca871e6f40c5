"""From per-frame phase probabilities to a monotone annotation: pure NumPy, no model.

Development only moves forward through the phase order (tPB2, tPNa, ... tHB), so an annotation is a
non-decreasing sequence of phase indices. The per-frame argmax is not: a blurred frame or a turning
embryo makes it flicker back and forth. :func:`monotone_viterbi` finds the non-decreasing sequence with
the highest total log-probability (dynamic programming over the phase order, O(T * P)). Phases may be
skipped (t3 in a direct cleavage, late phases a recording never reaches) and the first frame may be in
any phase (a recording that starts late).
"""

from __future__ import annotations

import numpy as np


def monotone_viterbi(log_probs: np.ndarray, change_penalty: float = 0.0) -> np.ndarray:
    """The most likely non-decreasing phase sequence.

    Maximises ``sum_t log_probs[t, s_t] - change_penalty * #{t : s_t != s_(t-1)}`` over sequences with
    ``s_0 <= s_1 <= ... <= s_(T-1)``. Ties go to the lower (earlier) phase.

    Args:
        log_probs: float (T, P) per-frame log-probabilities (or any scores; higher is better).
        change_penalty: cost of each phase change (>= 0); 0 = the monotone constraint alone.

    Returns:
        int64 (T,) phase index per frame.
    """
    scores = np.asarray(log_probs, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] == 0:
        raise ValueError(f"log_probs must be (T, P) with P >= 1, got shape {scores.shape}")
    frames, phases = scores.shape
    if frames == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(scores) | (scores == -np.inf)):
        raise ValueError("log_probs holds NaN or +inf")
    # came_from[t, j]: the phase at t-1 of the best path that is in phase j at t.
    came_from = np.zeros((frames, phases), dtype=np.int64)
    best = scores[0].copy()
    for t in range(1, frames):
        # best path into j from any i <= j: running maximum of best[:j+1] (argmax = first maximum).
        prefix_arg = _running_argmax(best)
        prefix = best[prefix_arg]
        moved = prefix - change_penalty
        stay = best
        # staying wins ties: no change is the simpler explanation (and the cheaper one when penalised)
        from_stay = stay >= moved
        came_from[t] = np.where(from_stay, np.arange(phases), prefix_arg)
        best = np.where(from_stay, stay, moved) + scores[t]
    path = np.empty(frames, dtype=np.int64)
    path[-1] = int(np.argmax(best))
    for t in range(frames - 1, 0, -1):
        path[t - 1] = came_from[t, path[t]]
    return path


def _running_argmax(values: np.ndarray) -> np.ndarray:
    """int64 (P,): for each j, the index of the first maximum of ``values[:j+1]``."""
    arg = np.zeros(len(values), dtype=np.int64)
    for j in range(1, len(values)):
        arg[j] = j if values[j] > values[arg[j - 1]] else arg[j - 1]
    return arg


def phase_rows(path: np.ndarray, frame_numbers: np.ndarray, names: tuple[str, ...] | list[str]
               ) -> list[tuple[str, int, int]]:
    """Gomez ``_phases.csv`` rows ``(phase, first frame, last frame)``, inclusive, with no gaps.

    Each phase ends one frame number before the next begins, so the rows tile every number from the
    first frame to the last; a number without an image (a missing RUN of a Gomez video) belongs to the
    phase around it.

    Args:
        path: int (T,) non-decreasing phase index per frame (:func:`monotone_viterbi`).
        frame_numbers: int (T,) ascending frame numbers written to the file (RUN k, or frame index + 1).
        names: phase names, indexed by the values of ``path``.
    """
    path, numbers = np.asarray(path, dtype=np.int64), np.asarray(frame_numbers, dtype=np.int64)
    if path.shape != numbers.shape:
        raise ValueError(f"path {path.shape} and frame_numbers {numbers.shape} differ in length")
    if np.any(np.diff(path) < 0):
        raise ValueError("path is not monotone; decode it with monotone_viterbi first")
    if np.any(np.diff(numbers) <= 0):
        raise ValueError("frame_numbers must be strictly ascending")
    starts = np.flatnonzero(np.r_[True, np.diff(path) != 0]) if len(path) else np.zeros(0, dtype=np.int64)
    rows = []
    for i, start in enumerate(starts):
        end = numbers[starts[i + 1]] - 1 if i + 1 < len(starts) else numbers[-1]
        rows.append((names[int(path[start])], int(numbers[start]), int(end)))
    return rows


def event_frames(path: np.ndarray) -> dict[int, int]:
    """``phase index -> first frame (0-based) in that phase``: the frame at which each event is seen.

    Gomez phase tX starts at the event tX, so its first frame dates the event. Phases the path skips
    (or the recording never reaches) have no entry.
    """
    path = np.asarray(path, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(path) != 0]) if len(path) else []
    return {int(path[s]): int(s) for s in starts}
