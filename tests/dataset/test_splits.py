"""Patient-grouped splits: siblings never cross, folds cover everyone once, leaks are caught."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from aivf.dataset.config import SplitConfig
from aivf.dataset.splits import SplitLeakError, check_splits, make_splits, split_ids


def cohort_table(num_patients: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(num_patients):
        for k in range(1, int(rng.integers(1, 5)) + 1):
            rows.append({"embryo_id": f"P{p:03d}-{k}", "patient_id": f"P{p:03d}", "clinic": f"C{p % 3}",
                         "d5_fhb": 1.0 if (p % 4 == 0 and k == 1) else np.nan, "euploid": np.nan})
    return pd.DataFrame(rows)


def test_kfold_and_loco_keep_patients_together():
    table = cohort_table()
    splits = make_splits(table, SplitConfig(num_folds=5, seed=1))
    patient_of = dict(zip(table["embryo_id"], table["patient_id"]))
    tests = [e for fold in splits["kfold"].values() for e in fold["test"]["embryo_ids"]]
    assert sorted(tests) == sorted(table["embryo_id"])  # every embryo is tested exactly once
    for scheme in ("kfold", "loco"):
        for parts in splits[scheme].values():
            seen: dict[str, str] = {}
            for part, members in parts.items():
                for e in members["embryo_ids"]:
                    assert seen.setdefault(patient_of[e], part) == part, f"{e} crosses {scheme}"
            assert sum(len(m["embryo_ids"]) for m in parts.values()) == len(table)
    assert set(splits["loco"]) == {"C0", "C1", "C2"}
    assert set(splits["loco"]["C1"]["test"]["patient_ids"]) == set(table.loc[table.clinic == "C1", "patient_id"])


def test_stratified_positive_patients_spread_over_folds():
    table = cohort_table(40)
    splits = make_splits(table, SplitConfig(num_folds=5))
    positives = set(table.loc[table["d5_fhb"] == 1, "patient_id"])  # 10 positive patients
    per_fold = [len(positives & set(f["test"]["patient_ids"])) for f in splits["kfold"].values()]
    assert per_fold == [2, 2, 2, 2, 2]


def test_deterministic_for_a_seed():
    table = cohort_table()
    assert make_splits(table, SplitConfig(seed=3)) == make_splits(table, SplitConfig(seed=3))
    assert make_splits(table, SplitConfig(seed=3)) != make_splits(table, SplitConfig(seed=4))


def test_check_splits_catches_embryo_and_patient_leaks():
    table = cohort_table()
    splits = make_splits(table, SplitConfig(num_folds=3))
    leaky = copy.deepcopy(splits)
    moved = leaky["kfold"]["0"]["test"]["embryo_ids"][0]
    leaky["kfold"]["0"]["train"]["embryo_ids"].append(moved)
    with pytest.raises(SplitLeakError) as err:
        check_splits(leaky)
    assert ("embryo", moved, "kfold/0/train", "kfold/0/test") in err.value.offenders
    assert moved in str(err.value)
    # a sibling placed in another part: only the patient mapping reveals it
    sibling = copy.deepcopy(splits)
    patient = sibling["kfold"]["1"]["test"]["patient_ids"][0]
    sibling["kfold"]["1"]["val"]["embryo_ids"].append(f"{patient}-99")
    check_splits(sibling)  # without the mapping this looks fine
    mapping = {**dict(zip(table["embryo_id"], table["patient_id"])), f"{patient}-99": patient}
    with pytest.raises(SplitLeakError, match=patient):
        check_splits(sibling, mapping)


def test_split_names_and_errors():
    splits = make_splits(cohort_table(), SplitConfig(num_folds=3, leave_one_clinic_out=False))
    assert "loco" not in splits and split_ids(splits, "kfold/2/val")
    with pytest.raises(KeyError, match="kfold/0/train"):
        split_ids(splits, "kfold/9/train")
    with pytest.raises(ValueError, match="num_folds"):
        make_splits(cohort_table(2), SplitConfig(num_folds=3))
