"""Clinical CSV + recordings -> Hugging Face parquet shards (``aivf build``).

Layout of the output (a local folder or any fsspec URL)::

    data/shard-00000.parquet ...   typed features (see ``dataset_features``); reload with
                                   datasets.load_dataset("parquet", data_files=".../data/*.parquet")
    _state/shard-00000.json        per-shard completion marker: config hash, embryos built / failed
    manifest.json                  config hash, planned shards, per-shard embryo lists, complete flag
    build_report.csv               one row per embryo of the CSV: ok, or failed with the reason
    splits.json                    patient-grouped evaluation splits (aivf.dataset.splits)
    README.md, config.yaml         dataset card and the resolved config

Resumable: a shard is written to a temporary name and renamed when complete, then its marker is
written; a rerun skips every shard whose marker carries the same config hash. Under torchrun or
``accelerate launch`` (RANK / WORLD_SIZE set) rank r builds shards i with i % world == r; every
rank rewrites the manifest and card when it finishes, so the last one to finish leaves them complete.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from aivf.data.config import DataConfig
from aivf.dataset.config import DatasetConfig
from aivf.dataset.records import (
    AUX_TASKS,
    GRADE_RECORDS,
    GRADES,
    NUMERIC_RECORDS,
    TEXT_RECORDS,
    auxiliary_labels,
    check_records,
)

REQUIRED_COLUMNS = ("embryo_id", "recording")
INT_COLUMNS = ("transferred", "biopsied", "transfer_day", "d3_fhb", "d5_fhb")  # nullable int8 in the shards
STR_COLUMNS = ("patient_id", "clinic", "method", "policy", "pgt")


class BuildError(RuntimeError):
    """The build cannot start (bad CSV, output built with another config); the message says what to do."""


@dataclass
class BuildReport:
    """What one ``build_dataset`` call did (this rank only for the shard counts)."""

    output: str  # where the dataset is
    num_embryos: int  # rows of the clinical CSV
    num_built: int  # embryos in the shards (all ranks, as far as finished)
    num_failed: int  # embryos in build_report.csv with a failure reason
    shards_written: int  # shards this call wrote
    shards_skipped: int  # shards this call found finished and skipped (resume)
    complete: bool  # every planned shard is finished (all ranks)
    seconds: float  # wall time of this call
    failures: dict[str, int] = field(default_factory=dict)  # reason -> count
    num_splits: int = 0  # named splits ("kfold/0/train", ...) in splits.json; 0 = none could be made


BINARY_COLUMNS = ("transferred", "biopsied", "d3_fhb", "d5_fhb")  # 0, 1 or an empty cell
PGT_VALUES = ("euploid", "aneuploid", "mosaic", "no_result")  # the pgt vocabulary (or an empty cell)
METHOD_VALUES = ("IVF", "ICSI")  # the method vocabulary (or an empty cell)
AGE_RANGE = (10.0, 80.0)  # maternal_age outside this (years) is taken as a typo, not as an age
TRANSFER_DAYS = (1, 7)  # transfer_day is a whole day of culture in this range


def _read_table(path: str | Path) -> pd.DataFrame:
    """Every cell of a CSV as a string ("" where empty); a BuildError naming the file if it is not a table.

    Read with ``aivf.data.table.read_cells``, not ``pandas.read_csv``: a row with one cell too many
    would make pandas shift every value of the table one column to the left, silently.
    """
    from aivf.data.table import TableError, read_cells

    try:
        header, rows = read_cells(path)
    except (TableError, OSError) as err:
        raise BuildError(f"{path}: not a readable CSV table ({err})") from None
    return pd.DataFrame([cells for _, cells in rows], columns=header, dtype=object) if rows else pd.DataFrame(
        columns=header, dtype=object)


def read_clinical(path: str | Path, strict: bool = False) -> pd.DataFrame:
    """The clinical table: ids as strings, numbers parsed, empty cells as None/NaN (missing stays missing).

    Every cell is checked against its column's vocabulary (see ``check_clinical``); a row with a
    value outside it keeps NaN/None there and names the problem in its ``input_error`` column.

    Raises:
        BuildError: unreadable file, no rows, a required column or ``patient_id`` missing, or, with
            ``strict``, any value outside its column's vocabulary (naming line, column and value).
    """
    table = _read_table(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in table]
    if missing:
        raise BuildError(f"{path}: clinical CSV lacks column(s) {missing}; it has {list(table.columns)}")
    if "patient_id" not in table:
        # Not guessed from the embryo id: "<id before the last dash>" keeps one cycle together, not one
        # patient, and a patient's other cycles would then leak across splits (docs/architecture.md).
        raise BuildError(f"{path}: clinical CSV has no patient_id column. Add one (the same value for every "
                         "embryo of one patient or couple, over all cycles): splits keep a patient's embryos "
                         "together, and a patient cannot be told from the embryo id safely")
    if table.empty:
        raise BuildError(f"{path}: clinical CSV has a header but no rows: nothing to build")
    if "clinic" not in table:
        table["clinic"] = "unknown"
    return add_records(check_clinical(table, path, strict), path, strict)


def add_records(table: pd.DataFrame, path: str | Path, strict: bool = False) -> pd.DataFrame:
    """Parse the clinic's per-embryo records (aivf/dataset/records.py); bad values join ``input_error``."""
    problems = check_records(table)
    if strict and any(problems):
        found = [p for row in problems for p in row]
        raise BuildError(f"{path}: {len(found)} record value(s) outside their column's vocabulary "
                         "(dataset.strict=true): " + "; ".join(found[:20]))
    joined = ["; ".join(p) for p in problems]
    table["input_error"] = [("; ".join(x for x in (a, b) if x)) for a, b in zip(table["input_error"], joined)]
    return table


def _problem(line: int, column: str, value, expected: str) -> str:
    return f"line {line}: {column}={value!r} is not {expected}"


def check_clinical(table: pd.DataFrame, path: str | Path, strict: bool = False) -> pd.DataFrame:
    """Parse and check the label and covariate columns of a clinical table read as strings.

    The input-check policy (docs/architecture.md, "Input checks"): only unambiguous spellings are
    normalised (case and surrounding spaces of ``pgt`` and ``method``; spaces around numbers), with
    one warning; any other value outside a column's vocabulary becomes NaN/None and the row's
    ``input_error`` names line, column and value (the build reports that embryo as ``label_error``
    and stores nothing made up). Line numbers count the header as line 1.

    Raises:
        BuildError: with ``strict``, listing every such value (file, line, column, value).
    """
    table = table.replace({"": None}).copy()
    lines = np.arange(len(table)) + 2
    problems: list[list[str]] = [[] for _ in range(len(table))]
    normalised: dict[str, list[str]] = {}

    def text(column: str) -> pd.Series:
        values = table[column] if column in table else pd.Series([None] * len(table), index=table.index)
        return values.map(lambda v: v.strip() if isinstance(v, str) and v.strip() else None).astype(object)

    def flag(bad: np.ndarray, column: str, raw: pd.Series, expected: str) -> None:
        for i in np.flatnonzero(bad):
            value = raw.iloc[i]
            problems[i].append(_problem(int(lines[i]), column, "" if value is None else value, expected))

    def numeric(column: str, ok, expected: str) -> None:
        raw = table[column] if column in table else pd.Series([None] * len(table), index=table.index)
        values = text(column)
        number = pd.to_numeric(values, errors="coerce")
        good = number.notna() & np.isfinite(number.fillna(0)) & ok(number)
        bad = (values.notna() & ~good).to_numpy()
        flag(bad, column, raw, expected)
        table[column] = number.where(good, np.nan).astype(float)

    for column in ("embryo_id", "patient_id"):
        flag(text(column).isna().to_numpy(), column, table[column], "an id (the cell is empty)")
    for column in BINARY_COLUMNS:
        numeric(column, lambda x: x.isin([0, 1]), "0, 1 or an empty cell")
    lo, hi = TRANSFER_DAYS
    numeric("transfer_day", lambda x: (x == x.round()) & x.between(lo, hi), f"a whole day {lo}-{hi} or an empty cell")
    lo, hi = AGE_RANGE
    numeric("maternal_age", lambda x: x.between(lo, hi), f"an age in years ({lo:g}-{hi:g}) or an empty cell")
    for column, vocabulary, fold in (("pgt", PGT_VALUES, str.lower), ("method", METHOD_VALUES, str.upper)):
        raw = table[column] if column in table else pd.Series([None] * len(table), index=table.index)
        values = text(column)
        folded = values.map(lambda v, f=fold: f(v) if isinstance(v, str) else None).astype(object)
        good = folded.isin(vocabulary)
        changed = good & (folded != raw)
        if changed.any():
            normalised[column] = sorted({f"{a!r} -> {b!r}" for a, b in zip(raw[changed], folded[changed])})[:5]
        flag((values.notna() & ~good).to_numpy(), column, raw, f"one of {list(vocabulary)} or an empty cell")
        table[column] = folded.where(good, None)
    for column in STR_COLUMNS:
        if column not in table:
            table[column] = None
    if normalised:
        spelled = "; ".join(f"{c}: {', '.join(v)}" for c, v in normalised.items())
        warnings.warn(f"{path}: normalised the spelling (case, surrounding spaces) of some values: {spelled}",
                      stacklevel=3)
    table["input_error"] = ["; ".join(p) for p in problems]
    if strict and any(problems):
        found = [p for row in problems for p in row]
        more = f" (+{len(found) - 20} more)" if len(found) > 20 else ""
        raise BuildError(f"{path}: {len(found)} value(s) outside their column's vocabulary (dataset.strict=true): "
                         + "; ".join(found[:20]) + more)
    return table


def check_duplicates(table: pd.DataFrame, path: str | Path, strict: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    """One row per embryo id, and the build-report rows of the rows left out.

    - same id, different ``patient_id``: a BuildError naming the id and the patients (which patient an
      embryo belongs to decides every split, so the whole table is in doubt);
    - same id, identical rows: the repeats are left out (report row ``duplicate_id``), the first is used;
    - same id, same patient, other values differing: every copy is left out (``duplicate_id`` naming
      the columns), since no copy can be taken as the right one;
    - with ``strict``, any repeated id is a BuildError.
    """
    lines = pd.Series(np.arange(len(table)) + 2, index=table.index)  # the header is line 1
    repeated = table["embryo_id"].notna() & table["embryo_id"].duplicated(keep=False)
    if not repeated.any():
        return table, []
    columns = [c for c in table.columns if c != "input_error"]
    extra, drop, errors = [], [], []
    for eid, group in table[repeated].groupby("embryo_id", sort=True):
        at = ", ".join(str(lines[i]) for i in group.index)
        patients = sorted({str(p) for p in group["patient_id"]})
        if len(patients) > 1:
            errors.append(f"embryo id {eid!r} on lines {at} belongs to patients {patients}")
            continue
        differ = [c for c in columns if group[c].nunique(dropna=False) > 1]
        if strict:
            errors.append(f"embryo id {eid!r} is repeated on lines {at}" + (f" (differing in {differ})" if differ else ""))
            continue
        if differ:
            detail, left_out = f"lines {at} repeat the id and differ in {differ}: no copy is used", group.index
        else:
            detail, left_out = f"lines {at} are the same row; the first is used", group.index[1:]
        drop.extend(left_out)
        extra.extend({"embryo_id": eid, "status": "failed", "reason": "duplicate_id", "detail": detail, "shard": -1}
                     for _ in left_out)
    if errors:
        more = f" (+{len(errors) - 10} more)" if len(errors) > 10 else ""
        raise BuildError(f"{path}: repeated embryo ids: " + "; ".join(errors[:10]) + more + ". An embryo id must name "
                         "one embryo: make the ids unique (e.g. prefix the patient id) or correct patient_id")
    return table.drop(index=drop), extra


def euploid_label(pgt: str | None, mosaic_as: str) -> float:
    """1 euploid, 0 aneuploid, NaN where unknown (no biopsy, no_result); mosaic per ``mosaic_as``.

    ``pgt`` is a value already checked by ``check_clinical`` (lower case); anything else is NaN.
    """
    if pgt == "euploid":
        return 1.0
    if pgt == "aneuploid":
        return 0.0
    if pgt == "mosaic" and mosaic_as != "missing":
        return 1.0 if mosaic_as == "positive" else 0.0
    return float("nan")


def dataset_features(num_keyframes: int, num_planes: int, size: int):
    """The typed ``datasets.Features`` of every shard (K keyframes of P planes, size x size)."""
    from datasets import Array4D, Features, List, Value

    k = num_keyframes
    return Features({
        "embryo_id": Value("string"), "patient_id": Value("string"), "clinic": Value("string"),
        "keyframes": Array4D((k, num_planes, size, size), "uint8"),  # (K, P, H, W)
        "keyframe_hpi": List(Value("float32"), length=k),  # hpi of each keyframe (grid target if missing)
        "keyframe_mask": List(Value("bool"), length=k),  # False where no frame lay within tolerance
        "keyframe_index": List(Value("int32"), length=k),  # frame index in the recording, -1 if missing
        "phase_labels": List(Value("int8"), length=k),  # annotated Gomez phase per keyframe, -1 if none/missing
        # every frame of the recording (not only the keyframes), in the reader's order: its annotated phase
        # (-1 where unannotated), hpi and number (the RUN number of JPEG-per-run layouts, else index + 1)
        "frame_phases": List(Value("int8")), "frame_hpi": List(Value("float32")), "frame_number": List(Value("int32")),
        "num_frames": Value("int32"), "recording": Value("string"), "source": Value("string"),
        "maternal_age": Value("float32"), "method": Value("string"), "policy": Value("string"),
        "transferred": Value("int8"), "biopsied": Value("int8"), "transfer_day": Value("int8"),
        "d3_fhb": Value("int8"), "d5_fhb": Value("int8"),  # None where no transfer / no outcome
        "pgt": Value("string"), "euploid": Value("int8"),  # euploid derived from pgt (mosaic per config)
        # the clinic's records of every embryo (aivf/dataset/records.py), None where not recorded
        **{c: Value("int8") for c in NUMERIC_RECORDS}, **{c: Value("string") for c in (*GRADE_RECORDS, *TEXT_RECORDS)},
        **{f"aux_{t}": Value("int8") for t in AUX_TASKS},  # the model's auxiliary targets derived from them
    })


def config_hash(cfg: DatasetConfig, data: DataConfig, csv_bytes: bytes) -> str:
    """Hash of everything that changes a shard's content (the CSV's bytes, not its path; not workers or loader)."""
    build = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("workers", "output", "overwrite", "splits", "loader", "clinical_csv", "strict")}
    # schema: bumped when the shard columns change (2: phase_labels, 3: clinic records, 4: per-frame phases),
    # so old shards are never resumed into a new layout
    blob = json.dumps({"build": build, "data": dataclasses.asdict(data), "schema": 4}, sort_keys=True).encode()
    return hashlib.sha256(blob + hashlib.sha256(csv_bytes).digest()).hexdigest()[:16]


def _optional(value, cast=float):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else cast(value)


def _embryo_row(row: dict, rec, frames: np.ndarray, keys, cfg: DatasetConfig) -> dict:
    row = {**row, **grades_from_recording(row, rec)}
    return {
        "embryo_id": row["embryo_id"], "patient_id": row["patient_id"], "clinic": row["clinic"],
        "keyframes": frames, "keyframe_hpi": keys.hpi.astype(np.float32), "keyframe_mask": keys.mask.astype(bool),
        "keyframe_index": keys.indices.astype(np.int32), "num_frames": len(rec), "recording": row["recording"],
        "phase_labels": keyframe_phases(rec, keys), **frame_labels(rec),
        "source": getattr(rec, "source", "?"), "maternal_age": _optional(row["maternal_age"]),
        "method": row["method"], "policy": row["policy"], "pgt": row["pgt"],
        **{c: _optional(row[c], int) for c in INT_COLUMNS},
        "euploid": _optional(euploid_label(row["pgt"], cfg.mosaic_as), int),
        **{c: _optional(row.get(c), int) for c in NUMERIC_RECORDS},
        **{c: row.get(c) for c in (*GRADE_RECORDS, *TEXT_RECORDS)},
        **{f"aux_{t}": _optional(v, int) for t, v in auxiliary_labels(row).items()},
    }


def grades_from_recording(row: dict, rec) -> dict:
    """ICM/TE grades the recording's export carries (Gomez ``embryo_dataset_grades.csv``: TE, ICM as A/B/C/NA),
    where the clinical table has none; the table's own grade wins where both exist."""
    grades = (getattr(rec, "meta", None) or {}).get("grades") or {}
    found = {}
    for column, key in (("icm_d5", "ICM"), ("te_d5", "TE")):
        value = next((v for k, v in grades.items() if str(k).strip().upper() == key), None)
        value = str(value).strip().upper() if value is not None else None
        if row.get(column) is None and value in GRADES:
            found[column] = value
    return found


def keyframe_phases(rec, keys) -> np.ndarray:
    """int8 (K,) the annotated phase (index into the 16 Gomez phases) of each keyframe; -1 where missing or unannotated."""
    labels = np.full(len(keys.indices), -1, dtype=np.int8)
    phases = getattr(rec, "phases", None)
    if phases is not None and len(phases) == len(rec):
        labels[keys.mask] = phases[keys.indices[keys.mask]]
    return labels


def frame_labels(rec) -> dict[str, np.ndarray]:
    """The per-frame columns: annotated phase (-1 where none), hpi and frame number of every frame of ``rec``."""
    phases = getattr(rec, "phases", None)
    if phases is None or len(phases) != len(rec):
        phases = np.full(len(rec), -1)
    runs = getattr(rec, "runs", None)
    numbers = np.asarray(runs) if runs is not None and len(runs) == len(rec) else np.arange(1, len(rec) + 1)
    return {"frame_phases": np.asarray(phases, dtype=np.int8), "frame_hpi": np.asarray(rec.times_hpi, dtype=np.float32),
            "frame_number": numbers.astype(np.int32)}


def process_embryo(row: dict, root: Path, cfg: DatasetConfig, data: DataConfig) -> tuple[dict | None, dict]:
    """Read one embryo's keyframes; returns (shard row or None, build-report row). Never raises."""
    from aivf.data import open_recording

    report = {"embryo_id": row["embryo_id"], "status": "failed", "reason": "", "detail": ""}
    if not row.get("recording"):
        return None, {**report, "reason": "no_recording", "detail": "the CSV row has no recording path"}
    path = Path(row["recording"]) if Path(row["recording"]).is_absolute() else root / row["recording"]
    if not path.exists():
        return None, {**report, "reason": "missing_file", "detail": f"{path} does not exist"}
    kf = data.keyframes
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with open_recording(path, data) as rec:
                if len(rec) < cfg.min_frames:
                    return None, {**report, "reason": "too_few_frames",
                                  "detail": f"{len(rec)} frames < dataset.min_frames={cfg.min_frames}"}
                if rec.num_planes < cfg.num_planes:
                    return None, {**report, "reason": "too_few_planes",
                                  "detail": f"{rec.num_planes} planes < dataset.num_planes={cfg.num_planes}"}
                frames, keys = rec.read_keyframes(kf)
                if int(keys.mask.sum()) < cfg.min_keyframes:
                    return None, {**report, "reason": "too_few_frames",
                                  "detail": f"{int(keys.mask.sum())} keyframes found before {kf.cutoff_hpi} hpi "
                                            f"(recording spans {rec.times_hpi[0]:.1f}-{rec.times_hpi[-1]:.1f} hpi)"}
                shard_row = _embryo_row(row, rec, np.ascontiguousarray(frames[:, : cfg.num_planes]), keys, cfg)
    except Exception as err:  # decord/PyAV/PIL raise many types; any of them means an unreadable recording
        return None, {**report, "reason": "corrupt", "detail": f"{path}: {type(err).__name__}: {err}"[:500]}
    # the row names the recording already: without the path repeated in every warning, more defects fit in 500 chars
    notes = "; ".join(sorted({str(w.message).replace(f"{path}: ", "") for w in caught}))[:500]
    return shard_row, {**report, "status": "ok", "detail": notes}


def _write_atomic(fs, path: str, write) -> None:
    """Write through ``write(handle)`` to a temporary name, then rename: a crash leaves no partial file."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(tmp, "wb") as handle:
        write(handle)
    fs.mv(tmp, path)


def build_shard(index: int, rows: list[dict], root: str, out: str, cfg: DatasetConfig, data: DataConfig,
                chash: str) -> dict:
    """Build shard ``index`` from its clinical rows and write parquet + marker; returns the marker."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    fs, base = fsspec.core.url_to_fs(out)
    built, report = [], []
    for row in rows:
        shard_row, report_row = process_embryo(row, Path(root), cfg, data)
        report.append({**report_row, "shard": index})
        if shard_row is not None:
            built.append(shard_row)
    name = f"data/shard-{index:05d}.parquet"
    if built:
        feats = dataset_features(data.keyframes.num_keyframes, cfg.num_planes, data.keyframes.size)
        table = Dataset.from_list(built, features=feats).data.table  # keeps the HF features in its metadata
        _write_atomic(fs, f"{base}/{name}", lambda h: pq.write_table(table, h, row_group_size=cfg.row_group_size))
    marker = {"config_hash": chash, "shard": index, "file": name if built else None,
              "embryo_ids": [r["embryo_id"] for r in built], "report": report}
    _write_atomic(fs, f"{base}/_state/shard-{index:05d}.json", lambda h: h.write(json.dumps(marker).encode()))
    return marker


def watch_parent(parent: int, every_s: float = 0.5) -> None:
    """Pool-worker initializer: exit as soon as the building process is gone.

    A spawn worker whose parent was killed (SIGKILL, an OOM kill, a closed terminal) would otherwise go
    on building its queue as an orphan. A daemon thread polls ``os.getppid()``: once the worker has been
    re-parented, it ends with ``os._exit`` (its half-written ``.tmp-*`` files are removed by the rerun).
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="aivf-build-parent-watch", daemon=True).start()


def nothing_usable(report: BuildReport) -> str | None:
    """Why a complete build is unusable (``aivf build`` and ``aivf run`` then exit non-zero), or None."""
    out = report.output
    if not report.complete:
        return None  # other ranks are still building: judged by the last one to finish
    if report.num_embryos == 0:
        return "nothing usable was built: the clinical CSV has no rows"
    if report.num_built == 0:
        return (f"nothing usable was built: none of the {report.num_embryos} CSV row(s) gave an embryo; "
                f"see {out}/build_report.csv")
    if report.num_splits == 0:
        return (f"no evaluation splits could be made (see the warning above; e.g. fewer patients than "
                f"dataset.splits.num_folds); {out}/splits.json is empty, so aivf train has nothing to read")
    return None


def _read_marker(fs, path: str) -> dict | None:
    try:
        with fs.open(path, "rb") as handle:
            return json.loads(handle.read())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def build_dataset(cfg: DatasetConfig, clinical_csv: str | Path, out: str, data: DataConfig | None = None,
                  rank: int | None = None, world_size: int | None = None) -> BuildReport:
    """Build (or resume building) the parquet shards, report, splits and card.

    Args:
        cfg: the dataset section (shard size, workers, label handling, splits).
        clinical_csv: the clinical table; relative recording paths resolve against
            ``cfg.recordings_root`` or the CSV's folder.
        out: local folder or fsspec URL.
        data: reader and keyframe settings (``KeyframeConfig.size`` must be > 0: shards hold one shape).
        rank, world_size: this process's share; default from the RANK / WORLD_SIZE environment.

    Returns:
        A BuildReport; failed embryos are in ``<out>/build_report.csv`` with their reason.
    """
    from aivf.dataset.card import finalize

    start = time.time()
    data = data or DataConfig()
    if data.keyframes.size <= 0:
        raise BuildError("data.keyframes.size must be > 0 for a dataset (every shard row has one shape)")
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    csv_path = Path(clinical_csv)
    if not csv_path.is_file():
        raise BuildError(f"{csv_path}: clinical CSV not found (set dataset.clinical_csv or --clinical)")
    table = read_clinical(csv_path, strict=cfg.strict)
    num_rows = len(table)
    table, extra = check_duplicates(table, csv_path, strict=cfg.strict)
    root = str(Path(cfg.recordings_root) if cfg.recordings_root else csv_path.parent)
    chash = config_hash(cfg, data, csv_path.read_bytes())
    fs, base = fsspec.core.url_to_fs(out)
    old = _read_marker(fs, f"{base}/manifest.json")
    if old and old.get("config_hash") != chash:
        if not cfg.overwrite:
            raise BuildError(f"{out} holds a dataset built with another config (hash {old.get('config_hash')} "
                             f"!= {chash}); choose another output or set dataset.overwrite=true")
        if rank == 0:
            for sub in ("data", "_state"):
                if fs.exists(f"{base}/{sub}"):
                    fs.rm(f"{base}/{sub}", recursive=True)
    fs.makedirs(f"{base}/data", exist_ok=True)
    fs.makedirs(f"{base}/_state", exist_ok=True)

    unusable = table["input_error"] != ""  # values outside the vocabulary: reported, never stored made up
    extra += [{"embryo_id": e, "status": "failed", "reason": "label_error", "detail": d[:500], "shard": -1}
              for e, d in zip(table.loc[unusable, "embryo_id"], table.loc[unusable, "input_error"])]
    rows = table[~unusable].to_dict("records")
    per = max(1, cfg.embryos_per_shard)
    shards = [rows[i: i + per] for i in range(0, len(rows), per)]
    mine = [i for i in range(len(shards)) if i % world_size == rank]
    todo = []
    for i in mine:
        marker = _read_marker(fs, f"{base}/_state/shard-{i:05d}.json")
        done = marker and marker["config_hash"] == chash and (marker["file"] is None or fs.exists(f"{base}/{marker['file']}"))
        if not done:
            todo.append(i)
    for i in todo:  # temporary files of a crashed earlier run: never renamed, so never part of the dataset
        for stale in fs.glob(f"{base}/data/shard-{i:05d}.parquet.tmp-*") + fs.glob(f"{base}/_state/shard-{i:05d}.json.tmp-*"):
            fs.rm(stale)
    args = (root, out, cfg, data, chash)
    bar = tqdm(total=len(todo), desc=f"build shards (rank {rank}/{world_size})", unit="shard")
    if cfg.workers > 0 and len(todo) > 1:
        # spawn, not fork: decord and pyarrow hold threads that a forked child may find locked.
        with cf.ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn"),
                                    initializer=watch_parent, initargs=(os.getpid(),)) as pool:
            for future in cf.as_completed([pool.submit(build_shard, i, shards[i], *args) for i in todo]):
                future.result()
                bar.update()
    else:
        for i in todo:
            build_shard(i, shards[i], *args)
            bar.update()
    bar.close()
    ids_known = table["embryo_id"].notna() & table["patient_id"].notna()  # rows without them are label_error
    summary = finalize(fs, base, out, table[ids_known], cfg, data, chash, len(shards), extra, str(csv_path))
    splits = _read_marker(fs, f"{base}/splits.json") or {}
    report = BuildReport(
        output=out, num_embryos=num_rows, num_built=summary["num_built"],
        num_failed=summary["num_failed"], shards_written=len(todo), shards_skipped=len(mine) - len(todo),
        complete=summary["complete"], seconds=time.time() - start, failures=summary["failures"],
        num_splits=sum(len(parts) for folds in splits.values() for parts in folds.values()),
    )
    if cfg.strict and report.num_failed:
        reasons = ", ".join(f"{r}: {n}" for r, n in report.failures.items())
        raise BuildError(f"{out}: {report.num_failed} embryo(s) not built ({reasons}; dataset.strict=true); "
                         f"see {out}/build_report.csv")
    return report
