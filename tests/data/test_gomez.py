"""Gomez folders: the real sample videos and every real-data defect on fixture folders."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.data import PHASES, FrameTimeError, RecordingWarning, open_recording
from aivf.data.gomez import open_gomez

from .conftest import shared_data, write_runs

pytestmark = pytest.mark.filterwarnings("ignore::aivf.data.RecordingWarning")


def kinds(rec) -> list[str]:
    return [d["kind"] for d in rec.meta["defects"]]


def test_real_sample_missing_run_keeps_time_gap() -> None:
    folder = shared_data("gomez_sample") / "AAL839-6"
    with pytest.warns(RecordingWarning, match="frame_interval_h"):
        rec = open_recording(folder, frame_interval_h=0.2)
    assert rec.source == "gomez" and rec.embryo_id == "AAL839-6"
    assert len(rec) == 430 and rec.plane_names == ["F0"]
    assert rec.meta["missing_runs"] == [95] and "missing_run" in kinds(rec)
    assert "constant_interval" in kinds(rec)
    gap = int(np.flatnonzero(rec.runs == 96)[0])
    assert rec.runs[gap - 1] == 94
    np.testing.assert_allclose(rec.times_hpi[gap] - rec.times_hpi[gap - 1], 0.4)  # two intervals
    frames = rec.read([0, gap, 429], size=64)
    assert frames.shape == (3, 1, 64, 64) and frames.std() > 5  # real embryo pixels, not blank


@pytest.mark.parametrize("video, count", [("AA83-7", 285), ("AB028-6", 291)])
def test_real_sample_complete_videos(video, count) -> None:
    rec = open_recording(shared_data("gomez_sample") / video)
    assert len(rec) == count and rec.meta["missing_runs"] == []
    assert "blank_tail" not in kinds(rec)  # real embryo frames are not mistaken for an empty well
    full = rec.read([10])
    assert full.shape == (1, 1, 500, 500) and full.dtype == np.uint8


def test_dataset_layout_planes_times_phases_grades(tmp_path) -> None:
    video = "AB12-3"
    for plane in ["", "_F-15", "_F15"]:
        write_runs(tmp_path / f"embryo_dataset{plane}" / video, list(range(1, 11)))
    times = tmp_path / "embryo_dataset_time_elapsed"
    times.mkdir()
    rows = "\n".join(f"{k},{0.5 + 0.3 * k:.2f}" for k in range(1, 13))  # 12 rows for 10 images
    (times / f"{video}_timeElapsed.csv").write_text(f"frame_index,time\n{rows}\n")
    notes = tmp_path / "embryo_dataset_annotations"
    notes.mkdir()
    (notes / f"{video}_phases.csv").write_text("tPB2,2,3\ntPNa,4,6\nt2,8,9\n")
    (tmp_path / "embryo_dataset_grades.csv").write_text("video_name,TE,ICM\nAB12-3,A,NA\nZZ1-1,B,B\n")
    with pytest.warns(RecordingWarning, match="2 time row"):
        rec = open_recording(tmp_path / "embryo_dataset" / video)
    assert rec.plane_names == ["F0", "F-15", "F15"]  # reference first and rec.num_planes == 3
    np.testing.assert_allclose(rec.times_hpi, 0.5 + 0.3 * np.arange(1, 11), atol=1e-9)
    assert kinds(rec) == ["extra_time_rows"]
    t2 = PHASES.index("t2")
    np.testing.assert_array_equal(rec.phases, [-1, 0, 0, 1, 1, 1, -1, t2, t2, -1])
    assert rec.meta["grades"] == {"video_name": "AB12-3", "TE": "A", "ICM": None}
    assert rec.read([0, 9], 32).shape == (2, 3, 32, 32)
    only = open_gomez(tmp_path / "embryo_dataset" / video, _cfg(planes=["F0"]))
    assert only.plane_names == ["F0"]
    record = rec.load()
    assert record.frames.shape == (10, 3, 48, 48) and record.phases is not None


def _cfg(**kw):
    from aivf.data import DataConfig

    return DataConfig(**kw)


@pytest.mark.parametrize("policy", ["skip", "flag"])
def test_truncated_jpeg_skipped_or_flagged(tmp_path, policy) -> None:
    write_runs(tmp_path / "V1-1", list(range(1, 9)), truncated=(4,))
    with pytest.warns(RecordingWarning, match="truncated JPEG"):
        rec = open_recording(tmp_path / "V1-1", truncated_jpeg=policy)
    assert "truncated_jpeg" in kinds(rec)
    if policy == "skip":
        assert 4 not in rec.runs.tolist() and len(rec) == 7
    else:
        assert rec.truncated.tolist() == [r == 4 for r in range(1, 9)]
        assert rec.read(np.arange(8)).shape == (8, 1, 48, 48)  # the partial image decodes


def test_duplicate_f0_subfolder_ignored(tmp_path) -> None:
    write_runs(tmp_path / "V2-1", list(range(1, 6)))
    write_runs(tmp_path / "V2-1" / "F0", list(range(1, 6)))
    rec = open_recording(tmp_path / "V2-1")
    assert rec.source == "gomez" and len(rec) == 5 and rec.num_planes == 1
    assert "duplicate_f0" in kinds(rec)
    assert "same files" in rec.meta["defects"][-1]["detail"]


def test_blank_tail_dropped(tmp_path) -> None:
    write_runs(tmp_path / "V3-1", list(range(1, 21)), blank=(17, 18, 19, 20))
    with pytest.warns(RecordingWarning, match="dropped 4 blank"):
        rec = open_recording(tmp_path / "V3-1")
    assert rec.runs.tolist() == list(range(1, 17))


def test_missing_runs_in_fixture_and_read_by_time(tmp_path) -> None:
    write_runs(tmp_path / "V4-1", [1, 2, 3, 6, 7])
    rec = open_recording(tmp_path / "V4-1", frame_interval_h=0.5, first_frame_hpi=10.0)
    assert rec.meta["missing_runs"] == [4, 5]
    np.testing.assert_allclose(rec.times_hpi, [10.0, 10.5, 11.0, 12.5, 13.0])
    np.testing.assert_array_equal(rec.index_at_hpi([11.2, 12.4], 0.5), [2, 3])
    with pytest.raises(FrameTimeError):  # 11.75 sits in the gap: 0.75 h from both neighbours
        rec.read_at_hpi(11.75, tolerance_h=0.5)


def test_time_and_phase_files_inside_the_video_folder(tmp_path) -> None:
    write_runs(tmp_path / "V5-2", [1, 2, 3])
    (tmp_path / "V5-2" / "V5-2_timeElapsed.csv").write_text("frame_index,time\n1,2.0\n2,2.2\n3,2.4\n")
    (tmp_path / "V5-2" / "V5-2_phases.csv").write_text("tPNf,2,3\n")
    rec = open_recording(tmp_path / "V5-2")
    assert rec.source == "gomez" and rec.meta["defects"] == []
    np.testing.assert_allclose(rec.times_hpi, [2.0, 2.2, 2.4])
    np.testing.assert_array_equal(rec.phases, [-1, 2, 2])
