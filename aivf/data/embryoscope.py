"""EmbryoScope-style exports: one JPEG per run and focal plane plus a run -> hpi table.

Accepted layouts of one embryo's folder (formats.md section 2)::

    <embryo>/<prefix>_RUN<k>.jpeg                  one plane (F0)
    <embryo>/<prefix>_RUN<k>_F-15.jpeg ...          planes in the file names (F/FP token, signed µm)
    <embryo>/F0/<prefix>_RUN<k>.jpeg, <embryo>/F-15/...   planes as subfolders (``F-15``, ``-15``, ``FP-15``)
    <embryo>/imageruns.json   {"ImageRuns": [{"Run": 1, "Time": 0.2}, ...]}   (the ES server's answer;
                              keys in any case, times as numbers or numeric strings)
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
from aivf.data.video import frame_time_series, table_cells

PLANE_DIR_RE = re.compile(r"^(?:F|FP|focal_?)?([+-]?\d+)$", re.I)


RUN_TABLE_SCHEMA = '{"ImageRuns": [{"Run": 1, "Time": 0.2}, ...]}'
RUN_KEYS, TIME_KEYS = ("run", "imagerun", "frame_index"), ("time_hpi", "time", "hpi")


def _pick(names, wanted: tuple[str, ...]) -> str | None:
    """The first name of ``names`` that is one of ``wanted`` ignoring case and spaces (by ``wanted``'s order)."""
    lower = {str(n).strip().lower(): n for n in names}
    return next((lower[w] for w in wanted if w in lower), None)


def _load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:  # ValueError: bad JSON or not UTF-8
        raise RecordingError(f"{path}: not readable JSON ({type(err).__name__}: {err}); a run table is "
                             f"{RUN_TABLE_SCHEMA}: fix the file or remove it") from None


def _json_runs(path: Path) -> tuple[list, list, list[str], str, str]:
    """Raw run and time cells of an ImageRuns JSON (keys in any case: ``imageRuns``, ``run``, ``time``)."""
    data = _load_json(path)
    key = _pick(data, ("imageruns",)) if isinstance(data, dict) else None
    runs = data[key] if key is not None else None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        found = f"keys {sorted(map(str, data))}" if isinstance(data, dict) else type(data).__name__
        raise RecordingError(f"{path}: not a run table: expected {RUN_TABLE_SCHEMA} (found {found}): "
                             "fix the file or remove it")
    run_key = _pick({k for r in runs for k in r}, RUN_KEYS)
    time_key = _pick({k for r in runs for k in r}, TIME_KEYS)
    if runs and (run_key is None or time_key is None):
        raise RecordingError(f"{path}: ImageRuns entries need a Run and a Time (found keys "
                             f"{sorted({str(k) for r in runs for k in r})}); expected {RUN_TABLE_SCHEMA}")
    return ([r.get(run_key) for r in runs], [r.get(time_key) for r in runs],
            [f"ImageRuns[{i}]" for i in range(len(runs))], str(run_key), str(time_key))


def read_run_table(path: Path) -> pd.Series:
    """hpi indexed by RUN number, from the ES ``imageruns`` JSON or a CSV (cells checked by ``frame_time_series``)."""
    if path.suffix.lower() == ".json":
        run_values, time_values, where, run_col, time_col = _json_runs(path)
    else:
        header, rows = table_cells(path, "run table")
        run_col, time_col = _pick(header, RUN_KEYS), _pick(header, TIME_KEYS)
        if run_col is None or time_col is None:
            raise RecordingError(f"{path}: a run table needs columns run,time (found {header})")
        run_at, time_at = header.index(run_col), header.index(time_col)
        run_values, time_values = [r[run_at] for _, r in rows], [r[time_at] for _, r in rows]
        where = [f"line {line}" for line, _ in rows]
    series = frame_time_series(path, run_values, time_values, where, str(run_col).strip(), str(time_col).strip())
    if series.empty:
        raise RecordingError(f"{path}: the run table has no run with a time")
    return series


def find_run_table(folder: Path) -> Path | None:
    """The run table in ``folder``: an ``ImageRuns`` JSON first, else a CSV with run and time columns.

    A JSON named ``*imagerun*`` must be a run table: broken or without ``ImageRuns`` it is a
    RecordingError naming it (never skipped, which would read the folder with assumed times).
    Other JSONs count when they hold an ``ImageRuns`` key (any case).
    """
    for path in sorted(folder.glob("*.json")):
        if "imagerun" in path.name.lower():
            _json_runs(path)  # raises on a broken or schema-less file
            return path
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # some other JSON (notes, metadata): not ours to judge
        if isinstance(data, dict) and _pick(data, ("imageruns",)) is not None:
            return path
    for path in sorted(folder.glob("*.csv")):
        if path.name.endswith(("_timeElapsed.csv", "_phases.csv")):
            continue  # Gomez per-video files kept beside the frames: that folder is a Gomez video
        try:
            with path.open(errors="replace") as handle:
                header = {c.strip().lower() for c in handle.readline().strip().split(",")}
        except OSError:
            continue
        if header & set(RUN_KEYS) and header & set(TIME_KEYS):
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
