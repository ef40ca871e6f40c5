"""Keyframe selection: pure functions from frame times (and cheap image statistics) to frame indices.

Three strategies (``KeyframeConfig.method``):

- ``grid``: a fixed hpi grid up to a cutoff, the same developmental moments for every embryo; each
  grid point takes the nearest frame within ``tolerance_h``, else it is marked missing.
- ``uniform``: K points evenly over the recorded span (up to the cutoff), nearest frame each.
- ``content``: the frames where the embryo changes most (divisions, compaction, blastulation),
  scored by a cheap per-frame statistic (:func:`frame_change`), with at least one keyframe in each
  of ``coverage_bins`` equal-time bins so a quiet period is never left unseen.

The chosen hpi travel with the indices (``Keyframes.hpi``) so the model knows *when* each frame is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aivf.data.config import KeyframeConfig


@dataclass
class Keyframes:
    """K selected frames of one recording.

    Attributes:
        indices: int64 (K,), frame indices into the recording, ascending; -1 where missing.
        hpi: float64 (K,), hpi of each chosen frame; where missing, the grid target (grid) or the
            last valid hpi (other methods), so the value stays finite for time embeddings.
        mask: bool (K,), False where no frame could be chosen.
    """

    indices: np.ndarray
    hpi: np.ndarray
    mask: np.ndarray

    @property
    def valid_indices(self) -> np.ndarray:
        """int64 (N,), the indices where ``mask`` is True."""
        return self.indices[self.mask]


def grid_targets(cfg: KeyframeConfig) -> np.ndarray:
    """float64 (K,), the hpi grid: ``cfg.grid_hpi`` or linspace(start_hpi, cutoff_hpi, K)."""
    if cfg.grid_hpi:
        if len(cfg.grid_hpi) != cfg.num_keyframes:
            raise ValueError(
                f"keyframes.grid_hpi has {len(cfg.grid_hpi)} values but keyframes.num_keyframes is "
                f"{cfg.num_keyframes}: give exactly K grid points or leave grid_hpi empty"
            )
        return np.asarray(cfg.grid_hpi, dtype=np.float64)
    if cfg.start_hpi > cfg.cutoff_hpi:
        raise ValueError(f"keyframes.start_hpi ({cfg.start_hpi}) is after keyframes.cutoff_hpi ({cfg.cutoff_hpi})")
    return np.linspace(cfg.start_hpi, cfg.cutoff_hpi, cfg.num_keyframes)


def nearest_frames(times_hpi: np.ndarray, targets: np.ndarray, tolerance_h: float = math.inf) -> np.ndarray:
    """Index of the frame nearest to each target hpi, -1 where none lies within ``tolerance_h``.

    Args:
        times_hpi: float (T,), ascending frame times.
        targets: float (K,), wanted hpi.
        tolerance_h: largest allowed |time - target| in hours (ties go to the earlier frame).

    Returns:
        int64 (K,) indices into ``times_hpi``.
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if times.size == 0:
        return np.full(targets.shape, -1, dtype=np.int64)
    right = np.clip(np.searchsorted(times, targets), 1, times.size - 1) if times.size > 1 else np.zeros(
        targets.shape, dtype=np.int64
    )
    left = np.maximum(right - 1, 0)
    pick = np.where(np.abs(times[left] - targets) <= np.abs(times[right] - targets), left, right)
    ok = np.abs(times[pick] - targets) <= tolerance_h
    return np.where(ok, pick, -1).astype(np.int64)


def _finish(indices: np.ndarray, times: np.ndarray, fill_hpi: np.ndarray) -> Keyframes:
    mask = indices >= 0
    hpi = np.where(mask, times[np.clip(indices, 0, None)] if times.size else 0.0, fill_hpi)
    return Keyframes(indices=indices.astype(np.int64), hpi=hpi.astype(np.float64), mask=mask)


def select_grid(times_hpi: np.ndarray, cfg: KeyframeConfig) -> Keyframes:
    """(a) The fixed hpi grid: nearest frame within ``cfg.tolerance_h`` of each grid point, else missing.

    Frames after ``cfg.cutoff_hpi`` are never chosen (a day-3 model must not see day-4 frames).
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    targets = grid_targets(cfg)
    eligible = int(np.searchsorted(times, cfg.cutoff_hpi, side="right"))
    indices = nearest_frames(times[:eligible], targets, cfg.tolerance_h)
    return _finish(indices, times, targets)


def _eligible_count(times: np.ndarray, cfg: KeyframeConfig) -> int:
    return int(np.searchsorted(times, cfg.cutoff_hpi, side="right"))


def _pad(chosen: np.ndarray, times: np.ndarray, k: int) -> Keyframes:
    """Sort ``chosen`` and pad to K with missing entries (when the recording has fewer than K frames)."""
    chosen = np.sort(chosen.astype(np.int64))
    indices = np.concatenate([chosen, np.full(k - chosen.size, -1, dtype=np.int64)])
    last = times[chosen[-1]] if chosen.size else 0.0
    return _finish(indices, times, np.full(k, last))


def select_uniform(times_hpi: np.ndarray, cfg: KeyframeConfig) -> Keyframes:
    """(b) K points evenly spaced in time from the first frame to the last frame before the cutoff.

    With fewer than K eligible frames every eligible frame is taken once and the rest is missing.
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    k, n = cfg.num_keyframes, _eligible_count(times, cfg)
    if n <= k:
        return _pad(np.arange(n), times, k)
    targets = np.linspace(times[0], times[n - 1], k)
    indices = nearest_frames(times[:n], targets)
    # Irregular spacing can map two targets to one frame; keep K distinct frames by filling the gaps.
    if np.unique(indices).size < k:
        indices = _make_distinct(indices, n)
    return _pad(indices, times, k)


def _make_distinct(indices: np.ndarray, n: int) -> np.ndarray:
    """Shift repeated indices to the nearest unused frame, keeping order; requires len(indices) <= n."""
    used: set[int] = set()
    out = []
    for index in indices.tolist():
        cand = next(c for off in range(n) for c in (index + off, index - off) if 0 <= c < n and c not in used)
        used.add(cand)
        out.append(cand)
    return np.asarray(out, dtype=np.int64)


def frame_change(frames: np.ndarray) -> np.ndarray:
    """The cheap content statistic: mean absolute difference to the previous frame.

    Args:
        frames: uint8 or float (T, P, H, W) or (T, H, W), ideally downsampled (e.g. 32x32).

    Returns:
        float64 (T,), 0 for the first frame. Large at divisions, compaction and blastulation.
    """
    x = np.asarray(frames, dtype=np.float32).reshape(len(frames), -1)
    change = np.zeros(len(x), dtype=np.float64)
    if len(x) > 1:
        change[1:] = np.abs(np.diff(x, axis=0)).mean(axis=1)
    return change


def select_content(times_hpi: np.ndarray, stats: np.ndarray, cfg: KeyframeConfig) -> Keyframes:
    """(c) The frames with the highest change statistic, with guaranteed temporal coverage.

    The eligible span (first frame to the cutoff) is cut into ``cfg.coverage_bins`` equal-time bins
    (default ceil(K/2)); each bin holding a frame contributes its highest-scoring frame first, then
    the remaining slots go to the highest scores overall, never two frames closer than a quarter of
    the mean keyframe spacing (one division spans a few frames; it should not take several slots).

    Args:
        times_hpi: float (T,), ascending.
        stats: float (T,), per-frame change score (see :func:`frame_change`).
        cfg: ``num_keyframes``, ``cutoff_hpi``, ``coverage_bins``.
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    stats = np.asarray(stats, dtype=np.float64)
    if stats.shape != times.shape:
        raise ValueError(f"content keyframes: stats has shape {stats.shape} but times_hpi has {times.shape}")
    k, n = cfg.num_keyframes, _eligible_count(times, cfg)
    if n <= k:
        return _pad(np.arange(n), times, k)
    t, score = times[:n], np.nan_to_num(stats[:n], nan=0.0)
    bins = min(cfg.coverage_bins or math.ceil(k / 2), k)
    edges = np.linspace(t[0], t[-1], bins + 1)
    which_bin = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins - 1)
    chosen: list[int] = []
    for b in range(bins):
        members = np.flatnonzero(which_bin == b)
        if members.size:
            chosen.append(int(members[np.argmax(score[members])]))
    min_gap = 0.25 * (t[-1] - t[0]) / k
    order = np.argsort(-score, kind="stable")
    for gap in (min_gap, 0.0):  # relax the spacing only if it leaves slots unfilled
        for index in order:
            if len(chosen) >= k:
                break
            if index in chosen or np.any(np.abs(t[chosen] - t[index]) < gap):
                continue
            chosen.append(int(index))
    return _pad(np.asarray(chosen), times, k)


def select_keyframes(times_hpi: np.ndarray, cfg: KeyframeConfig, stats: np.ndarray | None = None) -> Keyframes:
    """Choose K keyframes by ``cfg.method``.

    Args:
        times_hpi: float (T,), ascending frame times of the recording (``Recording.times_hpi``).
        cfg: the keyframe settings.
        stats: float (T,), per-frame change score; required for ``method="content"``
            (``frame_change`` of frames read at ``cfg.stats_size``, see ``Recording.change_stats``).

    Returns:
        Keyframes with indices (K,) ascending, -1 and mask False where missing.
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"times_hpi must be 1-D (T,), got shape {times.shape}")
    if times.size > 1 and np.any(np.diff(times) < 0):
        raise ValueError("times_hpi must be ascending; sort the recording's frames by time first")
    if cfg.num_keyframes < 1:
        raise ValueError(f"keyframes.num_keyframes must be >= 1, got {cfg.num_keyframes}")
    if cfg.method == "grid":
        return select_grid(times, cfg)
    if cfg.method == "uniform":
        return select_uniform(times, cfg)
    if cfg.method == "content":
        if stats is None:
            raise ValueError("keyframes.method=content needs per-frame stats (Recording.change_stats())")
        return select_content(times, stats, cfg)
    raise ValueError(f"keyframes.method must be grid, uniform or content, got {cfg.method!r}")
