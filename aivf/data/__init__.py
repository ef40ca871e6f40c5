"""Reading time-lapse recordings and choosing keyframes.

``open_recording(path)`` detects the layout and returns a lazy :class:`Recording` (frame times
known without decoding; ``read(indices, size)`` decodes only those frames). ``load_record`` reads
everything into a :class:`TimelapseRecord`. ``select_keyframes`` picks K frames from the times.

Layouts (``DataConfig.format``; ``auto`` detects):

- ``video``: a video file (MP4, AVI ...) with ``<stem>.csv`` frame times (``aivf.data.video``);
- ``gomez``: a Gomez-dataset video folder (``aivf.data.gomez``);
- ``embryoscope``: an EmbryoScope export folder with a run table or plane folders (``aivf.data.embryoscope``);
- ``stills``: multi-plane still images, T = 1 (``aivf.data.stills``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from aivf.data.config import DataConfig, KeyframeConfig
from aivf.data.embryoscope import is_embryoscope_folder, open_embryoscope
from aivf.data.gomez import PHASES, RUN_RE, open_gomez
from aivf.data.keyframes import Keyframes, frame_change, select_keyframes
from aivf.data.record import (
    FrameTimeError,
    Recording,
    RecordingError,
    RecordingWarning,
    TimelapseRecord,
)
from aivf.data.stills import STILL_RE, list_stills, open_stills
from aivf.data.video import PLANE_FILE_RE, VIDEO_SUFFIXES, VideoRecording

__all__ = [
    "PHASES", "DataConfig", "FrameTimeError", "KeyframeConfig", "Keyframes", "Recording", "RecordingError",
    "RecordingWarning", "TimelapseRecord", "detect_format", "find_recordings", "frame_change", "list_stills",
    "load_record",
    "open_recording", "select_keyframes",
]


def detect_format(path: str | Path) -> str:
    """The layout of ``path``: video, gomez, embryoscope or stills (raises RecordingError if none fits)."""
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return "video"
        if STILL_RE.match(path.name):
            return "stills"
        raise RecordingError(f"{path}: not a video ({', '.join(VIDEO_SUFFIXES)}) nor a still named "
                             "<id>_<plane>_<grade>.jpg")
    if not path.is_dir():
        raise RecordingError(f"{path}: recording not found")
    if is_embryoscope_folder(path):
        return "embryoscope"
    names = [p.name for p in path.iterdir()]
    if any(RUN_RE.match(n) for n in names):
        return "gomez"
    if any(STILL_RE.match(n) for n in names):
        return "stills"
    raise RecordingError(f"{path}: no *_RUN<k>.jpeg frames, plane folders or <id>_<plane>_<grade>.jpg stills "
                         "found; pass data.format= to force a layout")


def find_recordings(root: str | Path) -> list[Path]:
    """Every embryo recording under ``root``, as paths ``open_recording`` accepts (sorted).

    One entry per embryo: a central-plane video (``<id>_F<µm>`` plane files are folded into it),
    a Gomez video folder (``embryo_dataset/<video>``; the plane copies and ``F0/`` duplicates are
    not listed again), an EmbryoScope export folder, or one image per multi-plane still embryo.
    """
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs.sort()
        if here.name.startswith("embryo_dataset_F"):
            dirs.clear()  # the other focal planes of the Gomez videos listed under embryo_dataset/
            continue
        if any(RUN_RE.match(f) for f in files) or (dirs and _looks_like_export(here)):
            found.append(here)
            dirs.clear()  # its subfolders are planes of this embryo (or a duplicate F0/)
            continue
        names = set(files)
        for name in files:
            stem, suffix = os.path.splitext(name)
            plane = PLANE_FILE_RE.match(stem)
            if suffix.lower() in VIDEO_SUFFIXES and not (plane and plane["base"] + suffix in names):
                found.append(here / name)
        for planes in list_stills(here).values() if any(STILL_RE.match(f) for f in files) else []:
            found.append(min(planes.values()))
    return sorted(found)


def _looks_like_export(folder: Path) -> bool:
    """``is_embryoscope_folder``, listing a folder with a broken run table too: opening it then names the file."""
    try:
        return is_embryoscope_folder(folder)
    except RecordingError:
        return True


def open_recording(path: str | Path, cfg: DataConfig | None = None, **opts: Any) -> Recording:
    """Open one embryo's recording lazily, whatever its layout.

    Args:
        path: video file, Gomez video folder, EmbryoScope export folder, stills folder or still image.
        cfg: reader settings (default ``DataConfig()``).
        **opts: overrides of ``DataConfig`` fields (``frame_interval_h=0.2``, ``planes=["F0"]`` ...),
            plus ``embryo_id=`` (stills folders, or to rename) and ``times_csv=`` (videos).

    Returns:
        A Recording: ``embryo_id``, ``times_hpi`` float64 (T,), ``num_planes``,
        ``read(indices, size=None) -> uint8 (N, P, H, W)``, ``read_at_hpi(hpi, tolerance_h)``.

    Raises:
        RecordingError: unreadable or unrecognised input; the message names the path.
    """
    embryo_id = opts.pop("embryo_id", None)
    times_csv = opts.pop("times_csv", None)
    cfg = dataclasses.replace(cfg or DataConfig(), **opts) if opts else (cfg or DataConfig())
    try:
        return _open(Path(path), cfg, embryo_id, times_csv)
    except RecordingError:
        raise
    except Exception as err:  # a reader's unforeseen failure (PIL, pandas, decord ...): keep the promise
        raise RecordingError(f"{path}: cannot read the recording: {type(err).__name__}: {err}") from err


def _open(path: Path, cfg: DataConfig, embryo_id: str | None, times_csv: str | None) -> Recording:
    fmt = detect_format(path) if cfg.format == "auto" else cfg.format
    if fmt == "video":
        return VideoRecording(path, cfg, times_csv=times_csv, embryo_id=embryo_id)
    if fmt == "gomez":
        recording = open_gomez(path, cfg)
    elif fmt == "embryoscope":
        recording = open_embryoscope(path, cfg, embryo_id=embryo_id)
    elif fmt == "stills":
        return open_stills(path, cfg, embryo_id=embryo_id)
    else:
        raise RecordingError(f"{path}: unknown data.format {fmt!r}")
    if embryo_id:
        recording.embryo_id = embryo_id
    return recording


def load_record(path: str | Path, cfg: DataConfig | None = None, size: int | tuple[int, int] | None = None,
                **opts: Any) -> TimelapseRecord:
    """Read a whole recording: ``open_recording(path, cfg, **opts).load(size)``; frames uint8 (T, P, H, W)."""
    with open_recording(path, cfg, **opts) as recording:
        return recording.load(size)
