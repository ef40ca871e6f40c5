"""``aivf build`` end to end: simulated cohorts (MP4 and Gomez layouts), the real samples, the CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from aivf.data.config import DataConfig, KeyframeConfig
from aivf.dataset.build import build_dataset
from aivf.dataset.config import DatasetConfig, SplitConfig

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "dataset"


def reload(out: str) -> datasets.Dataset:
    return datasets.load_dataset("parquet", data_files=f"{out}/data/*.parquet", split="train")


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["mp4", "gomez"])
def test_simulated_cohort_builds(layout, tmp_path):
    from aivf.sim.config import ImagingConfig, SimConfig
    from aivf.sim.simulate import simulate

    sim = SimConfig(num_patients=4, num_clinics=2, format=layout, workers=1, contact_sheet=False,
                    imaging=ImagingConfig(image_size=48, frame_interval_h=2.0))
    cohort = simulate(sim, tmp_path / "sim", seed=0, progress=False)
    cfg = DatasetConfig(embryos_per_shard=8, workers=0, splits=SplitConfig(num_folds=3))
    data = DataConfig(keyframes=KeyframeConfig(num_keyframes=8, size=32))
    report = build_dataset(cfg, cohort / "clinical.csv", str(tmp_path / "ds"), data, rank=0, world_size=1)
    clinical = pd.read_csv(cohort / "clinical.csv")
    assert report.complete and report.num_built + report.num_failed == len(clinical)
    assert report.num_built == len(clinical), report.failures
    ds = reload(str(tmp_path / "ds"))
    assert len(ds) == len(clinical) and ds.features["keyframes"].shape == (8, 1, 32, 32)
    assert sum(ds["keyframe_mask"][0]) >= 4  # the grid finds frames in a 0-120 hpi recording


@pytest.mark.skipif(not SHARED.exists(), reason="../shared (real samples) not present")
def test_real_samples_build(tmp_path):
    gomez = sorted(p.name for p in (SHARED / "data" / "gomez_sample").iterdir() if p.is_dir())
    rows = [{"embryo_id": v, "patient_id": v.rsplit("-", 1)[0], "clinic": "gomez", "recording": f"gomez_sample/{v}"}
            for v in gomez]
    csv = tmp_path / "gomez.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    cfg = DatasetConfig(recordings_root=str(SHARED / "data"), workers=0, splits=SplitConfig(num_folds=3))
    data = DataConfig(keyframes=KeyframeConfig(num_keyframes=8, size=32))
    report = build_dataset(cfg, csv, str(tmp_path / "gomez_ds"), data, rank=0, world_size=1)
    assert report.num_built == len(gomez) == 3, report.failures
    ds = reload(str(tmp_path / "gomez_ds"))
    assert set(ds["embryo_id"]) == set(gomez) and ds.features["keyframes"].shape == (8, 1, 32, 32)

    stills = sorted((SHARED / "data" / "stork_sample" / "train" / "good").glob("*_0_*.jpg"))[:3]
    rows = [{"embryo_id": p.name.split("_")[0], "patient_id": p.name.split("_")[0], "clinic": "stork",
             "recording": str(p)} for p in stills]
    pd.DataFrame(rows).to_csv(csv, index=False)
    cfg = DatasetConfig(workers=0, num_planes=7, min_frames=1, splits=SplitConfig(num_folds=3))
    data = DataConfig(keyframes=KeyframeConfig(method="uniform", num_keyframes=1, size=32))
    report = build_dataset(cfg, csv, str(tmp_path / "stork_ds"), data, rank=0, world_size=1)
    assert report.num_built == 3, report.failures
    assert reload(str(tmp_path / "stork_ds")).features["keyframes"].shape == (1, 7, 32, 32)


def test_config_files_validate():
    from aivf.config import load_config

    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.dataset.embryos_per_shard > 0 and cfg.data.keyframes.size > 0, path


def test_cli_build(cohort_csv, tmp_path, capsys):
    from aivf.dataset import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "cli_ds"
    args = parser.parse_args(["-c", str(CONFIGS / "tiny.yaml"), "--clinical", str(cohort_csv), "--out", str(out),
                              "data.keyframes.size=16", "dataset.splits.num_folds=3"])
    assert cli.run(args) == 0
    printed = capsys.readouterr().out
    assert "12 embryos" in printed and "corrupt: 1" in printed and "build_report.csv" in printed
    assert json.loads((out / "manifest.json").read_text())["keyframe_shape"] == [16, 1, 16, 16]
