"""Layout detection, find_recordings and the simulator's output (the contract in docs/architecture.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from aivf.data import KeyframeConfig, detect_format, find_recordings, open_recording

from .conftest import shared_data, synthetic_frames, write_mp4, write_runs


def test_find_recordings_one_entry_per_embryo(tmp_path) -> None:
    (tmp_path / "videos").mkdir()
    write_mp4(tmp_path / "videos" / "A1-1.mp4", synthetic_frames(3))
    write_mp4(tmp_path / "videos" / "A1-1_F15.mp4", synthetic_frames(3))
    for plane in ["", "_F-15"]:
        write_runs(tmp_path / "gomez" / f"embryo_dataset{plane}" / "G1-1", [1, 2])
    write_runs(tmp_path / "gomez" / "embryo_dataset" / "G1-1" / "F0", [1, 2])  # duplicate
    write_runs(tmp_path / "es" / "E1-1" / "F0", [1, 2])
    write_runs(tmp_path / "es" / "E1-1" / "F15", [1, 2])
    found = [p.relative_to(tmp_path).as_posix() for p in find_recordings(tmp_path)]
    assert found == ["es/E1-1", "gomez/embryo_dataset/G1-1", "videos/A1-1.mp4"]
    assert [detect_format(tmp_path / f) for f in found] == ["embryoscope", "gomez", "video"]


def test_find_recordings_real_samples() -> None:
    found = find_recordings(shared_data(""))
    gomez = [p for p in found if p.is_dir()]
    stills = [p for p in found if p.suffix == ".jpg"]
    assert sorted(p.name for p in gomez) == ["AA83-7", "AAL839-6", "AB028-6"]
    assert len(stills) == 14 and len({open_recording(p).embryo_id for p in stills}) == 14


@pytest.mark.slow  # the simulator's cohort sampling takes ~20 s on 2 shared cores
@pytest.mark.parametrize("fmt", ["gomez", "mp4"])
def test_simulator_cohort_reads_back(tmp_path, fmt) -> None:
    from aivf.sim.config import ImagingConfig, SimConfig
    from aivf.sim.simulate import simulate

    cfg = SimConfig(num_patients=1, num_clinics=1, format=fmt, workers=1, contact_sheet=False,
                    imaging=ImagingConfig(image_size=64, frame_interval_h=2.0, focal_planes=3))
    out = simulate(cfg, tmp_path / fmt, seed=3, progress=False)
    clinical = pd.read_csv(out / "clinical.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean simulated recording must need no repair
        rec = open_recording(out / clinical.recording.iloc[0])
    assert rec.embryo_id == clinical.embryo_id.iloc[0] and rec.num_planes == 3
    assert rec.meta["defects"] == [] and np.all(np.diff(rec.times_hpi) > 0)
    frames, keys = rec.read_keyframes(KeyframeConfig(num_keyframes=4, size=32, tolerance_h=1.5))
    assert frames.shape == (4, 3, 32, 32) and frames[keys.mask].std() > 1
    if fmt == "gomez":
        assert rec.phases is not None and rec.phases.max() >= 0


def test_crop_fraction_keeps_the_centre_at_the_same_output_size(tmp_path) -> None:
    path = tmp_path / "A1-1.mp4"
    write_mp4(path, synthetic_frames(4, size=96), times=np.array([10.0, 20.0, 30.0, 40.0]))
    rec = open_recording(path)
    full, _ = rec.read_keyframes(KeyframeConfig(method="uniform", num_keyframes=2, size=80))
    crop, keys = rec.read_keyframes(KeyframeConfig(method="uniform", num_keyframes=2, size=48, crop_fraction=0.6))
    assert crop.shape == (2, 1, 48, 48) and keys.mask.all()
    centre = full[..., 16:64, 16:64].astype(float)  # 48 px in the middle of the same frames read at 80 px
    assert np.abs(crop.astype(float) - centre).mean() < 3
    with pytest.raises(ValueError, match="crop_fraction"):
        rec.read_keyframes(KeyframeConfig(num_keyframes=2, size=48, crop_fraction=1.5))
