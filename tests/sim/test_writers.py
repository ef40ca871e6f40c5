"""Writers: MP4s decode frame-exact with decord, CSV times match, Gomez layout round-trips."""

from __future__ import annotations

import csv
import dataclasses
import re

import av
import decord
import numpy as np
import pytest

from aivf.sim.config import ImagingConfig
from aivf.sim.render import EmbryoRenderer
from aivf.sim.types import EVENTS, EmbryoTruth
from aivf.sim.writers import (
    gomez_prefix,
    phase_rows,
    write_gomez_grades,
    write_gomez_recording,
    write_mp4,
    write_mp4_recording,
)

EVENT_TIMES = {"tPB2": 3.5, "tPNa": 8.0, "tPNf": 23.0, "t2": 25.5, "t3": 36.0, "t4": 37.5, "t5": 48.0, "t6": 50.0,
               "t7": 52.0, "t8": 55.0, "t9+": 70.0, "tM": 82.0, "tSB": 95.0, "tB": 102.0, "tEB": 110.0, "tHB": 116.0}


def make_truth() -> EmbryoTruth:
    return EmbryoTruth("C1P0001-1", "C1P0001", "C1", 34.0, "ICSI", "euploid", 0.0, dict(EVENT_TIMES), 0.1,
                       icm_grade="A", te_grade="A", render_seed=5)

IMAGING = ImagingConfig(image_size=64, frame_interval_h=1.0, end_hpi=120.0)


def test_mp4_decodes_to_every_frame_with_matching_times(tmp_path):
    imaging = dataclasses.replace(IMAGING, focal_planes=3)
    truth = make_truth()
    renderer = EmbryoRenderer(truth, imaging)
    video = renderer.render()
    rel = write_mp4_recording(tmp_path, truth.embryo_id, video, renderer.times)
    assert rel == f"videos/{truth.embryo_id}.mp4"
    for plane, name in enumerate([truth.embryo_id, f"{truth.embryo_id}_F-15", f"{truth.embryo_id}_F15"]):
        reader = decord.VideoReader(str(tmp_path / "videos" / f"{name}.mp4"))
        assert len(reader) == len(video)
        decoded = reader.get_batch(list(range(len(reader)))).asnumpy()[..., 0]  # RGB -> one channel
        error = np.abs(decoded.astype(np.int16) - video[:, plane]).mean()
        assert error < 4.0, (name, error)  # lossy but faithful, including the grey levels (TV range)
    with (tmp_path / "videos" / f"{truth.embryo_id}.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame_index"]) for r in rows] == list(range(len(video)))
    np.testing.assert_allclose([float(r["time_hpi"]) for r in rows], renderer.times, atol=1e-4)


def test_mp4_writes_the_phase_annotation_beside_the_video(tmp_path):
    truth = make_truth()
    times = np.arange(0.0, 60.0, 1.0)
    video = np.zeros((len(times), 1, 16, 16), np.uint8)
    write_mp4_recording(tmp_path, truth.embryo_id, video, times)
    assert not (tmp_path / "videos" / f"{truth.embryo_id}_phases.csv").exists()  # no events: no annotation
    write_mp4_recording(tmp_path, truth.embryo_id, video, times, events=truth.events)
    with (tmp_path / "videos" / f"{truth.embryo_id}_phases.csv").open() as handle:
        rows = [(n, int(a), int(b)) for n, a, b in csv.reader(handle)]
    assert rows == phase_rows(truth.events, times) and len(rows) >= 3


def test_mp4_has_a_keyframe_every_16_frames_for_cheap_random_access(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.integers(40, 200, (32, 32)).astype(np.int16)
    # 70 frames with a hard cut at frame 23 (x264's scene-cut detection would add a keyframe there)
    frames = np.stack([np.clip(base + (120 if i >= 23 else 0) + rng.integers(-3, 4, base.shape), 0, 255)
                       for i in range(70)]).astype(np.uint8)
    path = write_mp4(tmp_path / "x.mp4", frames)
    with av.open(str(path)) as container:
        keys = [i for i, packet in enumerate(container.demux(video=0)) if packet.size and packet.is_keyframe]
    assert keys == list(range(0, 70, 16))  # every 16th frame, and nowhere else
    reader = decord.VideoReader(str(path))  # spread random access stays frame-exact
    picks = [69, 3, 40, 16, 17]
    decoded = reader.get_batch(picks).asnumpy()[..., 0]
    assert np.abs(decoded.astype(np.int16) - frames[picks]).mean() < 4.0


def test_phase_rows_follow_event_times_including_skipped_phases():
    times = np.arange(1, 121, 1.0)
    events = {"tPB2": 3.2, "tPNa": 8.0, "tPNf": 23.0, "t2": 25.5, "t3": 36.4, "t4": 36.4, "t5": 48.0}
    rows = phase_rows(events, times)
    names = [r[0] for r in rows]
    assert "t3" not in names  # direct cleavage 2 -> 4: t3 has no frame
    assert rows[0] == ("tPB2", 4, 7)  # first frame at or after 3.2 h is 4.0 h = frame 4
    t4 = dict((r[0], r[1:]) for r in rows)["t4"]
    assert t4 == (37, 47) and rows[-1] == ("t5", 48, 120)
    for (_, _, end), (_, start, _) in zip(rows, rows[1:]):
        assert end == start - 1


def test_gomez_layout_round_trip(tmp_path):
    imaging = dataclasses.replace(IMAGING, focal_planes=3, end_hpi=60.0)
    truth = make_truth()
    renderer = EmbryoRenderer(truth, imaging)
    video = renderer.render()
    rel = write_gomez_recording(tmp_path / "gomez", truth, video, renderer.times)
    write_gomez_grades(tmp_path / "gomez", [truth])
    assert rel == f"gomez/embryo_dataset/{truth.embryo_id}"
    prefix = gomez_prefix(truth)
    assert re.fullmatch(r"D\d{4}\.\d{2}\.\d{2}_S\d{4}_I\d{3}_WELL\d+", prefix)
    for folder in ("embryo_dataset", "embryo_dataset_F-15", "embryo_dataset_F15"):
        files = sorted((tmp_path / "gomez" / folder / truth.embryo_id).glob("*.jpeg"))
        assert len(files) == len(video)
        assert (tmp_path / "gomez" / folder / truth.embryo_id / f"{prefix}_RUN1.jpeg").is_file()
    with (tmp_path / "gomez" / "embryo_dataset_time_elapsed" / f"{truth.embryo_id}_timeElapsed.csv").open() as h:
        time_rows = list(csv.DictReader(h))
    assert int(time_rows[0]["frame_index"]) == 1 and len(time_rows) == len(video)
    with (tmp_path / "gomez" / "embryo_dataset_annotations" / f"{truth.embryo_id}_phases.csv").open() as h:
        phases = [(n, int(a), int(b)) for n, a, b in csv.reader(h)]
    assert [p[0] for p in phases] == [e for e in EVENTS if e in truth.events and truth.events[e] <= 60.0]
    for name, start, end in phases:  # the phase starts at the first frame at or after its event time
        t_start = float(time_rows[start - 1]["time"])
        assert t_start >= truth.events[name] - 1e-6
        assert start == 1 or float(time_rows[start - 2]["time"]) < truth.events[name]
        assert end >= start
    grades = (tmp_path / "gomez" / "embryo_dataset_grades.csv").read_text().splitlines()
    assert grades == ["video_name,TE,ICM", f"{truth.embryo_id},A,A"]


def test_odd_frame_size_is_a_clear_error(tmp_path):
    video = np.zeros((2, 1, 63, 63), np.uint8)
    with pytest.raises(ValueError, match="even"):
        write_mp4_recording(tmp_path, "X-1", video, np.array([0.25, 0.5]))
