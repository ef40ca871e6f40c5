"""Input checks of the recording readers (docs/architecture.md, "Input checks"): no silent change, clear errors.

Each case of issue 14 that a reader meets: layout detection that must not swallow a folder of videos,
broken run tables, odd JSON spellings, empty images; every error is a ``RecordingError`` naming the file.
"""

from __future__ import annotations

import numpy as np
import pytest

from aivf.data import RecordingError, detect_format, find_recordings, open_recording

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
