"""EmbryoScope slide files (``.pdb``): an SQLite database with one JPEG per (well, run, focal plane).

What is documented (../shared/docs/formats.md section 2): a ``.pdb`` is an SQLite database whose table
``IMAGES`` holds one row per (well, run, focal plane) with the JPEG as a blob. What is **inferred** from
public descriptions (scripts that export the images with ``SELECT * FROM IMAGES``, whose rows read
as well, run, focal plane, time, image), not from a vendor specification, and so checked at open with a
clear error when a file disagrees:

- column names, matched case-insensitively: ``Well``, ``Run``, ``Focal``, ``Time``, ``Image`` (aliases
  in ``COLUMNS``);
- ``Focal`` is the focal-plane offset in µm (0 = reference plane, e.g. -15/+15), read as ``F<µm>``;
- ``Time``: hours post insemination when numeric and below ``MAX_HPI``; larger numbers are read as
  OLE dates (days, the Windows timestamp format) and text as date-times: both become hours since the
  slide's first image, reported as ``relative_time`` since the insemination time is not in the table;
- the slide id comes from the file name ``D<YYYY.MM.DD>_S<slide>_I<instrument>...pdb``.

One ``.pdb`` holds a whole slide (up to 16 wells, one embryo each): a recording is addressed as
``<slide>.pdb#<well>``; ``pdb_wells`` lists them, and a slide with one well also opens as ``<slide>.pdb``.
"""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from aivf.data.config import DataConfig
from aivf.data.record import Recording, RecordingError, load_gray, plane_name, plane_order

WELL_SEP = "#"
TABLE = "IMAGES"
# role -> accepted column names (lower case); the first found is used
COLUMNS = {
    "well": ("well", "wellno", "wellnumber", "well_id", "wellid"),
    "run": ("run", "imagerun", "run_id", "runid"),
    "focal": ("focal", "focalplane", "focal_plane", "plane"),
    "time": ("time", "time_hpi", "hpi", "timestamp"),
    "image": ("image", "imagedata", "jpeg", "data"),
}
MAX_HPI = 1000.0  # a numeric Time above this is not hours post insemination (a culture lasts < 200 h)
SQLITE_MAGIC = b"SQLite format 3\x00"
SLIDE_RE = re.compile(r"^(?P<prefix>D\d{4}\.\d{2}\.\d{2}_S(?P<slide>\d+)_I(?P<instrument>\d+))")


def split_well(path: str | Path) -> tuple[Path, int | None]:
    """``slide.pdb#3`` -> (slide.pdb, 3); ``slide.pdb`` -> (slide.pdb, None)."""
    text = str(path)
    if WELL_SEP in Path(text).name:
        file, well = text.rsplit(WELL_SEP, 1)
        try:
            return Path(file), int(well)
        except ValueError:
            raise RecordingError(f"{path}: the well after '{WELL_SEP}' must be a number, e.g. slide.pdb#3") from None
    return Path(text), None


def is_pdb(path: str | Path) -> bool:
    """True for ``*.pdb`` and ``*.pdb#<well>`` paths."""
    return split_well_name(path).lower().endswith(".pdb")


def split_well_name(path: str | Path) -> str:
    return Path(str(path)).name.rsplit(WELL_SEP, 1)[0]


def connect(file: Path) -> sqlite3.Connection:
    """Open a slide file read-only; a clear error naming it when it is missing or not SQLite."""
    if not file.is_file():
        raise RecordingError(f"{file}: EmbryoScope .pdb file not found")
    with open(file, "rb") as handle:
        if handle.read(16) != SQLITE_MAGIC:
            raise RecordingError(f"{file}: not an SQLite database, so not an EmbryoScope .pdb slide file "
                                 "(a .pdb from another program, or a damaged copy?)")
    try:
        return sqlite3.connect(f"file:{file}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise RecordingError(f"{file}: cannot open the SQLite database: {err}") from None


def image_columns(con: sqlite3.Connection, file: Path) -> dict[str, str]:
    """role -> column name of the ``IMAGES`` table (a clear error when the table or a column is missing)."""
    try:
        tables = {name.lower(): name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as err:
        raise RecordingError(f"{file}: cannot read the SQLite database: {err}") from None
    if TABLE.lower() not in tables:
        raise RecordingError(f"{file}: no {TABLE} table (tables: {sorted(tables.values()) or 'none'}); "
                             "an EmbryoScope slide file keeps its frames there")
    table = tables[TABLE.lower()]
    found = {row[1].lower(): row[1] for row in con.execute(f'PRAGMA table_info("{table}")')}
    columns, missing = {}, []
    for role, names in COLUMNS.items():
        name = next((found[n] for n in names if n in found), None)
        if name is None:
            missing.append(f"{role} ({'/'.join(names)})")
        columns[role] = name
    if missing:
        raise RecordingError(f"{file}: table {table} lacks column(s) {', '.join(missing)}; it has "
                             f"{sorted(found.values())} (the expected schema is in aivf/data/pdb.py)")
    columns["table"] = table
    return columns


def pdb_wells(path: str | Path) -> list[Path]:
    """``<slide>.pdb#<well>`` for every well of a slide file; ``[path]`` when it cannot be read.

    An unreadable file is still listed, so that opening it reports the reader's error (and a batch
    records it and goes on) instead of the file silently disappearing.
    """
    file, _ = split_well(path)
    try:
        con = connect(file)
        try:
            cols = image_columns(con, file)
            wells = [w for (w,) in con.execute(f'SELECT DISTINCT "{cols["well"]}" FROM "{cols["table"]}"')]
        finally:
            con.close()
    except (RecordingError, sqlite3.Error):
        return [file]
    return [Path(f"{file}{WELL_SEP}{int(w)}") for w in sorted(w for w in wells if w is not None)]


def hours(values: pd.Series) -> tuple[np.ndarray, bool]:
    """(float64 hours, relative): hpi as stored, or hours since the first image for OLE dates / date-times."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        numeric = numeric.to_numpy(np.float64)
        if np.nanmax(numeric) <= MAX_HPI:
            return numeric, False
        return (numeric - numeric.min()) * 24.0, True  # OLE automation date: days since 1899-12-30
    stamps = pd.to_datetime(values, errors="coerce")
    if stamps.isna().any():
        bad = values[stamps.isna()].iloc[0]
        raise ValueError(f"Time value {bad!r} is neither hours nor a date-time")
    return ((stamps - stamps.min()).dt.total_seconds() / 3600.0).to_numpy(np.float64), True


class PdbRecording(Recording):
    """One well of an EmbryoScope slide file; ``runs`` (T,) holds each frame's RUN number."""

    source = "pdb"

    def __init__(self, path: str | Path, cfg: DataConfig | None = None, embryo_id: str | None = None) -> None:
        cfg = cfg or DataConfig()
        file, well = split_well(path)
        self.con = connect(file)
        try:
            table = self._read_table(file, well, path)
        except Exception:
            self.con.close()
            raise
        match = SLIDE_RE.match(file.stem)
        well = int(table["well"].iloc[0])
        default_id = f"{match['prefix'] if match else file.stem}_WELL{well}"
        planes_found = sorted({plane_name(int(f)) for f in table["focal"]}, key=plane_order)
        planes = [plane_name(p) for p in cfg.planes] if cfg.planes else planes_found
        missing = [p for p in planes if p not in planes_found]
        if missing:
            self.con.close()
            raise RecordingError(f"{path}: focal plane(s) {missing} not found (found {planes_found}); change data.planes")
        table["plane"] = [plane_name(int(f)) for f in table["focal"]]
        table = table[table["plane"].isin(planes)]
        grid = table.pivot_table(index="run", columns="plane", values="rowid", aggfunc="first")
        complete = grid.notna().all(axis=1)
        runs = grid.index[complete].to_numpy(np.int64)
        if not len(runs):
            self.con.close()
            raise RecordingError(f"{path}: no run has an image in every plane {planes}")
        times = table.groupby("run")["hours"].min().reindex(runs).to_numpy(np.float64)
        super().__init__(embryo_id or default_id, times, planes, Path(str(path)))
        self.rowids = grid.loc[complete, planes].to_numpy(np.int64)  # (T, P) IMAGES rowid of each image
        self.runs = runs
        self.meta.update(well=well, slide=match["slide"] if match else None, pdb_file=str(file),
                         es_embryo_id=f"{match['prefix']}_P-{well}" if match else None)
        if (~complete).any():
            self.report("plane_missing_run", f"runs {grid.index[~complete].tolist()[:10]} lack some focal plane(s); dropped")
        if table.attrs.get("relative"):
            self.report("relative_time", "Time is a date, not hours post insemination: times are hours since the "
                        "slide's first image (set the insemination offset yourself)")
        order = np.argsort(self.times_hpi, kind="stable")
        if np.any(order != np.arange(len(order))):
            self.report("unsorted_times", "frame times are not ascending in RUN order; frames sorted by time")
            self.times_hpi, self.runs, self.rowids = self.times_hpi[order], self.runs[order], self.rowids[order]
        if cfg.drop_blank_tail:
            self.drop_blank_tail(cfg.blank_std)

    def _read_table(self, file: Path, well: int | None, path) -> pd.DataFrame:
        cols = image_columns(self.con, file)
        query = (f'SELECT rowid, "{cols["well"]}", "{cols["run"]}", "{cols["focal"]}", "{cols["time"]}" '
                 f'FROM "{cols["table"]}" WHERE "{cols["image"]}" IS NOT NULL')
        table = pd.DataFrame(self.con.execute(query).fetchall(), columns=["rowid", "well", "run", "focal", "time"])
        self.columns = cols
        wells = sorted(table["well"].dropna().unique().tolist())
        if well is None:
            if len(wells) != 1:
                raise RecordingError(f"{file}: the slide holds wells {wells}; open one as {file}{WELL_SEP}<well> "
                                     "(find_recordings lists them all)")
            well = wells[0]
        try:  # over the whole slide, so that relative times of its wells share one origin
            table["hours"], relative = hours(table["time"])
        except (ValueError, TypeError) as err:
            raise RecordingError(f"{file}: unreadable Time values in {cols['table']}: {err}") from None
        table = table[table["well"] == well].copy()
        if table.empty:
            raise RecordingError(f"{path}: no images of well {well} (the slide holds wells {wells})")
        try:
            table["run"], table["focal"] = table["run"].astype(np.int64), table["focal"].astype(np.int64)
        except (ValueError, TypeError) as err:
            raise RecordingError(f"{path}: unreadable Run/Focal values in {cols['table']}: {err}") from None
        table.attrs["relative"] = relative
        return table

    def _keep(self, keep: np.ndarray) -> None:
        super()._keep(keep)
        self.runs, self.rowids = self.runs[keep], self.rowids[keep]

    def _decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        query = f'SELECT "{self.columns["image"]}" FROM "{self.columns["table"]}" WHERE rowid = ?'
        frames = []
        for i in indices.tolist():
            planes = []
            for p, rowid in enumerate(self.rowids[i].tolist()):
                (blob,) = self.con.execute(query, (rowid,)).fetchone()
                try:
                    planes.append(load_gray(io.BytesIO(blob), size))
                except RecordingError as err:
                    raise RecordingError(f"{self.path}: run {self.runs[i]} plane {self.plane_names[p]}: "
                                         f"{str(err).split(': ', 1)[-1]}") from None
            frames.append(np.stack(planes))
        try:
            return np.stack(frames)
        except ValueError:
            raise RecordingError(f"{self.path}: images of different sizes; pass size= to resize on decode") from None

    def close(self) -> None:
        self.con.close()


def open_pdb(path: str | Path, cfg: DataConfig | None = None, embryo_id: str | None = None) -> PdbRecording:
    """Open one well of an EmbryoScope ``.pdb`` slide file (``slide.pdb#<well>``; see the module docstring)."""
    return PdbRecording(path, cfg, embryo_id)
