"""The outcome labels the training patients carry: as recorded, fewer patients' labels, or the simulator's truth.

The label-efficiency benchmark (experiments/label_efficiency) trains the same model with different shares of
outcome labels (``train.labels``, aivf/train/config.py ``LabelsConfig``). Everything here works on the training
part of one split; validation and test embryos are never in a :class:`TrainingLabels` map, so evaluation and the
loop's validation read the labels of the shards, unchanged.

- Fewer labels are chosen by PATIENT, not by embryo: a clinic that records an outcome records it for the
  patient's transfers and biopsies, and siblings share age, clinic and cycle, so dropping embryos one by one
  would keep most patients' information.
- The selection is a seeded permutation of the sorted patient ids, so the same seed keeps the same patients on
  every machine and rank, and a smaller fraction keeps a subset of a larger one's patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from aivf.dataset.config import CLINIC_LABEL_FRACTION as CLINIC_DEFAULT
from aivf.dataset.loader import TASKS, read_manifest, read_splits
from aivf.dataset.splits import split_ids


@dataclass
class TrainingLabels:
    """Outcome labels that replace the recorded ones of the training embryos in every training batch.

    ``labels`` maps each training embryo id to its (3,) float32 labels (NaN = none); ``summary`` says what was
    chosen (mode, labelled share, patients kept), for the run folder and the benchmark table.
    """

    labels: dict[str, np.ndarray]
    summary: dict = field(default_factory=dict)

    def apply(self, embryo_ids: list[str], labels: torch.Tensor) -> torch.Tensor:
        """(B, 3) labels with the rows of mapped embryos replaced (others, e.g. validation embryos, unchanged)."""
        out = labels.clone()
        for i, embryo in enumerate(embryo_ids):
            row = self.labels.get(embryo)
            if row is not None:
                out[i] = torch.tensor(row, dtype=out.dtype)
        return out


def read_label_table(path: str | Path, ids: list[str]) -> pd.DataFrame:
    """embryo_id, patient_id and the TASKS columns (float, NaN = missing) of ``ids``, read without any pixels."""
    fs, base, manifest = read_manifest(str(path))
    wanted = set(ids)
    parts = []
    for shard in manifest["shards"]:
        if wanted.intersection(shard["embryo_ids"]):
            with fs.open(f"{base}/{shard['file']}", "rb") as handle:
                parts.append(pq.read_table(handle, columns=["embryo_id", "patient_id", *TASKS]).to_pandas())
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["embryo_id", "patient_id", *TASKS])
    table = table[table["embryo_id"].isin(wanted)].sort_values("embryo_id", kind="stable").reset_index(drop=True)
    return table.astype({t: np.float64 for t in TASKS})


def keep_patients(table: pd.DataFrame, fraction: float, seed: int) -> set[str]:
    """The training patients whose recorded labels are kept so that about ``fraction`` of all embryos are labelled.

    Patients are taken in a seeded order (a permutation of the sorted ids); the prefix whose labelled-embryo count
    is nearest to ``fraction x len(table)`` is kept (a patient's embryos come and go together).
    """
    labelled = table[list(TASKS)].notna().any(axis=1)
    per_patient = labelled.groupby(table["patient_id"]).sum()  # sorted by patient id
    order = np.random.default_rng([seed, 13]).permutation(len(per_patient))
    counts = per_patient.to_numpy()[order]
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    k = int(np.argmin(np.abs(cumulative - fraction * len(table))))  # first of the nearest prefixes
    return set(per_patient.index[order[:k]])


def truth_labels(table: pd.DataFrame, truth_csv: Path) -> pd.DataFrame:
    """The TASKS columns of ``table`` replaced by every embryo's potential outcome from the simulator's truth.csv.

    d3_fhb and d5_fhb = ``fhb_potential`` (FHB had the embryo been transferred; aivf evaluate judges both day-3 and
    day-5 predictions on it), euploid = ``ploidy == "euploid"`` (mosaic counts as not euploid, as in evaluation).
    """
    if not truth_csv.is_file():
        raise FileNotFoundError(
            f"train.labels.fraction=1.0 labels every training embryo from the simulator's truth file, but "
            f"{truth_csv} does not exist. Real data has no potential outcomes: use train.labels.fraction=0.25 (as "
            "recorded) or below; for a simulated cohort set train.labels.truth_csv=<sim folder>/truth.csv")
    truth = pd.read_csv(truth_csv, usecols=["embryo_id", "fhb_potential", "ploidy"]).set_index("embryo_id")
    missing = sorted(set(table["embryo_id"]) - set(truth.index))
    if missing:
        raise ValueError(f"{truth_csv}: {len(missing)} training embryos have no row (e.g. {missing[:3]}); is it the "
                         "truth.csv of the cohort this dataset was built from?")
    rows = truth.loc[table["embryo_id"]]
    fhb = pd.to_numeric(rows["fhb_potential"], errors="coerce").to_numpy(np.float64)
    euploid = np.where(rows["ploidy"].isna(), np.nan, (rows["ploidy"] == "euploid").astype(float))
    return table.assign(d3_fhb=fhb, d5_fhb=fhb, euploid=euploid)


def training_labels(path: str | Path, split: str, fraction: float, seed: int = 0,
                    truth_csv: str | Path | None = None) -> TrainingLabels:
    """The outcome labels of ``<split>/train`` for ``train.labels`` (LabelsConfig); an empty map = as recorded.

    Args:
        path: a built dataset folder (manifest.json, splits.json, shards).
        split: ``"<scheme>/<fold>"``; only its ``train`` part is touched.
        fraction: 0.25 as recorded; in (0, 0.25) the recorded labels of fewer patients; 1.0 truth.csv.
        seed: the patient order for fractions below 0.25.
        truth_csv: the simulator's truth.csv (fraction 1.0 only).

    Raises:
        ValueError: a fraction that is none of these; FileNotFoundError: fraction 1.0 without a truth file.
    """
    if not (0.0 < fraction <= CLINIC_DEFAULT or fraction == 1.0):
        raise ValueError(f"train.labels.fraction={fraction}: give 0.25 (the labels as recorded), a share of the "
                         "training embryos below 0.25 (the recorded labels of fewer patients, e.g. 0.1) or 1.0 (every "
                         "embryo's potential outcome from truth.csv, simulation only)")
    ids = split_ids(read_splits(str(path)), f"{split}/train")
    table = read_label_table(path, ids)
    recorded = float(table[list(TASKS)].notna().any(axis=1).mean()) if len(table) else 0.0
    if fraction == CLINIC_DEFAULT:
        new, mode, kept = table, "recorded", int(table["patient_id"].nunique())
    elif fraction == 1.0:
        if truth_csv is None:
            raise FileNotFoundError("train.labels.fraction=1.0 needs the simulator's truth.csv: set "
                                    "train.labels.truth_csv (real data has none; use 0.25 or below)")
        new = truth_labels(table, Path(truth_csv))
        mode, kept = "truth", int(table["patient_id"].nunique())
    else:
        patients = keep_patients(table, fraction, seed)
        drop = ~table["patient_id"].isin(patients)
        new = table.copy()
        new.loc[drop, list(TASKS)] = np.nan
        mode, kept = "patients", len(patients)
    values = new[list(TASKS)].to_numpy(np.float32)
    summary = {"mode": mode, "fraction": fraction, "seed": seed, "n_embryos": len(table),
               "n_patients": int(table["patient_id"].nunique()), "n_patients_kept": kept,
               "recorded_share": recorded, "labelled_share": float((~np.isnan(values)).any(axis=1).mean()) if len(table) else 0.0,
               "n_labels": {t: int((~np.isnan(values[:, j])).sum()) for j, t in enumerate(TASKS)}}
    return TrainingLabels({} if mode == "recorded" else dict(zip(table["embryo_id"], values)), summary)
