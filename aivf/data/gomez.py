"""Gomez et al. 2022 dataset folders (formats.md section 1) and the shared JPEG-per-run machinery.

Layout (``<root>`` optional; a bare ``<video>/`` folder of JPEGs also works, as one plane)::

    <root>/embryo_dataset/<video>/<prefix>_RUN<k>.jpeg          central plane F0
    <root>/embryo_dataset_F-45/ ... _F45/<video>/...             other planes
    <root>/embryo_dataset_annotations/<video>_phases.csv        no header: phase,start_frame,end_frame
    <root>/embryo_dataset_time_elapsed/<video>_timeElapsed.csv  header: frame_index,time (hpi)

``k`` is 1-based and equals the CSVs' frame index. Defects handled and reported: missing runs (the
times keep the gap), truncated JPEGs, a duplicate ``<video>/F0/`` subfolder, blank tail frames,
time files with more rows than images.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from aivf.data.config import DataConfig
from aivf.data.record import ImageFilesRecording, RecordingError, jpeg_is_truncated, plane_name, plane_order
from aivf.data.table import TableError, read_cells
from aivf.data.video import read_time_csv
from aivf.sim.types import EVENTS

PHASES = EVENTS  # the 16 Gomez phase classes, in developmental order; a frame's label is the index here
RUN_RE = re.compile(r"^(?P<prefix>.+?)_RUN(?P<run>\d+)(?:_(?:F|FP|FOCAL)?(?P<plane>[+-]?\d+))?\.jpe?g$", re.I)


def scan_runs(folder: Path) -> dict[str, dict[int, Path]]:
    """``plane -> {run: file}`` of the ``*_RUN<k>.jpeg`` files directly in ``folder``.

    Files without a plane token in the name belong to plane ``F0``.
    """
    planes: dict[str, dict[int, Path]] = {}
    for path in folder.iterdir():
        match = RUN_RE.match(path.name)
        if match and path.is_file():
            plane = plane_name(match["plane"]) if match["plane"] is not None else "F0"
            planes.setdefault(plane, {})[int(match["run"])] = path
    return planes


def read_phases(path: Path, runs: np.ndarray) -> np.ndarray:
    """int64 (T,) phase label of each run (index into PHASES; -1 outside every annotated range)."""
    labels = np.full(len(runs), -1, dtype=np.int64)
    try:
        _, rows = read_cells(path, names=["phase", "start_frame", "end_frame"])
    except (TableError, OSError) as err:
        raise RecordingError(f"{path}: cannot read the phase annotation: {err}") from None
    for line, (phase, start, end) in rows:
        phase = str(phase).strip()
        if phase not in PHASES:
            raise RecordingError(f"{path}: line {line}: unknown phase {phase!r}; expected one of {', '.join(PHASES)}")
        try:
            first, last = int(start), int(end)
        except ValueError:
            raise RecordingError(f"{path}: line {line}: frames {start!r}..{end!r} are not whole frame numbers") from None
        labels[(runs >= first) & (runs <= last)] = PHASES.index(phase)
    return labels


class RunsRecording(ImageFilesRecording):
    """JPEG-per-run recording; ``runs`` (T,) holds each frame's 1-based RUN number."""

    def __init__(self, embryo_id: str, path: Path, plane_files: dict[str, dict[int, Path]],
                 run_times: pd.Series | None, cfg: DataConfig, source: str, time_file: str = "") -> None:
        """Assemble a recording from per-plane run files and an optional ``run -> hpi`` table.

        Args:
            embryo_id: the embryo's id.
            path: folder reported in messages.
            plane_files: ``plane -> {run: jpeg}``.
            run_times: hpi indexed by run, or None for the constant-interval fallback (warned).
            cfg: reader settings (planes, interval, truncated-JPEG policy, blank tail).
            source: ``gomez`` or ``embryoscope``.
            time_file: name of the time table, for messages.
        """
        self.source = source
        planes = cfg.planes or sorted(plane_files, key=plane_order)
        missing = [p for p in (plane_name(p) for p in planes) if p not in plane_files]
        if missing:
            raise RecordingError(f"{path}: focal plane(s) {missing} not found (found {sorted(plane_files)}); "
                                 "change data.planes")
        planes = [plane_name(p) for p in planes]
        run_sets = [set(plane_files[p]) for p in planes]
        runs = sorted(set.intersection(*run_sets)) if run_sets else []
        if not runs:
            raise RecordingError(f"{path}: no *_RUN<k>.jpeg images found for planes {planes}")
        super().__init__(embryo_id, np.zeros(0), planes, path, [[plane_files[p][r] for p in planes] for r in runs])
        self.runs = np.asarray(runs, dtype=np.int64)
        partial = sorted(set.union(*run_sets) - set(runs))
        if partial:
            self.report("plane_missing_run", f"runs {_short(partial)} lack some focal plane(s); dropped")
        gaps = sorted(set(range(runs[0], runs[-1] + 1)) - set.union(*run_sets))
        if gaps:
            self.report("missing_run", f"missing RUN number(s) {_short(gaps)}; the times keep the gap")
        self.meta["missing_runs"] = gaps
        if run_times is None:
            self.report("constant_interval", f"no time file{' ' + time_file if time_file else ''}; assuming "
                        f"RUN1 at {cfg.first_frame_hpi} hpi and {cfg.frame_interval_h} h between runs "
                        "(data.frame_interval_h)")
            self.times_hpi = cfg.first_frame_hpi + cfg.frame_interval_h * (self.runs - 1).astype(np.float64)
        else:
            extra = sorted(set(run_times.index.tolist()) - set(runs))
            if extra:
                self.report("extra_time_rows", f"{time_file}: {len(extra)} time row(s) without an image "
                            f"(runs {_short(extra)}); ignored")
            untimed = ~np.isin(self.runs, run_times.index.to_numpy())
            self.times_hpi = run_times.reindex(self.runs).to_numpy(np.float64)
            if untimed.any():
                self.report("missing_time_row", f"{time_file}: runs {_short(self.runs[untimed].tolist())} "
                            "have no time; dropped")
                self._keep(~untimed)
        self._check_truncated(cfg)
        if len(self) == 0:  # e.g. a folder of 0-byte JPEGs: nothing left to read, and nothing to guess
            raise RecordingError(f"{path}: none of the {len(runs)} run image(s) is readable with a time "
                                 f"({'; '.join(d['detail'] for d in self.meta['defects'][-2:])})")
        order = np.argsort(self.times_hpi, kind="stable")
        if np.any(order != np.arange(len(order))):
            self.report("unsorted_times", "frame times are not ascending in RUN order; frames sorted by time")
            self._reorder(order)

    def _check_truncated(self, cfg: DataConfig) -> None:
        bad = np.array([any(jpeg_is_truncated(f) for f in row) for row in self.files], dtype=bool)
        if not bad.any():
            return
        empty = [r for r, row in zip(self.runs.tolist(), self.files) if any(f.stat().st_size == 0 for f in row)]
        if empty:
            self.report("empty_jpeg", f"0-byte JPEG(s) at runs {_short(empty)}")
            if cfg.truncated_jpeg == "flag":  # nothing to decode partially: those frames go in any case
                gone = np.isin(self.runs, empty)
                self._keep(~gone)
                bad = bad[~gone]
                if not bad.any():
                    return
        runs = _short(self.runs[bad].tolist())
        if cfg.truncated_jpeg == "skip":
            self.report("truncated_jpeg", f"truncated JPEG(s) at runs {runs}; frames skipped (data.truncated_jpeg)")
            self._keep(~bad)
        else:
            self.report("truncated_jpeg", f"truncated JPEG(s) at runs {runs}; decoded partially, flagged")
            self.truncated = bad

    def _keep(self, keep: np.ndarray) -> None:
        super()._keep(keep)
        self.runs = self.runs[keep]

    def _reorder(self, order: np.ndarray) -> None:
        self.times_hpi, self.runs = self.times_hpi[order], self.runs[order]
        self.files, self.truncated = [self.files[i] for i in order], self.truncated[order]
        if self.phases is not None:
            self.phases = self.phases[order]


def _short(values: list[int], limit: int = 10) -> str:
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f" ... ({len(values)} in all)" if len(values) > limit else "")


def _first_file(candidates: list[Path]) -> Path | None:
    return next((c for c in candidates if c.is_file()), None)


def open_gomez(folder: str | Path, cfg: DataConfig | None = None) -> RunsRecording:
    """Open one Gomez video folder (``embryo_dataset/<video>`` or any plane's copy, or a bare folder).

    Returns:
        A RunsRecording; ``phases`` set when an annotation file exists, ``meta["grades"]`` when the
        grades table lists the video.
    """
    cfg = cfg or DataConfig()
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"{folder}: Gomez video folder not found")
    video = folder.name
    in_dataset = folder.parent.name.startswith("embryo_dataset")
    root = folder.parent.parent if in_dataset else folder.parent
    plane_files: dict[str, dict[int, Path]] = {}
    plane_dirs = {"F0": root / "embryo_dataset" / video} if in_dataset else {"F0": folder}
    if in_dataset:
        for sibling in root.glob("embryo_dataset_F*"):
            plane_dirs[plane_name(sibling.name.removeprefix("embryo_dataset_"))] = sibling / video
    for plane, plane_dir in plane_dirs.items():
        if plane_dir.is_dir():
            runs = scan_runs(plane_dir).get("F0", {})
            if runs:
                plane_files[plane] = runs
    time_file = _first_file([root / "embryo_dataset_time_elapsed" / f"{video}_timeElapsed.csv",
                             folder / f"{video}_timeElapsed.csv", folder.parent / f"{video}_timeElapsed.csv"])
    run_times = read_time_csv(time_file) if time_file else None
    recording = RunsRecording(video, folder, plane_files, run_times, cfg, "gomez",
                              time_file.name if time_file else f"{video}_timeElapsed.csv")
    duplicate = folder / "F0"
    if duplicate.is_dir():
        same = {p.name for p in duplicate.iterdir()} == {p.name for p in folder.iterdir() if p.is_file()}
        recording.report("duplicate_f0", f"ignored the subfolder F0/ ({'same files as' if same else 'DIFFERENT from'} "
                         "its parent)")
    phase_file = _first_file([root / "embryo_dataset_annotations" / f"{video}_phases.csv",
                              folder / f"{video}_phases.csv", folder.parent / f"{video}_phases.csv"])
    if phase_file:
        recording.phases = read_phases(phase_file, recording.runs)
    grades = root / "embryo_dataset_grades.csv"
    if grades.is_file():
        try:
            header, rows = read_cells(grades)
        except (TableError, OSError) as err:
            raise RecordingError(f"{grades}: cannot read the grades table: {err}") from None
        row = next((cells for _, cells in rows if cells[0].strip() == video), None)
        if row is not None:  # NA / empty cells are no grade
            recording.meta["grades"] = {k: (None if v.strip() in ("", "NA") else v.strip()) for k, v in zip(header, row)}
    if cfg.drop_blank_tail:
        recording.drop_blank_tail(cfg.blank_std)
    return recording
