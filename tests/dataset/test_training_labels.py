"""train.labels (aivf/dataset/labels.py): fewer patients' labels by patient and seed, truth labels, never val/test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from aivf.dataset.config import LoaderConfig
from aivf.dataset.labels import TASKS, keep_patients, read_label_table, training_labels
from aivf.dataset.splits import split_ids


def synthetic_table(num_patients: int = 200, seed: int = 0) -> pd.DataFrame:
    """Patients of 2-9 embryos, about one in four labelled, as a clinic records them (one patient in ten none)."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(num_patients):
        for k in range(int(rng.integers(2, 10))):
            label = float(rng.integers(2)) if (p % 10 and rng.random() < 0.3) else np.nan
            rows.append({"embryo_id": f"P{p:04d}-{k}", "patient_id": f"P{p:04d}", "d3_fhb": np.nan,
                         "d5_fhb": label, "euploid": np.nan})
    return pd.DataFrame(rows)


def labelled(table: pd.DataFrame) -> pd.Series:
    return table[list(TASKS)].notna().any(axis=1)


def test_keep_patients_is_by_patient_deterministic_and_near_the_fraction():
    table = synthetic_table()
    kept = keep_patients(table, 0.10, seed=3)
    assert kept == keep_patients(table.sample(frac=1.0, random_state=1), 0.10, seed=3)  # row order does not matter
    assert kept != keep_patients(table, 0.10, seed=4)
    share = (labelled(table) & table["patient_id"].isin(kept)).sum() / len(table)
    biggest = labelled(table).groupby(table["patient_id"]).sum().max() / len(table)
    assert abs(share - 0.10) <= biggest / 2 + 1e-9  # the nearest prefix: within half a patient of the target
    assert kept <= set(table["patient_id"])
    # a smaller fraction keeps a subset of a larger one's patients (the same seeded order, a shorter prefix)
    assert keep_patients(table, 0.05, seed=3) <= kept


def test_fraction_on_a_built_dataset_changes_only_training_patients(built, tmp_path):
    splits = json.loads((Path(built) / "splits.json").read_text())
    train_ids = set(split_ids(splits, "kfold/0/train"))
    chosen = training_labels(built, "kfold/0", 0.01, seed=0)  # below any single patient's share: no labels kept
    assert set(chosen.labels) == train_ids  # only training embryos are in the map: val and test cannot change
    assert all(np.isnan(v).all() for v in chosen.labels.values())
    assert chosen.summary["mode"] == "patients" and chosen.summary["labelled_share"] == 0.0
    recorded = read_label_table(built, sorted(train_ids))
    assert chosen.summary["recorded_share"] == pytest.approx(labelled(recorded).mean())
    assert training_labels(built, "kfold/0", 0.25).labels == {}  # the clinic default: as recorded

    # a whole batch: training rows replaced, a validation embryo's row (not in the map) kept as recorded
    val_id = split_ids(splits, "kfold/0/val")[0]
    ids = [*sorted(train_ids)[:2], val_id]
    batch = torch.tensor([[1.0, 0.0, 1.0]] * 3)
    out = chosen.apply(ids, batch)
    assert torch.isnan(out[:2]).all() and torch.equal(out[2], batch[2]) and torch.equal(batch, torch.tensor([[1.0, 0.0, 1.0]] * 3))


def test_the_loop_sees_the_fraction_in_training_and_refit_batches_but_not_in_validation(built):
    from aivf.train.data import ShardTrainData

    chosen = training_labels(built, "kfold/0", 0.01, seed=0)
    cfg = LoaderConfig(batch_size=1, shuffle_buffer=4)
    data = ShardTrainData(built, "kfold/0", cfg, batch_size=1, seed=0, rank=0, world_size=1, prefetch_batches=0,
                          labels=chosen)
    train = list(data.train_batches(0, 0))
    assert train and all(torch.isnan(b["labels"]).all() for b in train)
    assert all(torch.isnan(b["labels"]).all() for b in data.split_batches("train"))  # what the head refit reads
    plain = ShardTrainData(built, "kfold/0", cfg, batch_size=1, seed=0, rank=0, world_size=1, prefetch_batches=0)
    val, recorded = list(data.split_batches("val")), list(plain.split_batches("val"))
    assert [b["embryo_id"] for b in val] == [b["embryo_id"] for b in recorded]
    assert all(torch.equal(torch.nan_to_num(a["labels"], -1), torch.nan_to_num(b["labels"], -1)) for a, b in zip(val, recorded))
    assert any((~torch.isnan(b["labels"])).any() for b in recorded)  # the check above has labels to compare


def test_truth_labels_are_every_embryos_potential_outcome(built, tmp_path):
    splits = json.loads((Path(built) / "splits.json").read_text())
    every = [e for part in ("train", "val", "test") for e in split_ids(splits, f"kfold/0/{part}")]
    truth = pd.DataFrame({"embryo_id": every, "fhb_potential": [i % 2 for i in range(len(every))],
                          "ploidy": [("euploid", "aneuploid", "mosaic")[i % 3] for i in range(len(every))]})
    truth.to_csv(tmp_path / "truth.csv", index=False)
    chosen = training_labels(built, "kfold/0", 1.0, truth_csv=tmp_path / "truth.csv")
    assert set(chosen.labels) == set(split_ids(splits, "kfold/0/train"))
    row = truth.set_index("embryo_id")
    for embryo, labels in chosen.labels.items():
        fhb, ploidy = row.loc[embryo, "fhb_potential"], row.loc[embryo, "ploidy"]
        assert labels.tolist() == [fhb, fhb, float(ploidy == "euploid")]  # mosaic = not euploid, as in evaluation
    assert chosen.summary["mode"] == "truth" and chosen.summary["labelled_share"] == 1.0


def test_truth_labels_are_refused_without_a_truth_file_and_other_fractions_too(built, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"truth\.csv does not exist\. Real data has no potential outcomes"):
        training_labels(built, "kfold/0", 1.0, truth_csv=tmp_path / "truth.csv")
    pd.DataFrame({"embryo_id": ["X-1"], "fhb_potential": [1], "ploidy": ["euploid"]}).to_csv(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="training embryos have no row"):
        training_labels(built, "kfold/0", 1.0, truth_csv=tmp_path / "t.csv")
    for bad in (0.0, 0.5, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"train\.labels\.fraction={bad}: give 0\.25"):
            training_labels(built, "kfold/0", bad)
