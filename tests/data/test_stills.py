"""Multi-plane stills (T = 1) on the real STORK sample, and name parsing."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.data import KeyframeConfig, RecordingError, list_stills, open_recording

from .conftest import shared_data

PLANES = ["F0", "F-15", "F15", "F-30", "F30", "F-45", "F45"]  # reference plane first


def test_stork_train_folder_lists_six_embryos_of_seven_planes() -> None:
    embryos = list_stills(shared_data("stork_sample") / "train" / "good")
    assert len(embryos) == 6
    assert all(set(p) == set(PLANES) for p in embryos.values())


def test_stork_embryo_by_image_path_reads_seven_planes() -> None:
    image = shared_data("stork_sample") / "train" / "good" / "36338476_45_3AA.jpg"
    rec = open_recording(image)
    assert rec.source == "stills" and rec.embryo_id == "36338476"
    assert rec.plane_names == PLANES and len(rec) == 1 and rec.times_hpi.tolist() == [110.0]
    assert rec.meta["gardner"] == "3AA" and rec.meta["label"] == "good"
    frames = rec.read([0])
    assert frames.shape == (1, 7, 500, 500) and frames.dtype == np.uint8
    assert not np.array_equal(frames[0, 0], frames[0, 3])  # different focal planes
    small = rec.read([0], 64)
    assert small.shape == (1, 7, 64, 64)
    assert abs(float(small.mean()) - float(frames.mean())) < 5  # the same image, smaller


def test_stork_test_folder_needs_an_embryo_id() -> None:
    folder = shared_data("stork_sample") / "test"
    with pytest.raises(RecordingError, match="holds 2 embryos"):
        open_recording(folder)
    rec = open_recording(folder, embryo_id="27002081", planes=["F0"])
    assert rec.meta["label"] == "poor" and rec.meta["gardner"] == "1BB" and rec.plane_names == ["F0"]


def test_stills_keyframes_single_frame() -> None:
    rec = open_recording(shared_data("stork_sample") / "test" / "good_23765483_0_3AA.jpg")
    frames, keys = rec.read_keyframes(KeyframeConfig(method="grid", num_keyframes=3, grid_hpi=[60, 110, 116],
                                                     size=32))
    assert frames.shape == (3, 7, 32, 32)
    np.testing.assert_array_equal(keys.mask, [False, True, False])
    assert frames[0].max() == 0 and frames[1].max() > 0
