"""``aivf build --gomez ROOT``: the public Gomez dataset's layout with all 7 planes, phases, grades, times."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aivf.data import PHASES
from aivf.dataset.gomez_table import GomezLayoutError, gomez_videos, write_gomez_clinical

PLANES = (-45, -30, -15, 0, 15, 30, 45)
RUNS = 30  # one frame every 4 h from 0.5 hpi: 0.5 ... 116.5
VIDEOS = ("AA1-1", "AA1-2", "BB2-1", "BB2-2", "CC3-1", "CC3-2-4")  # the last: <couple>-<cycle>-<embryo>


def write_gomez_root(root: Path) -> Path:
    """A Gomez dataset root with every part of the distributed layout; plane k's frames are 20 k grey levels brighter."""
    size = 40
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    for v, video in enumerate(VIDEOS):
        prefix = f"D2013.01.2{v}_S07{v}7_I132_WELL{v + 1}"
        for k, depth in enumerate(PLANES):
            folder = root / ("embryo_dataset" if depth == 0 else f"embryo_dataset_F{depth}") / video
            folder.mkdir(parents=True)
            for run in range(1, RUNS + 1):
                frame = np.full((size, size), 100, np.uint8)
                frame[disc] = 20 * k + 2 * run
                frame[:4] = 30  # not a blank frame
                Image.fromarray(frame).save(folder / f"{prefix}_RUN{run}.jpeg", quality=95)
        times = root / "embryo_dataset_time_elapsed"
        times.mkdir(exist_ok=True)
        rows = "\n".join(f"{r},{0.5 + 4 * (r - 1):.2f}" for r in range(1, RUNS + 1))
        (times / f"{video}_timeElapsed.csv").write_text(f"frame_index,time\n{rows}\n")
        notes = root / "embryo_dataset_annotations"
        notes.mkdir(exist_ok=True)
        (notes / f"{video}_phases.csv").write_text("tPB2,1,4\ntPNa,5,6\nt2,7,9\nt4,10,14\nt8,15,20\ntM,21,24\ntB,25,30\n")
    grades = ["video_name,TE,ICM"] + [f"{v},{'A' if i % 2 else 'B'},{'NA' if i == 0 else 'C'}"
                                      for i, v in enumerate(VIDEOS)]
    (root / "embryo_dataset_grades.csv").write_text("\n".join(grades) + "\n")
    return root


def test_clinical_table_of_the_layout(tmp_path):
    root = write_gomez_root(tmp_path / "gomez")
    assert gomez_videos(root) == sorted(VIDEOS)
    table = pd.read_csv(write_gomez_clinical(root, tmp_path / "t.csv"))
    assert table["patient_id"].tolist() == ["AA1", "AA1", "BB2", "BB2", "CC3", "CC3-2"]
    assert all(Path(p).is_dir() and Path(p).parent.name == "embryo_dataset" for p in table["recording"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(GomezLayoutError, match="no embryo_dataset/ folder"):
        gomez_videos(tmp_path / "empty")


@pytest.mark.slow
def test_build_gomez_layout_with_selected_planes(tmp_path, capsys):
    from aivf.dataset import cli

    root = write_gomez_root(tmp_path / "gomez")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "ds"
    args = parser.parse_args(["--gomez", str(root), "--out", str(out), "dataset.workers=0",
                              "dataset.splits.num_folds=3", "dataset.num_planes=3", "data.planes=[F0,F-15,F45]",
                              "data.keyframes.size=16", "data.keyframes.num_keyframes=8", "data.keyframes.start_hpi=4.0",
                              "data.keyframes.tolerance_h=2.0"])
    assert cli.run(args) == 0, capsys.readouterr().out
    assert "6 embryos" in capsys.readouterr().out
    ds = datasets.load_dataset("parquet", data_files=f"{out}/data/*.parquet", split="train")
    assert json.loads((out / "manifest.json").read_text())["keyframe_shape"] == [8, 3, 16, 16]
    row = ds.filter(lambda r: r["embryo_id"] == "AA1-2")[0]
    frames = np.asarray(row["keyframes"], dtype=np.int16)  # (K, P, H, W)
    centre = frames[np.asarray(row["keyframe_mask"]), :, 8, 8]  # present keyframes only (missing ones are zeros)
    # planes in the order asked: F0 (k=3), F-15 (k=2), F45 (k=6): 20 grey levels per plane step
    assert np.allclose(centre[:, 1] - centre[:, 0], -20, atol=4) and np.allclose(centre[:, 2] - centre[:, 0], 60, atol=4)
    hpi = np.asarray(row["keyframe_hpi"])
    labels = np.asarray(row["phase_labels"])
    runs = np.round((hpi - 0.5) / 4).astype(int) + 1  # the time file: run r at 0.5 + 4 (r - 1) hpi
    expected = np.select([runs <= 4, runs <= 6, runs <= 9, runs <= 14, runs <= 20, runs <= 24],
                         [PHASES.index(p) for p in ("tPB2", "tPNa", "t2", "t4", "t8", "tM")], PHASES.index("tB"))
    present = np.asarray(row["keyframe_mask"])
    assert present.sum() >= 6 and np.array_equal(labels[present], expected[present])
    grades = ds.to_pandas().set_index("embryo_id")[["te_d5", "icm_d5"]]
    assert grades.loc["AA1-2"].tolist() == ["A", "C"]
    assert grades.loc["AA1-1", "te_d5"] == "B" and pd.isna(grades.loc["AA1-1", "icm_d5"])  # NA in the grades file
