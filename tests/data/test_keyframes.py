"""Keyframe selection: hand-computed grid / uniform / content cases, tolerance, coverage guarantee."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.data import KeyframeConfig, frame_change, select_keyframes
from aivf.data.keyframes import grid_targets, nearest_frames


def test_nearest_frames_hand_computed() -> None:
    times = np.array([0.0, 1.0, 2.0, 4.0])
    # 1.5 ties between 1.0 and 2.0 -> earlier; 3.2 -> 4.0 (0.8 away); 9 beyond tolerance; -0.4 -> 0.
    np.testing.assert_array_equal(nearest_frames(times, [1.5, 3.2, 9.0, -0.4], 1.0), [1, 3, -1, 0])
    np.testing.assert_array_equal(nearest_frames(times, [3.2], 0.5), [-1])
    np.testing.assert_array_equal(nearest_frames(np.array([5.0]), [4.5, 7.0], 1.0), [0, -1])
    np.testing.assert_array_equal(nearest_frames(np.zeros(0), [1.0]), [-1])


def test_grid_hand_computed_with_gap_and_cutoff() -> None:
    times = np.array([0.0, 10.0, 20.0, 40.0, 50.0, 60.0, 70.0])
    cfg = KeyframeConfig(method="grid", num_keyframes=4, start_hpi=10.0, cutoff_hpi=64.0, tolerance_h=2.0)
    np.testing.assert_allclose(grid_targets(cfg), [10.0, 28.0, 46.0, 64.0])
    keys = select_keyframes(times, cfg)
    # 28 has no frame within 2 h (gap 20-40); 64 would be 60 (4 h) -> missing; 70 is past the cutoff.
    np.testing.assert_array_equal(keys.indices, [1, -1, -1, -1])
    cfg.tolerance_h = 5.0
    keys = select_keyframes(times, cfg)
    np.testing.assert_array_equal(keys.indices, [1, -1, 4, 5])  # 46 -> 50 (4 h), 64 -> 60, never 70
    np.testing.assert_array_equal(keys.mask, [True, False, True, True])
    np.testing.assert_allclose(keys.hpi, [10.0, 28.0, 50.0, 60.0])  # missing keeps its grid target


def test_grid_explicit_points_must_match_k() -> None:
    cfg = KeyframeConfig(method="grid", num_keyframes=2, grid_hpi=[20.0, 44.0], cutoff_hpi=66.0)
    keys = select_keyframes(np.arange(0, 66, 0.5), cfg)
    np.testing.assert_allclose(keys.hpi, [20.0, 44.0])
    cfg.grid_hpi = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="grid_hpi has 3 values"):
        select_keyframes(np.arange(10.0), cfg)


def test_uniform_hand_computed_and_short_recordings() -> None:
    times = np.arange(11) * 1.0  # 0..10 hpi
    keys = select_keyframes(times, KeyframeConfig(method="uniform", num_keyframes=3, cutoff_hpi=8.0))
    np.testing.assert_array_equal(keys.indices, [0, 4, 8])  # linspace(0, 8, 3)
    keys = select_keyframes(times[:2], KeyframeConfig(method="uniform", num_keyframes=4))
    np.testing.assert_array_equal(keys.indices, [0, 1, -1, -1])
    np.testing.assert_array_equal(keys.mask, [True, True, False, False])


def test_uniform_irregular_spacing_gives_distinct_frames() -> None:
    times = np.array([0.0, 0.1, 0.2, 0.3, 10.0])
    keys = select_keyframes(times, KeyframeConfig(method="uniform", num_keyframes=4, cutoff_hpi=20))
    assert keys.mask.all() and len(set(keys.indices.tolist())) == 4
    assert np.all(np.diff(keys.indices) > 0)


def test_frame_change_statistic() -> None:
    frames = np.zeros((4, 1, 2, 2), np.uint8)
    frames[2] = 8
    np.testing.assert_allclose(frame_change(frames), [0, 0, 8, 8])


def test_content_picks_peaks_and_covers_every_bin() -> None:
    times = np.arange(100) * 1.0
    stats = np.zeros(100)
    stats[[10, 11, 12, 30, 31]] = [5, 9, 5, 8, 7]  # two "divisions" early, nothing later
    cfg = KeyframeConfig(method="content", num_keyframes=6, coverage_bins=4, cutoff_hpi=200.0)
    keys = select_keyframes(times, cfg, stats)
    assert keys.mask.all() and np.all(np.diff(keys.indices) > 0)
    assert 11 in keys.indices and 30 in keys.indices  # the two peaks
    bins = np.minimum((keys.hpi / (99 / 4)).astype(int), 3)
    assert set(bins.tolist()) == {0, 1, 2, 3}  # quiet bins still get a keyframe
    assert not {10, 12} & set(keys.indices.tolist())  # a peak's neighbours do not take extra slots


def test_content_coverage_guarantee_random() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        times = np.sort(rng.uniform(0, 120, rng.integers(20, 300)))
        stats = rng.exponential(1.0, times.size) * (times < 30)  # all change early
        cfg = KeyframeConfig(method="content", num_keyframes=8, coverage_bins=8, cutoff_hpi=116.0)
        keys = select_keyframes(times, cfg, stats)
        t = times[times <= 116.0]
        edges = np.linspace(t[0], t[-1], 9)
        for lo, hi in zip(edges[:-1], edges[1:]):
            if np.any((t >= lo) & (t <= hi)):
                assert np.any((keys.hpi >= lo) & (keys.hpi <= hi)), (lo, hi)
        assert keys.hpi.max() <= 116.0 and len(set(keys.indices.tolist())) == 8


def test_content_requires_stats_and_validates_inputs() -> None:
    with pytest.raises(ValueError, match="needs per-frame stats"):
        select_keyframes(np.arange(5.0), KeyframeConfig(method="content"))
    with pytest.raises(ValueError, match="ascending"):
        select_keyframes(np.array([2.0, 1.0]), KeyframeConfig())


def test_grid_never_uses_a_frame_after_the_cutoff_even_if_nearer() -> None:
    times = np.array([60.0, 67.0])
    cfg = KeyframeConfig(method="grid", num_keyframes=1, grid_hpi=[66.0], cutoff_hpi=66.0, tolerance_h=7.0)
    np.testing.assert_array_equal(select_keyframes(times, cfg).indices, [0])  # 67 is nearer but day 4
