"""A tiny cohort of MP4 recordings written with PyAV (plus a corrupt, a missing and a too-short one)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from aivf.data.config import DataConfig, KeyframeConfig
from aivf.dataset.config import DatasetConfig, SplitConfig

SIZE, FRAMES, INTERVAL_H = 32, 30, 4.0  # 30 frames 4 h apart: 0-116 hpi


def write_video(path: Path, num_frames: int, seed: int) -> None:
    """A gray MP4 of a bright disc drifting on a noisy background, and its frame-time CSV."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=4)
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for t in range(num_frames):
            cx, cy = 16 + 4 * np.sin(t / 5 + seed), 16 + 4 * np.cos(t / 7)
            img = 60 + 120 * (((xx - cx) ** 2 + (yy - cy) ** 2) < (6 + t / 10) ** 2) + rng.integers(0, 20, (SIZE, SIZE))
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="gray")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    times = pd.DataFrame({"frame_index": np.arange(num_frames), "time_hpi": np.arange(num_frames) * INTERVAL_H})
    times.to_csv(path.with_suffix(".csv"), index=False)


def write_cohort(root: Path, num_patients: int = 6) -> Path:
    """clinical.csv + videos/ for ``num_patients`` x 2 embryos in 2 clinics; returns the CSV path."""
    (root / "videos").mkdir(parents=True, exist_ok=True)
    pgts = ["euploid", "aneuploid", "mosaic", "no_result", "", ""]
    rows = []
    for p in range(num_patients):
        for k in (1, 2):
            eid = f"C{p % 2 + 1}P{p:04d}-{k}"
            write_video(root / "videos" / f"{eid}.mp4", FRAMES, seed=p * 10 + k)
            rows.append({
                "embryo_id": eid, "patient_id": f"C{p % 2 + 1}P{p:04d}", "clinic": f"C{p % 2 + 1}",
                "maternal_age": 30 + p, "method": "ICSI" if p % 2 else "IVF", "policy": "day5",
                "transferred": int(k == 1), "transfer_day": 5 if k == 1 else "", "biopsied": int(p < 4),
                "d3_fhb": "", "d5_fhb": (p % 2) if k == 1 else "", "pgt": pgts[p % 6] if p < 4 else "",
                "recording": f"videos/{eid}.mp4",
            })
    # one embryo has an embryologist's phase annotation (Gomez format, 1-based frames): tPB2 to 36 hpi, then t2
    (root / "videos" / "C1P0000-1_phases.csv").write_text(f"tPB2,1,10\nt2,11,{FRAMES}\n")
    (root / "videos" / "BAD-1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video" * 20)
    write_video(root / "videos" / "SHORT-1.mp4", 3, seed=99)
    extra = [("BAD-1", "videos/BAD-1.mp4"), ("GONE-1", "videos/GONE-1.mp4"), ("SHORT-1", "videos/SHORT-1.mp4")]
    for eid, rec in extra:
        rows.append({**rows[0], "embryo_id": eid, "patient_id": eid.split("-")[0], "recording": rec})
    csv = root / "clinical.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    return csv


def tiny_configs(**overrides) -> tuple[DatasetConfig, DataConfig]:
    cfg = DatasetConfig(embryos_per_shard=4, workers=0, splits=SplitConfig(num_folds=3), **overrides)
    data = DataConfig(keyframes=KeyframeConfig(num_keyframes=8, start_hpi=4.0, cutoff_hpi=116.0, size=SIZE))
    return cfg, data


@pytest.fixture(scope="session")
def cohort_csv(tmp_path_factory) -> Path:
    return write_cohort(tmp_path_factory.mktemp("cohort"))


@pytest.fixture(scope="session")
def built(cohort_csv, tmp_path_factory) -> str:
    """A dataset built once for the loader tests (15 CSV rows, 12 good embryos, 4 shards)."""
    from aivf.dataset.build import build_dataset

    out = str(tmp_path_factory.mktemp("built") / "ds")
    cfg, data = tiny_configs()
    build_dataset(cfg, cohort_csv, out, data, rank=0, world_size=1)
    return out
