"""Which clip each frame is predicted in: every frame is one keyframe of a clip laid out like training's.

The phase head names the phase of each of the K keyframes of a clip, and the model was trained on clips
whose keyframes lie on the run's hpi grid (``data.keyframes``: K points from ``start_hpi`` to
``cutoff_hpi``, about 7 h apart, nearest frame within ``tolerance_h``). Frame t belongs to its *slot*, the
grid point nearest its hpi (the first or last point for frames before or after the grid). Three layouts:

- ``swap`` (default): the recording's own training clip (the grid keyframes) with frame t put in its slot,
  at its true hpi. The other K-1 keyframes are exactly what the model was trained on; one clip per frame.
- ``shifted``: the whole grid shifted in time until its slot falls on t, the other keyframes the frames
  nearest the shifted grid. Frames that land on their own slot in an earlier frame's clip share it (their
  shift differs by less than half a frame interval), so a recording needs about T / K clips (plus the
  frames outside the grid): several times faster, but every keyframe is then off the training grid.
- ``packed``: K consecutive frames per clip, at their true hpi, no grid. Only right for a model whose phase
  call of a keyframe depends on that keyframe alone (``model.backbone: frames``, aivf/model/frame_encoder.py);
  T / K clips, the fastest. ``aivf annotate --layout auto`` picks it for such a model.

Measured on 20 validation embryos of the main job (``outputs/s0``, kfold/0/val, 2,464 labelled frames;
experiments/annotate_layout, docs/annotate.md): per-frame argmax accuracy 0.629 with ``swap``, 0.523 with ``shifted`` (the model reads
the grid's hpi values, which it saw in every training clip, as much as the pixels).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from aivf.data.keyframes import nearest_frames

Layout = Literal["swap", "shifted", "packed"]


@dataclass
class FrameWindows:
    """Clips that cover every frame of a recording.

    Attributes:
        indices: int64 (N, K) frame index of each keyframe of each clip, -1 where missing.
        hpi: float64 (N, K) hpi of each keyframe (the grid target where missing).
        mask: bool (N, K) False where a keyframe is missing.
        clip_of_frame: int64 (T,) the clip frame t is predicted in.
        slot_of_frame: int64 (T,) its keyframe position in that clip.
    """

    indices: np.ndarray
    hpi: np.ndarray
    mask: np.ndarray
    clip_of_frame: np.ndarray
    slot_of_frame: np.ndarray


def own_slot(times_hpi: np.ndarray, grid_hpi: np.ndarray) -> np.ndarray:
    """int64 (T,) the grid point nearest each frame's hpi (the end points beyond the grid)."""
    return nearest_frames(np.asarray(grid_hpi, dtype=np.float64), np.asarray(times_hpi, dtype=np.float64))


def _keyframes(times: np.ndarray, targets: np.ndarray, tolerance_h: float) -> tuple[np.ndarray, np.ndarray]:
    """(indices (K,), hpi (K,)) nearest to ``targets`` within the tolerance; missing: -1 and the target."""
    picked = nearest_frames(times, targets, tolerance_h)
    return picked, np.where(picked >= 0, times[np.clip(picked, 0, None)], targets)


def frame_windows(times_hpi: np.ndarray, grid_hpi: np.ndarray, tolerance_h: float,
                  layout: Layout = "swap") -> FrameWindows:
    """Clips in which every frame is one keyframe (layouts in the module docstring).

    Args:
        times_hpi: float (T,) ascending frame times.
        grid_hpi: float (K,) ascending training keyframe grid.
        tolerance_h: a keyframe farther than this from its grid point is missing (frame t itself never is).
        layout: ``swap`` (one clip per frame), ``shifted`` (shared clips) or ``packed`` (K frames per clip).
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    grid = np.asarray(grid_hpi, dtype=np.float64)
    if layout == "swap":
        return _swap(times, grid, tolerance_h)
    if layout == "shifted":
        return _shifted(times, grid, tolerance_h)
    if layout == "packed":
        return _packed(times, len(grid))
    raise ValueError(f"layout={layout!r}: expected 'swap', 'shifted' or 'packed'")


def _swap(times: np.ndarray, grid: np.ndarray, tolerance_h: float) -> FrameWindows:
    slots, frames = own_slot(times, grid), np.arange(len(times))
    base, base_hpi = _keyframes(times, grid, tolerance_h)
    indices = np.repeat(base[None], len(times), axis=0)
    hpi = np.repeat(base_hpi[None], len(times), axis=0)
    indices[frames, slots], hpi[frames, slots] = frames, times
    return FrameWindows(indices=indices, hpi=hpi, mask=indices >= 0, clip_of_frame=frames, slot_of_frame=slots)


def _shifted(times: np.ndarray, grid: np.ndarray, tolerance_h: float) -> FrameWindows:
    slots = own_slot(times, grid)
    clip_of = np.full(len(times), -1, dtype=np.int64)
    slot_of = np.full(len(times), -1, dtype=np.int64)
    clips, clip_hpi = [], []
    for t in range(len(times)):
        if clip_of[t] >= 0:
            continue
        picked, hpi = _keyframes(times, grid + (times[t] - grid[slots[t]]), tolerance_h)
        picked[slots[t]], hpi[slots[t]] = t, times[t]  # exactly this frame, whatever the tolerance
        number = len(clips)
        clips.append(picked)
        clip_hpi.append(hpi)
        for slot, u in enumerate(picked.tolist()):
            if u >= 0 and clip_of[u] < 0 and slots[u] == slot:
                clip_of[u], slot_of[u] = number, slot
    indices = np.asarray(clips, dtype=np.int64).reshape(-1, len(grid))
    return FrameWindows(indices=indices, hpi=np.asarray(clip_hpi, dtype=np.float64).reshape(-1, len(grid)),
                        mask=indices >= 0, clip_of_frame=clip_of, slot_of_frame=slot_of)


def _packed(times: np.ndarray, k: int) -> FrameWindows:
    frames = np.arange(len(times))
    clips = -(-len(times) // k)
    indices = np.full(clips * k, -1, dtype=np.int64)
    indices[frames] = frames
    hpi = np.full(clips * k, times[-1] if len(times) else 0.0)  # padding slots are masked out
    hpi[frames] = times
    return FrameWindows(indices=indices.reshape(clips, k), hpi=hpi.reshape(clips, k), mask=indices.reshape(clips, k) >= 0,
                        clip_of_frame=frames // k, slot_of_frame=frames % k)
