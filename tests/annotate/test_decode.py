"""The monotone decoder, the Gomez rows and the per-frame clips: hand-computed tiny cases + brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from aivf.annotate.decode import event_frames, monotone_viterbi, phase_rows
from aivf.annotate.windows import frame_windows


def brute_force(scores: np.ndarray, penalty: float) -> float:
    """Best total score over every non-decreasing sequence (exponential; tiny inputs only)."""
    frames, phases = scores.shape
    best = -np.inf
    for path in itertools.combinations_with_replacement(range(phases), frames):  # sorted tuples = monotone paths
        changes = sum(a != b for a, b in zip(path, path[1:]))
        best = max(best, scores[np.arange(frames), path].sum() - penalty * changes)
    return best


def test_viterbi_hand_computed():
    # Per-frame argmax is 0, 2, 1, 1: not monotone. Totals of some monotone paths:
    #   0,1,1,1: -0.1 -1.0 -0.2 -0.3 = -1.6   <- best without a change cost
    #   1,1,1,1: -3.0 -1.0 -0.2 -0.3 = -4.5
    #   0,2,2,2: -0.1 -0.5 -2.0 -2.0 = -4.6
    #   0,0,0,0: -0.1 -3.0 -3.0 -3.0 = -9.1
    scores = np.array([[-0.1, -3.0, -3.0], [-3.0, -1.0, -0.5], [-3.0, -0.2, -2.0], [-3.0, -0.3, -2.0]])
    assert monotone_viterbi(scores).tolist() == [0, 1, 1, 1]
    # one change at 2.5 nats: 0,1,1,1 = -4.1 still beats 1,1,1,1 = -4.5
    assert monotone_viterbi(scores, change_penalty=2.5).tolist() == [0, 1, 1, 1]
    # at 3 nats: -4.6 < -4.5, so no change at all
    assert monotone_viterbi(scores, change_penalty=3.0).tolist() == [1, 1, 1, 1]


def test_viterbi_skips_phases_and_starts_late():
    scores = np.full((3, 5), -5.0)
    scores[0, 2], scores[1, 2], scores[2, 4] = 0.0, 0.0, 0.0
    assert monotone_viterbi(scores).tolist() == [2, 2, 4]


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = np.log(rng.dirichlet(np.ones(4), size=6))
    penalty = float(rng.choice([0.0, 0.7]))
    path = monotone_viterbi(scores, penalty)
    assert np.all(np.diff(path) >= 0)
    total = scores[np.arange(6), path].sum() - penalty * np.count_nonzero(np.diff(path))
    assert total == pytest.approx(brute_force(scores, penalty))


def test_viterbi_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        monotone_viterbi(np.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        monotone_viterbi(np.array([[0.0, np.nan]]))
    assert monotone_viterbi(np.zeros((0, 3))).tolist() == []


def test_phase_rows_tile_every_frame_number_including_missing_runs():
    names = ["a", "b", "c", "d"]
    # runs 1..7 with run 4 missing; the phase changes from b to d at run 5, so b's range ends at 4
    rows = phase_rows(np.array([0, 0, 1, 3, 3, 3]), np.array([1, 2, 3, 5, 6, 7]), names)
    assert rows == [("a", 1, 2), ("b", 3, 4), ("d", 5, 7)]
    assert phase_rows(np.array([2, 2]), np.array([10, 11]), names) == [("c", 10, 11)]
    with pytest.raises(ValueError, match="monotone"):
        phase_rows(np.array([1, 0]), np.array([1, 2]), names)
    assert event_frames(np.array([0, 0, 1, 3, 3])) == {0: 0, 1: 2, 3: 3}


def test_swap_puts_each_frame_into_the_training_clip():
    times = np.array([0.0, 5.0, 9.0, 11.5, 20.0, 31.0])
    grid = np.array([10.0, 20.0, 30.0])
    windows = frame_windows(times, grid, tolerance_h=1.5)
    # training clip: nearest frames to 10, 20, 30 within 1.5 h = frames 2 (9.0), 4 (20.0), 5 (31.0)
    assert windows.indices.tolist() == [[0, 4, 5], [1, 4, 5], [2, 4, 5], [3, 4, 5], [2, 4, 5], [2, 4, 5]]
    assert windows.slot_of_frame.tolist() == [0, 0, 0, 0, 1, 2]
    assert windows.clip_of_frame.tolist() == list(range(6))
    assert windows.hpi[1].tolist() == [5.0, 20.0, 31.0]  # the frame at its true hpi, the others at theirs
    far = frame_windows(times, grid, tolerance_h=0.5)  # 9.0 and 31.0 are too far from 10 and 30
    assert far.indices[4].tolist() == [-1, 4, -1] and far.hpi[4].tolist() == [10.0, 20.0, 30.0]
    assert far.mask[4].tolist() == [False, True, False]
    with pytest.raises(ValueError, match="layout"):
        frame_windows(times, grid, 1.0, layout="sideways")


def test_shifted_clips_are_shared_and_keep_the_spacing():
    times = np.sort(np.random.default_rng(0).uniform(0, 140, 500))
    grid = np.linspace(12, 116, 16)
    windows = frame_windows(times, grid, tolerance_h=1.0, layout="shifted")
    frames = np.arange(len(times))
    assert (windows.clip_of_frame >= 0).all()
    # frame t is at its own slot of its clip, and that slot is the grid point nearest t's hpi
    assert (windows.indices[windows.clip_of_frame, windows.slot_of_frame] == frames).all()
    inside = (times > grid[0]) & (times < grid[-1])
    assert np.abs(times - grid[windows.slot_of_frame] - 0)[inside].max() <= (grid[1] - grid[0]) / 2 + 1e-9
    # the other keyframes keep the training spacing: within the tolerance of the shifted grid
    shift = times - grid[windows.slot_of_frame]
    present = windows.mask[windows.clip_of_frame]
    offsets = np.abs(windows.hpi[windows.clip_of_frame] - (grid[None] + shift[:, None]))
    assert (offsets[present] <= 1.0 + 0.5).all()  # tolerance + at most half the largest frame gap here
    assert len(windows.indices) < len(times) / 2  # clips are shared: far fewer clips than frames
