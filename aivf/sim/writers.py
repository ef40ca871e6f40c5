"""Write rendered recordings in the layouts real data arrives in (../shared/docs/formats.md).

* MP4: ``videos/<embryo_id>.mp4`` (H.264, gray, written with PyAV) plus ``<embryo_id>.csv`` with
  ``frame_index,time_hpi`` (0-based) and ``<embryo_id>_phases.csv`` (the embryologist's per-frame phase
  annotation, Gomez format: phase,first,last with 1-based frame numbers). Extra focal planes go to ``<embryo_id>_F<µm>.mp4`` (same
  frame times), named like the Gomez plane folders.
* Gomez: ``gomez/embryo_dataset[_F<µm>]/<video>/<prefix>_RUN<k>.jpeg`` (k 1-based),
  ``embryo_dataset_time_elapsed/<video>_timeElapsed.csv``, ``embryo_dataset_annotations/<video>_phases.csv``
  and ``embryo_dataset_grades.csv``.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from aivf.sim.render import PLANE_OFFSETS_UM
from aivf.sim.types import EVENTS, EmbryoTruth

MP4_FPS = 8  # nominal playback rate; the real frame times live in the CSV
MP4_CRF = 26  # x264 quality: decoded error ~2.6 grey levels (below the sensor noise), ~1.8 MB per 256-px video
MP4_PRESET = "ultrafast"  # the speed budget (~2.5 ms per frame all-in) rules out slower presets
# A keyframe every 16 frames, at fixed positions: training reads 16 frames spread over the video
# (decord get_batch), and each one then decodes at most 15 frames after its keyframe instead of
# the whole default 250-frame GOP. scenecut=0 stops x264 from adding or moving keyframes.
MP4_KEYINT = 16
JPEG_QUALITY = 90


def plane_suffix(plane: int) -> str:
    """Folder/file suffix of a focal plane: '' for the central plane, else e.g. '_F-15'."""
    offset = PLANE_OFFSETS_UM[plane]
    return "" if offset == 0 else f"_F{offset}"


def write_mp4(path: str | Path, frames: np.ndarray, threads: int = 1) -> Path:
    """Encode gray frames as an H.264 MP4 (gray pix_fmt, High 4:0:0; decord reads it frame-exact).

    A keyframe every ``MP4_KEYINT`` frames keeps random access cheap.

    Args:
        path: output file.
        frames: uint8 (T, H, W); H and W must be even.
        threads: x264 threads (1 inside worker processes, so workers do not oversubscribe cores).
    """
    path = Path(path)
    count, height, width = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 needs an even frame size, got {height}x{width}")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=MP4_FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "gray"
        stream.options = {
            "crf": str(MP4_CRF), "preset": MP4_PRESET, "g": str(MP4_KEYINT),
            "x264-params": f"keyint={MP4_KEYINT}:min-keyint={MP4_KEYINT}:scenecut=0",
        }
        stream.codec_context.gop_size = MP4_KEYINT
        stream.thread_count = threads
        # H.264 luma is "TV range" (16-235): decoders such as decord expand it back to 0-255, so we
        # compress the range here; otherwise every decoded frame comes back ~13% too contrasty.
        lut = np.round(16 + np.arange(256) * (219 / 255)).astype(np.uint8)
        for frame in frames:
            tv = lut[np.ascontiguousarray(frame)]
            for packet in stream.encode(av.VideoFrame.from_ndarray(tv, format="gray")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_times(path: str | Path, times: np.ndarray, index_base: int = 0, time_column: str = "time_hpi") -> Path:
    """CSV ``frame_index,<time_column>`` with one row per frame (index from ``index_base``)."""
    path = Path(path)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame_index", time_column])
        for i, hpi in enumerate(times):
            writer.writerow([i + index_base, f"{hpi:.4f}"])
    return path


def write_mp4_recording(out_dir: str | Path, embryo_id: str, video: np.ndarray, times: np.ndarray,
                        threads: int = 1, events: dict[str, float] | None = None) -> str:
    """Write ``videos/<id>.mp4`` (+ one MP4 per extra plane), ``videos/<id>.csv`` and ``<id>_phases.csv``.

    Args:
        video: uint8 (T, P, H, W).
        times: float64 (T,) hpi.
        events: morphokinetic event times (hpi) for the phase annotation; None writes none.

    Returns:
        The central-plane MP4's path relative to ``out_dir``.
    """
    folder = Path(out_dir) / "videos"
    folder.mkdir(parents=True, exist_ok=True)
    for plane in range(video.shape[1]):
        write_mp4(folder / f"{embryo_id}{plane_suffix(plane)}.mp4", video[:, plane], threads)
    write_frame_times(folder / f"{embryo_id}.csv", times)
    if events is not None:  # annotated like real clinics do for every embryo (what is visible, not the outcome)
        with (folder / f"{embryo_id}_phases.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(phase_rows(events, times))
    return f"videos/{embryo_id}.mp4"


def gomez_prefix(truth: EmbryoTruth) -> str:
    """EmbryoScope-style file prefix ``D<YYYY.MM.DD>_S<slide>_I<inst>_WELL<w>``, stable per embryo.

    Siblings share the date and slide (one patient = one culture slide); the well is the embryo number.
    """
    key = zlib.crc32(truth.patient_id.encode())
    year, month, day = 2013 + key % 8, 1 + (key >> 3) % 12, 1 + (key >> 7) % 28
    instrument = 100 + zlib.crc32(truth.clinic.encode()) % 900
    well = truth.embryo_id.rsplit("-", 1)[-1]
    well = well if well.isdigit() else str(1 + zlib.crc32(truth.embryo_id.encode()) % 12)
    return f"D{year}.{month:02d}.{day:02d}_S{1000 + key % 9000:04d}_I{instrument}_WELL{well}"


def phase_rows(events: dict[str, float], times: np.ndarray) -> list[tuple[str, int, int]]:
    """Gomez ``_phases.csv`` rows: (phase, first frame, last frame), 1-based inclusive.

    Phase tX starts at the first frame whose time is >= tX and ends before the next phase that
    starts later; phases with no frame (skipped, e.g. t3 in direct cleavage, or after the end of
    the recording) are left out, as in the real annotations.
    """
    starts = []
    for name in EVENTS:
        if name in events:
            first = int(np.searchsorted(times, events[name] - 1e-9))
            if first < len(times):
                starts.append((name, first + 1))
    rows = []
    for i, (name, start) in enumerate(starts):
        following = [s for _, s in starts[i + 1:] if s > start]
        end = (following[0] - 1) if following else len(times)
        later_same = any(s == start for _, s in starts[i + 1:])
        if not later_same:  # when two events fall in one frame the later phase owns it
            rows.append((name, start, end))
    return rows


def write_gomez_recording(gomez_dir: str | Path, truth: EmbryoTruth, video: np.ndarray, times: np.ndarray) -> str:
    """Write one embryo in the Gomez layout; returns the central-plane folder relative to the cohort folder.

    Args:
        gomez_dir: the ``<out>/gomez`` folder.
        video: uint8 (T, P, H, W).
        times: float64 (T,) hpi.
    """
    gomez_dir = Path(gomez_dir)
    video_name, prefix = truth.embryo_id, gomez_prefix(truth)
    for plane in range(video.shape[1]):
        folder = gomez_dir / f"embryo_dataset{plane_suffix(plane)}" / video_name
        folder.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(video[:, plane], start=1):
            Image.fromarray(frame).save(folder / f"{prefix}_RUN{k}.jpeg", quality=JPEG_QUALITY)
    times_dir = gomez_dir / "embryo_dataset_time_elapsed"
    times_dir.mkdir(parents=True, exist_ok=True)
    write_frame_times(times_dir / f"{video_name}_timeElapsed.csv", times, index_base=1, time_column="time")
    phases_dir = gomez_dir / "embryo_dataset_annotations"
    phases_dir.mkdir(parents=True, exist_ok=True)
    with (phases_dir / f"{video_name}_phases.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(phase_rows(truth.events, times))
    return f"gomez/embryo_dataset/{video_name}"


def write_gomez_grades(gomez_dir: str | Path, truths: list[EmbryoTruth]) -> Path:
    """``embryo_dataset_grades.csv``: video_name, TE, ICM (A/B/C, or NA without a full blastocyst)."""
    path = Path(gomez_dir) / "embryo_dataset_grades.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_name", "TE", "ICM"])
        for truth in truths:
            writer.writerow([truth.embryo_id, truth.te_grade or "NA", truth.icm_grade or "NA"])
    return path
