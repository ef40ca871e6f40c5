"""Multi-focal-plane still images (T = 1), e.g. the STORK blastocysts in ../shared/data/stork_sample.

File names ``[<label>_]<id>_<plane>_<gardner>.jpg`` (``36338476_-15_3AA.jpg``,
``good_23765483_0_3AA.jpg``); the class label comes from the name prefix or the parent folder
(``good``/``poor``). Several embryos share a folder, so an embryo is opened by folder + id, or by
the path of any one of its images.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from aivf.data.config import DataConfig
from aivf.data.record import ImageFilesRecording, RecordingError, plane_name, plane_order

STILL_RE = re.compile(
    r"^(?:(?P<label>good|poor)_)?(?P<id>[^_]+)_(?P<plane>[+-]?\d+)_(?P<grade>[^.]+)\.(?:jpe?g|png|tiff?)$", re.I
)
LABELS = ("good", "poor")


def list_stills(folder: str | Path) -> dict[str, dict[str, Path]]:
    """``embryo_id -> {plane: file}`` for the still images directly in ``folder``."""
    embryos: dict[str, dict[str, Path]] = {}
    for path in sorted(Path(folder).iterdir()):
        match = STILL_RE.match(path.name)
        if match and path.is_file():
            embryos.setdefault(match["id"], {})[plane_name(match["plane"])] = path
    return embryos


class StillsRecording(ImageFilesRecording):
    """One embryo photographed once at several focal planes: T = 1, P = planes."""

    source = "stills"


def open_stills(path: str | Path, cfg: DataConfig | None = None, embryo_id: str | None = None) -> StillsRecording:
    """Open one embryo's stills.

    Args:
        path: a folder (with ``embryo_id``, or holding a single embryo) or one image of the embryo.
        cfg: ``planes`` (default all, ordered by depth) and ``stills_hpi`` (the time given to T = 1).
        embryo_id: which embryo of the folder.

    Returns:
        StillsRecording with ``meta["gardner"]`` (e.g. ``3AA``) and ``meta["label"]`` (good/poor or None).
    """
    cfg = cfg or DataConfig()
    path = Path(path)
    if path.is_file():
        match = STILL_RE.match(path.name)
        if not match:
            raise RecordingError(f"{path}: not a still image named <id>_<plane>_<grade>.jpg")
        embryo_id, folder = embryo_id or match["id"], path.parent
    elif path.is_dir():
        folder = path
    else:
        raise RecordingError(f"{path}: stills file or folder not found")
    embryos = list_stills(folder)
    if embryo_id is None:
        if len(embryos) != 1:
            raise RecordingError(f"{folder}: holds {len(embryos)} embryos ({sorted(embryos)[:5]} ...); "
                                 "pass embryo_id= or the path of one image")
        embryo_id = next(iter(embryos))
    if embryo_id not in embryos:
        raise RecordingError(f"{folder}: no still images of embryo {embryo_id!r}")
    planes = embryos[embryo_id]
    names = [plane_name(p) for p in cfg.planes] or sorted(planes, key=plane_order)
    missing = [p for p in names if p not in planes]
    if missing:
        raise RecordingError(f"{folder}: embryo {embryo_id} lacks plane(s) {missing} (has {sorted(planes)})")
    files = [[planes[p] for p in names]]
    recording = StillsRecording(embryo_id, np.array([cfg.stills_hpi]), names, folder, files)
    first = STILL_RE.match(files[0][0].name)
    label = (first["label"] or (folder.name if folder.name.lower() in LABELS else None)) if first else None
    recording.meta.update(gardner=first["grade"] if first else None, label=label.lower() if label else None,
                          stills_hpi_assumed=cfg.stills_hpi)
    grades = {STILL_RE.match(f.name)["grade"] for f in planes.values()}
    if len(grades) > 1:
        recording.report("inconsistent_grade", f"planes disagree on the grade: {sorted(grades)}")
    return recording
