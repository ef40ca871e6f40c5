"""Which clip each frame is predicted in: every frame is a keyframe of a clip laid out like training's.

The phase head names the phase of each of the K keyframes of a clip, and the model was trained on clips
whose keyframes lie on the run's hpi grid (``data.keyframes``: K points from ``start_hpi`` to
``cutoff_hpi``, about 7 h apart). To predict frame t, the grid is shifted in time until one of its points
falls on t (the point nearest t, so the shift is at most half a grid step, except before the first and
after the last grid point, where the end point is moved onto t); the other K-1 keyframes are the frames
nearest to the shifted grid, within ``tolerance_h`` (else missing, as in training). The model thus sees
frame t at its real hpi, with neighbours at the spacing it was trained on.

Frames that land on their own grid point in an earlier frame's clip take their prediction from it: a
shift differs from theirs by less than half the frame interval, far below the tolerance. A 500-frame
recording then needs about T / K + (frames outside the grid) clips instead of T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aivf.data.keyframes import nearest_frames


@dataclass
class FrameWindows:
    """Clips that cover every frame of a recording.

    Attributes:
        indices: int64 (N, K) frame index of each keyframe of each clip, -1 where missing.
        hpi: float64 (N, K) hpi of each keyframe (the shifted grid target where missing).
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


def frame_windows(times_hpi: np.ndarray, grid_hpi: np.ndarray, tolerance_h: float) -> FrameWindows:
    """Clips (shifted copies of the keyframe grid) in which every frame is one keyframe.

    Args:
        times_hpi: float (T,) ascending frame times.
        grid_hpi: float (K,) ascending training keyframe grid.
        tolerance_h: a keyframe farther than this from its shifted grid point is missing.
    """
    times = np.asarray(times_hpi, dtype=np.float64)
    grid = np.asarray(grid_hpi, dtype=np.float64)
    slots = own_slot(times, grid)
    clip_of = np.full(len(times), -1, dtype=np.int64)
    slot_of = np.full(len(times), -1, dtype=np.int64)
    clips, clip_hpi = [], []
    for t in range(len(times)):
        if clip_of[t] >= 0:
            continue
        targets = grid + (times[t] - grid[slots[t]])
        picked = nearest_frames(times, targets, tolerance_h)
        picked[slots[t]] = t  # exactly this frame, whatever the tolerance
        number = len(clips)
        clips.append(picked)
        clip_hpi.append(np.where(picked >= 0, times[np.clip(picked, 0, None)], targets))
        for slot, u in enumerate(picked.tolist()):
            if u >= 0 and clip_of[u] < 0 and slots[u] == slot:
                clip_of[u], slot_of[u] = number, slot
    indices = np.asarray(clips, dtype=np.int64).reshape(-1, len(grid))
    return FrameWindows(indices=indices, hpi=np.asarray(clip_hpi, dtype=np.float64).reshape(-1, len(grid)),
                        mask=indices >= 0, clip_of_frame=clip_of, slot_of_frame=slot_of)
