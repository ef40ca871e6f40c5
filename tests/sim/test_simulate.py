"""End to end: ``aivf simulate`` writes a cohort folder in both formats; failures are recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import decord
import numpy as np
import pandas as pd
import pytest

import aivf.sim.simulate as simulate_module
from aivf.cli import main
from aivf.sim.config import ImagingConfig, SimConfig
from aivf.sim.render import frame_times
from aivf.sim.simulate import simulate

SMALL = ["sim.num_patients=2", "sim.num_clinics=2", "sim.imaging.image_size=48",
         "sim.imaging.frame_interval_h=2.0", "sim.workers=2"]


@pytest.mark.parametrize("fmt", ["mp4", "gomez"])
def test_aivf_simulate_end_to_end(tmp_path, fmt, capsys):
    code = main(["simulate", "--no-progress", f"output_dir={tmp_path}", "name=e2e", f"sim.format={fmt}", *SMALL])
    assert code == 0
    out = tmp_path / "e2e" / "sim"
    assert str(out) in capsys.readouterr().out
    for name in ("clinical.csv", "truth.csv", "config.yaml", "failures.csv", "contact_sheet.png"):
        assert (out / name).is_file(), name
    clinical = pd.read_csv(out / "clinical.csv")
    truth = pd.read_csv(out / "truth.csv")
    assert len(clinical) == len(truth) > 0 and set(clinical.embryo_id) == set(truth.embryo_id)
    assert pd.read_csv(out / "failures.csv").empty
    assert "image_size: 48" in (out / "config.yaml").read_text()
    for rel in clinical.recording:
        path = out / rel
        if fmt == "mp4":
            times = pd.read_csv(path.with_suffix(".csv"))
            assert len(decord.VideoReader(str(path))) == len(times)
            assert times.time_hpi.is_monotonic_increasing
        else:
            runs = list(path.glob("*.jpeg"))
            elapsed = out / "gomez" / "embryo_dataset_time_elapsed" / f"{path.name}_timeElapsed.csv"
            assert len(runs) == len(pd.read_csv(elapsed)) > 0
    if fmt == "gomez":
        assert (out / "gomez" / "embryo_dataset_grades.csv").is_file()


def test_deterministic_regardless_of_worker_count(tmp_path):
    imaging = ImagingConfig(image_size=32, frame_interval_h=4.0)
    base = SimConfig(num_patients=2, num_clinics=1, imaging=imaging, contact_sheet=False)
    one = simulate(dataclasses.replace(base, workers=1), tmp_path / "one", seed=3, progress=False)
    two = simulate(dataclasses.replace(base, workers=2), tmp_path / "two", seed=3, progress=False)
    assert (one / "clinical.csv").read_text() == (two / "clinical.csv").read_text()
    assert (one / "truth.csv").read_text() == (two / "truth.csv").read_text()
    for video in sorted((one / "videos").glob("*.mp4")):
        a = decord.VideoReader(str(video)).get_batch([0, 5]).asnumpy()
        b = decord.VideoReader(str(two / "videos" / video.name)).get_batch([0, 5]).asnumpy()
        assert np.array_equal(a, b), video.name


def test_failed_embryo_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    real = simulate_module.EmbryoRenderer
    broken: list[str] = []

    def flaky(truth, imaging):
        if not broken:
            broken.append(truth.embryo_id)
            raise RuntimeError("simulated renderer crash")
        return real(truth, imaging)

    monkeypatch.setattr(simulate_module, "EmbryoRenderer", flaky)
    cfg = SimConfig(num_patients=2, num_clinics=1, workers=1, contact_sheet=False,
                    imaging=ImagingConfig(image_size=32, frame_interval_h=4.0))
    out = simulate(cfg, tmp_path / "c", seed=1, progress=False)
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures.embryo_id) == broken and "simulated renderer crash" in failures.error[0]
    clinical = pd.read_csv(out / "clinical.csv", keep_default_na=False)
    assert clinical.set_index("embryo_id").loc[broken[0], "recording"] == ""
    assert (clinical.recording != "").sum() == len(clinical) - 1


def test_contact_sheet_without_real_sample(tmp_path):
    from PIL import Image

    from aivf.sim.contact_sheet import write_contact_sheet
    from aivf.sim.types import EmbryoTruth

    truth = EmbryoTruth("C1P0001-1", "C1P0001", "C1", 34.0, "ICSI", "euploid", 0.0,
                        {"tPB2": 3.0, "t2": 25.0, "t4": 37.0, "t8": 55.0}, 0.0)
    path = write_contact_sheet(tmp_path / "sheet.png", truth, ImagingConfig(image_size=64),
                               real_sample_dir=tmp_path / "absent")
    image = Image.open(path)
    assert image.size[0] > 10 * 150 and image.size[1] > 2 * 150
    assert frame_times(truth, ImagingConfig()).size > 0


def test_real_sample_row_when_present(tmp_path):
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    if not shared.is_dir():
        pytest.skip("../shared (real samples) is absent")
    from aivf.sim.contact_sheet import _real_frames

    frames = _real_frames(shared / "data" / "gomez_sample")
    assert len(frames) > 100 and frames[0].name.endswith("_RUN1.jpeg")


def test_truth_oracle_follows_the_configs_keyframe_grid(tmp_path):
    base = ["simulate", "--no-progress", f"output_dir={tmp_path}", "sim.format=none", "sim.num_patients=8",
            "sim.contact_sheet=false"]
    assert main([*base, "name=default"]) == 0
    assert main([*base, "name=short", "data.keyframes.cutoff_hpi=66.0", "data.keyframes.num_keyframes=8"]) == 0
    assert main([*base, "name=content", "data.keyframes.method=content"]) == 0
    default, short, content = (pd.read_csv(tmp_path / name / "sim" / "truth.csv") for name in ("default", "short", "content"))
    kf = [c for c in default.columns if "_kf" in c]
    assert len(kf) == 6 and not any("_kf" in c for c in content.columns)  # content keyframes depend on pixels
    pd.testing.assert_frame_equal(default[content.columns], content)
    pd.testing.assert_frame_equal(short[content.columns], content)
    # a grid ending at 66 h sees no day 5: its day-5 oracle is its day-3 one, and differs from the default grid's
    np.testing.assert_allclose(short.p_fhb_d5_kf, short.p_fhb_d3_kf)
    assert not np.allclose(default.p_fhb_d5_kf, short.p_fhb_d5_kf)
