"""The public Gomez et al. dataset as distributed, as a clinical table ``aivf build`` reads (issue 16 item 2).

The dataset has no clinical table: its labels live beside the frames (formats.md section 1)::

    <root>/embryo_dataset/<video>/            central plane F0 (one folder per video)
    <root>/embryo_dataset_F-45/ ... _F45/     the six other focal planes, same video folders
    <root>/embryo_dataset_annotations/<video>_phases.csv
    <root>/embryo_dataset_time_elapsed/<video>_timeElapsed.csv
    <root>/embryo_dataset_grades.csv

The Gomez reader (``aivf.data.gomez``) already finds the planes, phases, times and grades from a video
folder, so the build needs only one row per video: ``embryo_id`` = video, ``patient_id`` = the video id
before its last dash (the dataset's documented naming ``<couple>[-<cycle>]-<embryo>``: siblings stay in
one split), ``clinic`` = ``gomez``, ``recording`` = the video's central-plane folder (absolute). There are
no outcomes; the shards carry the per-keyframe phase labels and the TE/ICM grades. Which planes are
stored is ``data.planes`` (e.g. ``[F0, F-15, F15]``) with ``dataset.num_planes``.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

PLANE_FOLDERS = ("embryo_dataset_F-45", "embryo_dataset_F-30", "embryo_dataset_F-15", "embryo_dataset_F15",
                 "embryo_dataset_F30", "embryo_dataset_F45")
LABEL_PARTS = ("embryo_dataset_annotations", "embryo_dataset_time_elapsed", "embryo_dataset_grades.csv")


class GomezLayoutError(RuntimeError):
    """The folder is not the Gomez dataset's root (no ``embryo_dataset/`` with video folders)."""


def gomez_videos(root: str | Path) -> list[str]:
    """The video ids of a Gomez dataset root, sorted; warns about the parts of the layout that are absent."""
    root = Path(root)
    central = root / "embryo_dataset"
    if not central.is_dir():
        raise GomezLayoutError(f"{root}: no embryo_dataset/ folder; pass the folder that holds embryo_dataset/, "
                               "embryo_dataset_annotations/, embryo_dataset_time_elapsed/ ... (formats.md section 1)")
    videos = sorted(p.name for p in central.iterdir() if p.is_dir())
    if not videos:
        raise GomezLayoutError(f"{central}: no video folders")
    absent = [name for name in (*LABEL_PARTS, *PLANE_FOLDERS) if not (root / name).exists()]
    if absent:
        effects = [effect for part, effect in zip(LABEL_PARTS, ("no phase labels", "constant-interval times",
                                                                "no grades")) if part in absent]
        if any(p in absent for p in PLANE_FOLDERS):
            effects.append("only the planes found (data.planes must name planes that exist)")
        warnings.warn(f"{root}: {', '.join(absent)} absent; the build goes on without them ({'; '.join(effects)})",
                      stacklevel=2)
    return videos


def write_gomez_clinical(root: str | Path, csv_path: str | Path) -> Path:
    """Write the clinical table of a Gomez dataset root (one row per video; module docstring) to ``csv_path``."""
    root, csv_path = Path(root).resolve(), Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["embryo_id", "patient_id", "clinic", "recording"])
        for video in gomez_videos(root):
            patient = video.rsplit("-", 1)[0] if "-" in video else video
            writer.writerow([video, patient, "gomez", str(root / "embryo_dataset" / video)])
    return csv_path
