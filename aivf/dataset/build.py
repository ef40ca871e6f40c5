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


def read_clinical(path: str | Path) -> pd.DataFrame:
    """The clinical table: ids as strings, numbers parsed, empty cells as None/NaN (missing stays missing).

    Raises:
        BuildError: a required column is missing.
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in table]
    if missing:
        raise BuildError(f"{path}: clinical CSV lacks column(s) {missing}; it has {list(table.columns)}")
    table = table.replace({"": None})
    if "patient_id" not in table:  # siblings share the id part before the last dash (docs/architecture.md)
        warnings.warn(f"{path}: no patient_id column; using the embryo id before its last dash", stacklevel=2)
        table["patient_id"] = table["embryo_id"].str.rsplit("-", n=1).str[0]
    if "clinic" not in table:
        table["clinic"] = "unknown"
    for column in INT_COLUMNS:
        table[column] = pd.to_numeric(table.get(column), errors="coerce") if column in table else np.nan
    table["maternal_age"] = pd.to_numeric(table["maternal_age"], errors="coerce") if "maternal_age" in table else np.nan
    for column in STR_COLUMNS:
        if column not in table:
            table[column] = None
    return table


def euploid_label(pgt: str | None, mosaic_as: str) -> float:
    """1 euploid, 0 aneuploid, NaN where unknown (no biopsy, no_result); mosaic per ``mosaic_as``."""
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
        "num_frames": Value("int32"), "recording": Value("string"), "source": Value("string"),
        "maternal_age": Value("float32"), "method": Value("string"), "policy": Value("string"),
        "transferred": Value("int8"), "biopsied": Value("int8"), "transfer_day": Value("int8"),
        "d3_fhb": Value("int8"), "d5_fhb": Value("int8"),  # None where no transfer / no outcome
        "pgt": Value("string"), "euploid": Value("int8"),  # euploid derived from pgt (mosaic per config)
    })


def config_hash(cfg: DatasetConfig, data: DataConfig, csv_bytes: bytes) -> str:
    """Hash of everything that changes a shard's content (the CSV's bytes, not its path; not workers or loader)."""
    build = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in ("workers", "output", "overwrite", "splits", "loader", "clinical_csv")}
    # schema: bumped when the shard columns change (2: phase_labels), so old shards are never resumed into a new layout
    blob = json.dumps({"build": build, "data": dataclasses.asdict(data), "schema": 2}, sort_keys=True).encode()
    return hashlib.sha256(blob + hashlib.sha256(csv_bytes).digest()).hexdigest()[:16]


def _optional(value, cast=float):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else cast(value)


def _embryo_row(row: dict, rec, frames: np.ndarray, keys, cfg: DatasetConfig) -> dict:
    return {
        "embryo_id": row["embryo_id"], "patient_id": row["patient_id"], "clinic": row["clinic"],
        "keyframes": frames, "keyframe_hpi": keys.hpi.astype(np.float32), "keyframe_mask": keys.mask.astype(bool),
        "keyframe_index": keys.indices.astype(np.int32), "num_frames": len(rec), "recording": row["recording"],
        "phase_labels": keyframe_phases(rec, keys),
        "source": getattr(rec, "source", "?"), "maternal_age": _optional(row["maternal_age"]),
        "method": row["method"], "policy": row["policy"], "pgt": row["pgt"],
        **{c: _optional(row[c], int) for c in INT_COLUMNS},
        "euploid": _optional(euploid_label(row["pgt"], cfg.mosaic_as), int),
    }


def keyframe_phases(rec, keys) -> np.ndarray:
    """int8 (K,) the annotated phase (index into the 16 Gomez phases) of each keyframe; -1 where missing or unannotated."""
    labels = np.full(len(keys.indices), -1, dtype=np.int8)
    phases = getattr(rec, "phases", None)
    if phases is not None and len(phases) == len(rec):
        labels[keys.mask] = phases[keys.indices[keys.mask]]
    return labels


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
    notes = "; ".join(sorted({str(w.message) for w in caught}))[:500]
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
    table = read_clinical(csv_path)
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

    duplicated = table["embryo_id"].duplicated()
    rows = table[~duplicated].to_dict("records")
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
        with cf.ProcessPoolExecutor(min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn")) as pool:
            for future in cf.as_completed([pool.submit(build_shard, i, shards[i], *args) for i in todo]):
                future.result()
                bar.update()
    else:
        for i in todo:
            build_shard(i, shards[i], *args)
            bar.update()
    bar.close()
    extra = [{"embryo_id": e, "status": "failed", "reason": "duplicate_id", "detail": "repeated row in the CSV", "shard": -1}
             for e in table.loc[duplicated, "embryo_id"]]
    summary = finalize(fs, base, out, table, cfg, data, chash, len(shards), extra, str(csv_path))
    return BuildReport(
        output=out, num_embryos=len(table), num_built=summary["num_built"], num_failed=summary["num_failed"],
        shards_written=len(todo), shards_skipped=len(mine) - len(todo), complete=summary["complete"],
        seconds=time.time() - start, failures=summary["failures"],
    )
