"""Video reader: frame-exact decode by index and time, resize, time CSV defects, decord guards."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from aivf.data import FrameTimeError, RecordingError, RecordingWarning, load_record, open_recording
from aivf.data import video as video_module

from .conftest import synthetic_frames, write_mp4


def _centre(frames: np.ndarray) -> np.ndarray:
    return frames[:, 0, frames.shape[2] // 2, frames.shape[3] // 2].astype(int)


def test_reads_exact_frames_and_times(mp4) -> None:
    path, frames, times = mp4
    rec = open_recording(path)
    assert rec.embryo_id == "E1-1" and rec.num_planes == 1 and len(rec) == 24
    np.testing.assert_allclose(rec.times_hpi, times)
    out = rec.read([5, 0, 23, 5])
    assert out.shape == (4, 1, 64, 64) and out.dtype == np.uint8
    np.testing.assert_allclose(_centre(out), frames[[5, 0, 23, 5], 32, 32], atol=2)
    assert rec.meta["defects"] == []


@pytest.mark.parametrize("size", [32, 16, (20, 40)])
def test_resize_on_decode_including_widths_decord_cannot_copy(mp4, size) -> None:
    path, frames, _ = mp4
    out = open_recording(path).read([7], size)
    expect = (size, size) if isinstance(size, int) else size
    assert out.shape == (1, 1, *expect)
    assert abs(int(_centre(out)[0]) - int(frames[7, 32, 32])) <= 3


def test_read_at_hpi_tolerance_and_named_error(mp4) -> None:
    path, frames, _ = mp4
    rec = open_recording(path)
    # 2.0 hpi is frame 6 exactly; 2.1 is nearest to frame 6 (2.0) within 0.15 h.
    np.testing.assert_array_equal(rec.index_at_hpi([2.0, 2.1], tolerance_h=0.15), [6, 6])
    np.testing.assert_allclose(_centre(rec.read_at_hpi(2.1, 0.15)), frames[[6], 32, 32], atol=2)
    with pytest.raises(FrameTimeError, match="no frame within 0.5 h"):
        rec.read_at_hpi(20.0, tolerance_h=0.5)


def test_phase_annotation_beside_the_video_is_read(tmp_path) -> None:
    path = write_mp4(tmp_path / "E-1.mp4", synthetic_frames(10), times=np.arange(10.0))
    assert open_recording(path).phases is None
    (tmp_path / "E-1_phases.csv").write_text("tPB2,1,3\ntPNa,4,6\nt2,8,10\n")  # Gomez: 1-based frames
    rec = open_recording(path)
    np.testing.assert_array_equal(rec.phases, [0, 0, 0, 1, 1, 1, -1, 3, 3, 3])  # PHASES: tPB2=0, tPNa=1, t2=3


def test_missing_time_csv_falls_back_to_constant_interval(tmp_path) -> None:
    path = write_mp4(tmp_path / "noclock.mp4", synthetic_frames(10))
    with pytest.warns(RecordingWarning, match="frame_interval_h"):
        rec = open_recording(path, frame_interval_h=0.2, first_frame_hpi=1.0)
    np.testing.assert_allclose(rec.times_hpi, 1.0 + 0.2 * np.arange(10))
    assert [d["kind"] for d in rec.meta["defects"]] == ["constant_interval"]


@pytest.mark.parametrize("rows", [14, 6])
def test_time_rows_frame_mismatch_warns_and_truncates(tmp_path, rows) -> None:
    path = write_mp4(tmp_path / "m.mp4", synthetic_frames(10), times=np.arange(rows) * 0.5)
    with pytest.warns(RecordingWarning, match=f"{rows} time rows for 10 frames"):
        rec = open_recording(path)
    assert len(rec) == min(rows, 10)
    assert "time_frame_mismatch" in [d["kind"] for d in rec.meta["defects"]]
    assert rec.read([len(rec) - 1]).shape == (1, 1, 64, 64)


def test_corrupt_file_names_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(RecordingError, match="broken.mp4"):
        open_recording(bad)
    with pytest.raises(RecordingError, match="not found"):
        open_recording(tmp_path / "absent.mp4", format="video")


def test_frame_count_larger_than_packets_is_clamped(mp4, monkeypatch) -> None:
    # decord can hang when len(vr) exceeds the decodable frames: simulate a short stream.
    path, _, _ = mp4
    path.with_suffix(".csv").unlink()
    monkeypatch.setattr(video_module, "count_packets", lambda p: 20)
    with pytest.warns(RecordingWarning):
        rec = open_recording(path)
    assert len(rec) == 20
    assert "frame_count_clamped" in [d["kind"] for d in rec.meta["defects"]]


def test_blank_tail_is_dropped_and_reported(tmp_path) -> None:
    path = write_mp4(tmp_path / "b.mp4", synthetic_frames(12, blank_tail=5), times=np.arange(17) * 0.25)
    with pytest.warns(RecordingWarning, match="blank"):
        rec = open_recording(path)
    assert len(rec) == 12
    kept = open_recording(path, drop_blank_tail=False)
    assert len(kept) == 17


def test_banner_crop_and_timestamp_mask(tmp_path) -> None:
    frames = synthetic_frames(4)
    frames[:, :8] = 255  # banner
    frames[:, -6:] = 0  # burnt-in time
    path = write_mp4(tmp_path / "ev.mp4", frames, times=np.arange(4.0))
    rec = open_recording(path, banner_crop_px=8, timestamp_mask_px=6)
    full = rec.read([1])
    assert full.shape == (1, 1, 56, 64)
    assert full[0, 0, :2].max() < 255  # banner gone
    assert np.all(full[0, 0, -6:] == np.median(full[0, 0, :-6]))  # time painted with the median
    small = rec.read([1], 28)
    assert small.shape == (1, 1, 28, 28)


def test_load_record_and_pickle(mp4) -> None:
    path, _, times = mp4
    record = load_record(path, size=32)
    assert record.frames.shape == (24, 1, 32, 32) and record.source == "video"
    np.testing.assert_allclose(record.times_hpi, times)
    rec = open_recording(path)
    rec.read([0])
    clone = pickle.loads(pickle.dumps(rec))  # DataLoader workers receive pickled recordings
    np.testing.assert_array_equal(clone.read([3]), rec.read([3]))


def test_sibling_plane_videos_are_planes(tmp_path) -> None:
    frames = synthetic_frames(6)
    times = np.arange(6) * 0.5
    write_mp4(tmp_path / "P1-2.mp4", frames, times)
    write_mp4(tmp_path / "P1-2_F-15.mp4", 255 - frames)
    write_mp4(tmp_path / "P1-2_F15.mp4", frames // 2)
    rec = open_recording(tmp_path / "P1-2_F15.mp4")  # any plane file opens the whole embryo
    assert rec.embryo_id == "P1-2" and rec.plane_names == ["F0", "F-15", "F15"]
    out = rec.read([2], 32)
    assert out.shape == (1, 3, 32, 32)
    centre = out[0, :, 16, 16].astype(int)
    expect = np.array([frames[2, 32, 32], 255 - frames[2, 32, 32], frames[2, 32, 32] // 2], int)
    np.testing.assert_allclose(centre, expect, atol=3)
    assert open_recording(tmp_path / "P1-2.mp4", planes=["F0"]).num_planes == 1
    with pytest.raises(RecordingError, match=r"\['F30'\] not found"):
        open_recording(tmp_path / "P1-2.mp4", planes=["F30"])


@pytest.mark.filterwarnings("ignore::aivf.data.RecordingWarning")
def test_verify_frame_count_policies(mp4, monkeypatch) -> None:
    path, _, _ = mp4  # its CSV agrees with decord, so "auto" does not count packets
    calls: list[str] = []
    monkeypatch.setattr(video_module, "count_packets", lambda p: calls.append(p.name) or 20)
    assert len(open_recording(path)) == 24 and calls == []
    assert len(open_recording(path, verify_frame_count="never")) == 24 and calls == []
    with pytest.warns(RecordingWarning, match="only 20 packets"):
        rec = open_recording(path, verify_frame_count="always")
    assert calls == ["E1-1.mp4"] and len(rec) == 20


def test_avi_mpeg4_export(tmp_path) -> None:
    import av

    frames = synthetic_frames(6)
    path = tmp_path / "clinic.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.options = {"qscale": "1"}
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(np.repeat(frame[..., None], 3, axis=2), format="rgb24")
            for packet in stream.encode(video_frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    path.with_suffix(".csv").write_text("frame_index,time_hpi\n" + "".join(f"{i},{i * 0.2}\n" for i in range(6)))
    rec = open_recording(path)
    assert rec.source == "video" and len(rec) == 6
    np.testing.assert_allclose(_centre(rec.read([4, 1])), frames[[4, 1], 32, 32], atol=4)


def test_non_monotone_frame_times_warn_naming_the_csv(tmp_path) -> None:
    times = np.arange(10.0)
    times[[3, 4]] = times[[4, 3]]  # frames 3 and 4 swapped in the time file
    path = write_mp4(tmp_path / "swap.mp4", synthetic_frames(10), times=times)
    with pytest.warns(RecordingWarning, match=r"swap\.csv are not ascending"):
        rec = open_recording(path)
    np.testing.assert_allclose(rec.times_hpi, np.arange(10.0))
    np.testing.assert_array_equal(rec.frame_ids, [0, 1, 2, 4, 3, 5, 6, 7, 8, 9])
    assert "unsorted_times" in [d["kind"] for d in rec.meta["defects"]]


def test_fully_decreasing_frame_times_are_an_error_naming_the_csv(tmp_path) -> None:
    path = write_mp4(tmp_path / "rev.mp4", synthetic_frames(10), times=np.arange(10.0)[::-1] * 10 + 12)
    with pytest.raises(RecordingError, match=r"rev\.csv: frame times decrease throughout"):
        open_recording(path)


@pytest.mark.parametrize("cell, column", [("soon", "time_hpi"), ("2.5", "frame_index")])
def test_non_numeric_frame_time_cell_names_csv_line_and_value(tmp_path, cell, column) -> None:
    path = write_mp4(tmp_path / "txt.mp4", synthetic_frames(10), times=np.arange(10.0))
    lines = path.with_suffix(".csv").read_text().splitlines()
    lines[4] = f"{cell},3.0" if column == "frame_index" else f"3,{cell}"  # line 5 of the file: frame 3
    path.with_suffix(".csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(RecordingError, match=rf"txt\.csv: line 5: {column}='?{cell}'? is not"):
        open_recording(path)
