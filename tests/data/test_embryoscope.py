"""EmbryoScope-style exports: run tables (imageruns JSON / CSV), plane layouts, defects, detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aivf.data import RecordingError, RecordingWarning, detect_format, open_recording

from .conftest import write_runs

pytestmark = pytest.mark.filterwarnings("ignore::aivf.data.RecordingWarning")


def write_imageruns(folder, runs, step=0.16):
    data = {"ImageRuns": [{"Run": r, "Time": round(0.2 + step * (r - 1), 3)} for r in runs]}
    (folder / "imageruns.json").write_text(json.dumps(data))


def test_planes_as_subfolders_with_imageruns_json(tmp_path) -> None:
    embryo = tmp_path / "E-7"
    for plane in ["F0", "F-15", "F15"]:
        write_runs(embryo / plane, list(range(1, 9)))
    write_imageruns(embryo, range(1, 9))
    assert detect_format(embryo) == "embryoscope"
    rec = open_recording(embryo)
    assert rec.source == "embryoscope" and rec.embryo_id == "E-7"
    assert rec.plane_names == ["F0", "F-15", "F15"]
    np.testing.assert_allclose(rec.times_hpi, 0.2 + 0.16 * np.arange(8), atol=1e-6)
    assert rec.meta["es_embryo_id"] == "D2013.01.28_S0717_I132_P-7"
    assert rec.meta["defects"] == []
    assert rec.read([0, 7], 24).shape == (2, 3, 24, 24)
    np.testing.assert_array_equal(rec.index_at_hpi(0.52, 0.1), [2])


def test_planes_in_file_names_with_csv_table_and_defects(tmp_path) -> None:
    embryo = tmp_path / "E-8"
    for plane in ["F-30", "F0", "F30"]:
        write_runs(embryo, [1, 2, 3, 5, 6, 7], plane=plane, truncated=(6,) if plane == "F30" else ())
    rows = "\n".join(f"{r},{1.0 + 0.25 * r}" for r in range(1, 10))  # runs 8, 9 have no image
    (embryo / "runs.csv").write_text(f"Run,Time\n{rows}\n")
    with pytest.warns(RecordingWarning):
        rec = open_recording(embryo)
    assert rec.plane_names == ["F0", "F-30", "F30"]
    kinds = {d["kind"] for d in rec.meta["defects"]}
    assert {"missing_run", "extra_time_rows", "truncated_jpeg"} <= kinds
    assert rec.runs.tolist() == [1, 2, 3, 5, 7]  # run 6 has a truncated plane: skipped
    np.testing.assert_allclose(rec.times_hpi, 1.0 + 0.25 * rec.runs)


def test_plane_selection_and_missing_plane_error(tmp_path) -> None:
    embryo = tmp_path / "E-9"
    for plane in ["F0", "F15"]:
        write_runs(embryo / plane, [1, 2, 3])
    write_imageruns(embryo, [1, 2, 3])
    assert open_recording(embryo, planes=["F15"]).plane_names == ["F15"]
    with pytest.raises(RecordingError, match=r"focal plane\(s\) \['F45'\] not found"):
        open_recording(embryo, planes=["F45"])


def test_plane_missing_some_runs_drops_those_runs(tmp_path) -> None:
    embryo = tmp_path / "E-10"
    write_runs(embryo / "F0", [1, 2, 3, 4])
    write_runs(embryo / "F-15", [1, 2, 4])
    write_imageruns(embryo, [1, 2, 3, 4])
    rec = open_recording(embryo)
    assert rec.runs.tolist() == [1, 2, 4]
    assert "plane_missing_run" in {d["kind"] for d in rec.meta["defects"]}


def test_unrecognised_folder_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(RecordingError, match="pass data.format"):
        open_recording(tmp_path)


def test_bad_run_table_names_the_file(tmp_path) -> None:
    embryo = tmp_path / "E-11"
    write_runs(embryo, [1, 2])
    (embryo / "imageruns.json").write_text('{"ImageRuns": "oops"}')
    with pytest.raises(RecordingError, match="imageruns.json"):
        open_recording(embryo, format="embryoscope")
