"""Input checks of the recording readers (docs/architecture.md, "Input checks"): no silent change, clear errors.

Each case of issue 14 that a reader meets: layout detection that must not swallow a folder of videos,
broken run tables, odd JSON spellings, empty images; every error is a ``RecordingError`` naming the file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aivf.data import RecordingError, detect_format, find_recordings, open_recording
from aivf.data.config import DataConfig, KeyframeConfig
from aivf.dataset.build import process_embryo
from aivf.dataset.config import DatasetConfig

from .conftest import synthetic_frames, write_mp4, write_runs

pytestmark = pytest.mark.filterwarnings("ignore::aivf.data.RecordingWarning")


def test_folder_of_videos_with_a_subfolder_is_not_an_embryoscope_export(tmp_path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    times = 0.5 + 0.25 * np.arange(6)
    for name in ("A1-1", "A1-2"):
        write_mp4(folder / f"{name}.mp4", synthetic_frames(6), times)  # + A1-1.csv frame_index,time_hpi
    (folder / "notes").mkdir()  # any subfolder, even empty
    (folder / "run_times.csv").write_text("run,time\n1,0.2\n")  # even a run-table-like CSV: no run JPEGs here
    found = [p.relative_to(tmp_path).as_posix() for p in find_recordings(tmp_path)]
    assert found == ["videos/A1-1.mp4", "videos/A1-2.mp4"]
    assert all(detect_format(tmp_path / f) == "video" for f in found)
    with pytest.raises(RecordingError, match="no \\*_RUN<k>.jpeg frames"):
        detect_format(folder)  # the folder itself is no recording


def test_embryoscope_export_is_still_found_by_its_markers(tmp_path) -> None:
    export = tmp_path / "es" / "E1-1"
    write_runs(export, [1, 2, 3])
    (export / "notes").mkdir()
    (export / "runs.csv").write_text("Run,Time\n1,0.2\n2,0.4\n3,0.6\n")
    assert find_recordings(tmp_path) == [export] and detect_format(export) == "embryoscope"
    assert open_recording(export).times_hpi.tolist() == [0.2, 0.4, 0.6]


@pytest.mark.parametrize("content, expected", [
    ('{"ImageRuns": [{"Run": 1, "Time": 0.2},', "not readable JSON"),  # cut off mid-file
    ('{"runs": [[1, 0.2], [2, 0.4]]}', r"not a run table: expected .*found keys \['runs'\]"),
    ('{"ImageRuns": [{"Id": 1, "Hours": 0.2}]}', "ImageRuns entries need a Run and a Time"),
])
def test_broken_or_schemaless_imageruns_json_is_an_error_naming_it(tmp_path, content, expected) -> None:
    embryo = tmp_path / "E1-1"
    write_runs(embryo, [1, 2, 3])
    (embryo / "imageruns.json").write_text(content)
    with pytest.raises(RecordingError, match=rf"E1-1/imageruns\.json: {expected}"):
        open_recording(embryo)  # never read as Gomez with an assumed 0.25 h interval
    assert find_recordings(tmp_path) == [embryo]  # still listed: opening it is where the error is said

    # in a build: that embryo's report row names the JSON; the next embryo is still read
    good = tmp_path / "E2-1"
    write_runs(good, [1, 2, 3])
    (good / "imageruns.json").write_text(json.dumps({"ImageRuns": [{"Run": r, "Time": 4.0 * r} for r in (1, 2, 3)]}))
    cfg = DatasetConfig(min_frames=1, min_keyframes=1)
    data = DataConfig(keyframes=KeyframeConfig(num_keyframes=2, start_hpi=4.0, cutoff_hpi=12.0, size=16))
    rows = [{"embryo_id": e, "recording": e, "patient_id": e, "clinic": "c", "maternal_age": None, "method": None,
             "policy": None, "pgt": None, **dict.fromkeys(("transferred", "biopsied", "transfer_day", "d3_fhb", "d5_fhb"))}
            for e in ("E1-1", "E2-1")]
    (_, bad), (shard_row, ok) = (process_embryo(r, tmp_path, cfg, data) for r in rows)
    assert bad["status"] == "failed" and "imageruns.json" in bad["detail"] and "0.25" not in bad["detail"]
    assert ok["status"] == "ok" and shard_row["keyframe_hpi"].tolist() == [4.0, 12.0]


def test_imageruns_json_with_other_key_case_and_string_times_reads_the_same(tmp_path) -> None:
    embryo = tmp_path / "E1-1"
    write_runs(embryo, [1, 2, 3])
    entries = [{"run": 1, "time": "0.2"}, {"run": "2", "time": " 0.36 "}, {"run": 3.0, "time": 0.52}]
    (embryo / "imageruns.json").write_text(json.dumps({"imageRuns": entries}))
    assert open_recording(embryo).times_hpi.tolist() == [0.2, 0.36, 0.52]


@pytest.mark.parametrize("entry, expected", [
    ({"Run": 2, "Time": "12 h"}, r"ImageRuns\[1\]: Time='12 h' is not a time in hours"),
    ({"Run": 2, "Time": True}, r"ImageRuns\[1\]: Time=True is not a time"),
    ({"Run": 2.5, "Time": 0.4}, r"ImageRuns\[1\]: Run=2.5 is not a whole frame number"),
    ({"Run": 1, "Time": 0.5}, r"Run 1 is repeated with different times \(0.2, 0.5 at ImageRuns\[0\], ImageRuns\[1\]\)"),
])
def test_imageruns_json_bad_entry_names_file_entry_and_value(tmp_path, entry, expected) -> None:
    embryo = tmp_path / "E1-1"
    write_runs(embryo, [1, 2, 3])
    entries = [{"Run": 1, "Time": 0.2}, entry, {"Run": 3, "Time": 0.6}]
    (embryo / "imageruns.json").write_text(json.dumps({"ImageRuns": entries}))
    with pytest.raises(RecordingError, match=rf"imageruns\.json: {expected}"):
        open_recording(embryo)


def test_gomez_time_file_with_a_non_number_names_file_line_and_value(tmp_path) -> None:
    video = tmp_path / "embryo_dataset" / "G1-1"
    write_runs(video, [1, 2, 3])
    times = tmp_path / "embryo_dataset_time_elapsed"
    times.mkdir()
    (times / "G1-1_timeElapsed.csv").write_text("frame_index,time\n1,0.2\n2,n/a\n3,0.6\n")
    with pytest.raises(RecordingError, match=r"G1-1_timeElapsed\.csv: line 3: time='n/a' is not a time in hours"):
        open_recording(video)


@pytest.mark.parametrize("policy", ["skip", "flag"])
def test_folder_of_zero_byte_jpegs_is_an_error_not_a_blank_recording(tmp_path, policy) -> None:
    embryo = tmp_path / "G1-1"
    embryo.mkdir()
    for run in (1, 2, 3):
        (embryo / f"D2013.01.28_S0717_I132_WELL7_RUN{run}.jpeg").write_bytes(b"")
    with pytest.raises(RecordingError, match=r"G1-1: none of the 3 run image\(s\) is readable.*0-byte JPEG"):
        open_recording(embryo, truncated_jpeg=policy)


def test_some_zero_byte_jpegs_are_dropped_and_reported(tmp_path) -> None:
    embryo = tmp_path / "G1-1"
    write_runs(embryo, [1, 2, 3, 4])
    (embryo / "D2013.01.28_S0717_I132_WELL7_RUN2.jpeg").write_bytes(b"")
    rec = open_recording(embryo, truncated_jpeg="flag")
    assert rec.runs.tolist() == [1, 3, 4] and "empty_jpeg" in {d["kind"] for d in rec.meta["defects"]}


def test_open_recording_raises_recording_error_for_a_bad_annotation(tmp_path) -> None:
    embryo = tmp_path / "G1-1"
    write_runs(embryo, [1, 2, 3])
    (embryo / "G1-1_phases.csv").write_text("tPB2,1,two\n")
    with pytest.raises(RecordingError, match=r"G1-1_phases\.csv: line 1: frames '1'..'two'"):
        open_recording(embryo)
    (embryo / "G1-1_phases.csv").write_bytes(b"")  # an empty annotation: no frame is labelled
    assert open_recording(embryo).phases.tolist() == [-1, -1, -1]


def test_open_recording_wraps_an_unforeseen_reader_failure(tmp_path, monkeypatch) -> None:
    import aivf.data.gomez as gomez

    embryo = tmp_path / "G1-1"
    write_runs(embryo, [1, 2])
    monkeypatch.setattr(gomez, "scan_runs", lambda folder: {}.__getitem__("boom"))  # a KeyError deep inside
    with pytest.raises(RecordingError, match=r"G1-1: cannot read the recording: KeyError"):
        open_recording(embryo, format="gomez")


@pytest.mark.parametrize("text, expected", [
    ("frame_index,time_hpi\n0,1,0.5\n1,0.75\n", r"line 2: 3 cells for 2 columns"),  # pandas would shift columns
    ("frame_index,time_hpi,time_hpi\n0,0.5,9\n", r"line 1: column 'time_hpi' appears twice"),
    ("", r"the file is empty"),
])
def test_time_csv_whose_cells_do_not_fit_its_header_is_refused(tmp_path, text, expected) -> None:
    path = write_mp4(tmp_path / "E1.mp4", synthetic_frames(2), np.array([0.5, 0.75])).with_suffix(".csv")
    path.write_text(text)
    with pytest.raises(RecordingError, match=rf"E1\.csv: cannot read the frame-time CSV: {expected}"):
        open_recording(path.with_suffix(".mp4"))


def test_time_csv_trailing_commas_and_blank_lines_read_as_written(tmp_path) -> None:
    path = write_mp4(tmp_path / "E1.mp4", synthetic_frames(3), np.zeros(3)).with_suffix(".csv")
    path.write_text("frame_index,time_hpi,\n0,0.5,\n\n1,0.75,\n2,1.0\n")  # a spreadsheet's trailing commas
    assert open_recording(path.with_suffix(".mp4"), drop_blank_tail=False).times_hpi.tolist() == [0.5, 0.75, 1.0]


def test_phase_row_with_a_cell_too_many_is_refused_not_shifted(tmp_path) -> None:
    embryo = tmp_path / "G1-1"
    write_runs(embryo, [1, 2, 3])
    (embryo / "G1-1_phases.csv").write_text("tPB2,1,2\nt2,3,3,9\n")  # pandas would take 't2' as an index
    with pytest.raises(RecordingError, match=r"G1-1_phases\.csv: cannot read the phase annotation: line 2: 4 cells"):
        open_recording(embryo)
