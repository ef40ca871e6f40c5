"""EmbryoScope ``.pdb`` slide files: built here as SQLite from the documented schema (formats.md section 2)."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aivf.data import RecordingError, find_recordings, open_recording
from aivf.data.pdb import pdb_wells

from .conftest import synthetic_frames

SLIDE = "D2019.03.04_S00123_I3145_D1"


def jpeg_bytes(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_pdb(path: Path, wells: dict[int, int], planes=(0,), time_of=lambda run: 0.5 + 0.25 * (run - 1),
              skip: set[tuple[int, int, int]] = frozenset(), columns=("Well", "Run", "Focal", "Time", "Image"),
              table: str = "IMAGES") -> Path:
    """A slide file: ``wells`` maps well -> number of runs; one JPEG per (well, run, plane) unless skipped.

    Frame brightness encodes the run (``synthetic_frames``: 10 + 4 t), planes differ by +40 grey levels.
    """
    con = sqlite3.connect(path)
    well_c, run_c, focal_c, time_c, image_c = columns
    con.execute(f'CREATE TABLE {table} ("{well_c}" INTEGER, "{run_c}" INTEGER, "{focal_c}" INTEGER, '
                f'"{time_c}", "{image_c}" BLOB)')
    frames = synthetic_frames(max(wells.values()) + 1, 48)
    for well, runs in wells.items():
        for run in range(1, runs + 1):
            for k, focal in enumerate(planes):
                if (well, run, focal) in skip:
                    continue
                image = np.clip(frames[run].astype(int) + 40 * k, 0, 255).astype(np.uint8)
                con.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)",
                            (well, run, focal, time_of(run), jpeg_bytes(image)))
    con.commit()
    con.close()
    return path


def test_one_well_through_open_recording(tmp_path):
    path = write_pdb(tmp_path / f"{SLIDE}.pdb", {3: 12, 5: 8}, planes=(0, -15, 15))
    with open_recording(f"{path}#3") as rec:
        assert rec.source == "pdb" and len(rec) == 12 and rec.plane_names == ["F0", "F-15", "F15"]
        assert rec.embryo_id == "D2019.03.04_S00123_I3145_WELL3"
        assert rec.meta["well"] == 3 and rec.meta["slide"] == "00123"
        assert rec.meta["es_embryo_id"] == "D2019.03.04_S00123_I3145_P-3"
        assert np.allclose(rec.times_hpi, 0.5 + 0.25 * np.arange(12))
        assert rec.runs.tolist() == list(range(1, 13))
        frames = rec.read([0, 4])
        assert frames.shape == (2, 3, 48, 48)
        disc = frames[:, 0, 24, 24].astype(int)  # centre of the disc: 10 + 4 * run
        assert np.abs(disc - [14, 30]).max() <= 3
        assert abs(int(frames[0, 1, 24, 24]) - int(frames[0, 0, 24, 24]) - 40) <= 3  # plane order kept
        assert rec.read([1], 24).shape == (1, 3, 24, 24)
    with open_recording(f"{path}#5", planes=["F0"]) as rec:
        assert len(rec) == 8 and rec.num_planes == 1


def test_wells_are_listed_and_found(tmp_path):
    (tmp_path / "slides").mkdir()
    path = write_pdb(tmp_path / "slides" / f"{SLIDE}.pdb", {1: 4, 2: 4, 7: 4})
    wells = pdb_wells(path)
    assert [p.name for p in wells] == [f"{SLIDE}.pdb#1", f"{SLIDE}.pdb#2", f"{SLIDE}.pdb#7"]
    assert find_recordings(tmp_path) == wells
    with pytest.raises(RecordingError, match=r"wells \[1, 2, 7\]; open one as .*#<well>"):
        open_recording(path)
    single = write_pdb(tmp_path / "single.pdb", {4: 5})  # written after the find_recordings check
    with open_recording(single) as rec:  # a one-well slide opens without the well
        assert rec.meta["well"] == 4 and rec.embryo_id == "single_WELL4"
    with pytest.raises(RecordingError, match="no images of well 9"):
        open_recording(f"{path}#9")


def test_defects_are_repaired_and_reported(tmp_path):
    path = write_pdb(tmp_path / "s.pdb", {1: 6}, planes=(0, 15), skip={(1, 3, 15)})
    with pytest.warns(UserWarning, match="runs \\[3\\] lack some focal plane"):
        rec = open_recording(f"{path}#1")
    assert rec.runs.tolist() == [1, 2, 4, 5, 6]
    rec.close()
    stamps = write_pdb(tmp_path / "dates.pdb", {1: 4}, time_of=lambda run: f"2019-03-04 10:{15 * (run - 1):02d}:00")
    with pytest.warns(UserWarning, match="hours since the slide's first image"):
        rec = open_recording(f"{stamps}#1")
    assert np.allclose(rec.times_hpi, [0, 0.25, 0.5, 0.75])
    assert any(d["kind"] == "relative_time" for d in rec.meta["defects"])
    rec.close()


def test_clear_errors_name_the_file(tmp_path):
    not_sqlite = tmp_path / "export.pdb"
    not_sqlite.write_bytes(b"%PDB protein data bank\nATOM 1\n")
    with pytest.raises(RecordingError, match=r"export\.pdb: not an SQLite database"):
        open_recording(not_sqlite)
    assert pdb_wells(not_sqlite) == [not_sqlite]  # still listed, so a batch reports it
    other = write_pdb(tmp_path / "other.pdb", {1: 2}, table="FRAMES")
    with pytest.raises(RecordingError, match=r"other\.pdb: no IMAGES table \(tables: \['FRAMES'\]\)"):
        open_recording(f"{other}#1")
    renamed = write_pdb(tmp_path / "renamed.pdb", {1: 2}, columns=("Well", "Run", "Depth", "Time", "Image"))
    with pytest.raises(RecordingError, match=r"renamed\.pdb: table IMAGES lacks column\(s\) focal"):
        open_recording(f"{renamed}#1")
    with pytest.raises(RecordingError, match=r"missing\.pdb: EmbryoScope \.pdb file not found"):
        open_recording(tmp_path / "missing.pdb")
    with pytest.raises(RecordingError, match="must be a number"):
        open_recording(f"{renamed}#A")
