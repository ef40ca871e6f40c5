"""EmbryoScope-style exports: one JPEG per run and focal plane plus a run -> hpi table.

Accepted layouts of one embryo's folder (formats.md section 2)::

    <embryo>/<prefix>_RUN<k>.jpeg                  one plane (F0)
    <embryo>/<prefix>_RUN<k>_F-15.jpeg ...          planes in the file names (F/FP token, signed µm)
    <embryo>/F0/<prefix>_RUN<k>.jpeg, <embryo>/F-15/...   planes as subfolders (``F-15``, ``-15``, ``FP-15``)
    <embryo>/imageruns.json   {"ImageRuns": [{"Run": 1, "Time": 0.2}, ...]}   (the ES server's answer)
    <embryo>/<anything>.csv   run,time  (header Run,Time / run,time_hpi / frame_index,time_hpi)

``<prefix>`` = ``D<date>_S<slide>_I<instrument>_WELL<w>``; the ES server's EmbryoID
(``..._P-<w>``) is put in ``meta["es_embryo_id"]``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from aivf.data.config import DataConfig
from aivf.data.gomez import RUN_RE, RunsRecording, scan_runs
from aivf.data.record import RecordingError, plane_name

PLANE_DIR_RE = re.compile(r"^(?:F|FP|focal_?)?([+-]?\d+)$", re.I)


def read_run_table(path: Path) -> pd.Series:
    """hpi indexed by RUN number, from the ES ``imageruns`` JSON or a CSV."""
    try:
        if path.suffix.lower() == ".json":
            runs = json.loads(path.read_text()).get("ImageRuns")
            if not isinstance(runs, list):
                raise RecordingError(f"{path}: expected {{\"ImageRuns\": [{{\"Run\": 1, \"Time\": 0.2}}, ...]}}")
            table = pd.DataFrame(runs)
            run_col, time_col = "Run", "Time"
        else:
            table = pd.read_csv(path)
            lower = {c.strip().lower(): c for c in table.columns}
            run_col = lower.get("run") or lower.get("imagerun") or lower.get("frame_index")
            time_col = lower.get("time_hpi") or lower.get("time") or lower.get("hpi")
            if run_col is None or time_col is None:
                raise RecordingError(f"{path}: a run table needs columns run,time (found {list(table.columns)})")
    except (OSError, ValueError) as err:  # json / csv parse errors
        raise RecordingError(f"{path}: cannot read the run table: {err}") from None
    table = table.dropna(subset=[run_col, time_col])
    series = pd.Series(table[time_col].to_numpy(float), index=table[run_col].to_numpy(int))
    return series[~series.index.duplicated(keep="first")].sort_index()


def find_run_table(folder: Path) -> Path | None:
    """The run table in ``folder``: an ``ImageRuns`` JSON first, else a CSV with run and time columns."""
    for path in sorted(folder.glob("*.json")):
        try:
            if "ImageRuns" in json.loads(path.read_text()):
                return path
        except (OSError, ValueError):
            continue
    for path in sorted(folder.glob("*.csv")):
        if path.name.endswith(("_timeElapsed.csv", "_phases.csv")):
            continue  # Gomez per-video files kept beside the frames: that folder is a Gomez video
        header = {c.strip().lower() for c in path.open().readline().strip().split(",")}
        if header & {"run", "imagerun", "frame_index"} and header & {"time", "time_hpi", "hpi"}:
            return path
    return None


def is_embryoscope_folder(folder: Path) -> bool:
    """True when ``folder`` holds an export's real markers (formats.md section 2).

    That is ``*_RUN<k>.jpeg`` images, beside it or in plane subfolders (``F-15/`` ...), plus one of: a
    run table, several planes, plane tokens in the names, or plane subfolders. A run table alone is
    not a marker: a folder of videos with their ``frame_index,time_hpi`` CSVs (and any subfolder, say
    ``notes/``) is a folder of videos, not one embryo's export.
    """
    planes = scan_runs(folder)
    subdirs = [d for d in folder.iterdir() if d.is_dir() and PLANE_DIR_RE.match(d.name) and scan_runs(d)]
    if not planes and not subdirs:
        return False  # no run JPEGs anywhere: whatever tables lie here, there is no export to read
    if find_run_table(folder) is not None:
        return True
    if len(planes) > 1 or (planes and "F0" not in planes):
        return True
    return bool(subdirs) and not (len(subdirs) == 1 and planes)  # a lone F0/ beside files is a duplicate


def open_embryoscope(folder: str | Path, cfg: DataConfig | None = None, embryo_id: str | None = None) -> RunsRecording:
    """Open one embryo's EmbryoScope export folder (layouts in the module docstring)."""
    cfg = cfg or DataConfig()
    folder = Path(folder)
    if not folder.is_dir():
        raise RecordingError(f"{folder}: EmbryoScope export folder not found")
    plane_files = scan_runs(folder)
    duplicate = None
    for sub in sorted(d for d in folder.iterdir() if d.is_dir()):
        match = PLANE_DIR_RE.match(sub.name)
        if not match:
            continue
        plane = plane_name(match[1])
        sub_runs = scan_runs(sub).get("F0", {})
        if plane in plane_files:  # a plane both beside and in a subfolder: the known duplicate-F0 defect
            duplicate = sub
            continue
        if sub_runs:
            plane_files[plane] = sub_runs
    table_path = find_run_table(folder)
    run_times = read_run_table(table_path) if table_path else None
    recording = RunsRecording(embryo_id or folder.name, folder, plane_files, run_times, cfg, "embryoscope",
                              table_path.name if table_path else "imageruns.json")
    if duplicate is not None:
        recording.report("duplicate_f0", f"ignored the subfolder {duplicate.name}/ (the same plane is beside it)")
    first = RUN_RE.match(Path(recording.files[0][0]).name) if len(recording) else None
    if first:
        prefix = first["prefix"]
        recording.meta["prefix"] = prefix
        recording.meta["es_embryo_id"] = re.sub(r"_WELL(\d+)$", r"_P-\1", prefix)
    if cfg.drop_blank_tail:
        recording.drop_blank_tail(cfg.blank_std)
    return recording
