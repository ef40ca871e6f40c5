"""The dataset card: split configs that load with the real `datasets`, YAML metadata, counts (issue 15 item 4)."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
import pandas as pd
import pytest
from huggingface_hub import DatasetCard

from aivf.data.config import DataConfig
from aivf.dataset.build import build_dataset
from aivf.dataset.card import card_text
from aivf.dataset.config import DatasetConfig
from aivf.dataset.loader import read_splits
from tests.dataset.conftest import tiny_configs

GOOD = 12  # embryos of the fixture cohort that can be read


def test_every_split_config_loads_with_no_patient_in_two_splits(built, tmp_path):
    splits = read_splits(built)
    names = datasets.get_dataset_config_names(built)
    assert sorted(names) == sorted([f"kfold{f}" for f in splits["kfold"]] + [f"loco_{c}" for c in splits["loco"]])
    for name in names:
        scheme, fold = ("kfold", name[5:]) if name.startswith("kfold") else ("loco", name[5:])
        ds = datasets.load_dataset(built, name, cache_dir=str(tmp_path / "cache"))
        assert set(ds) == {"train", "validation", "test"}, name
        patients = {s: set(ds[s]["patient_id"]) for s in ds}
        for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
            assert not patients[a] & patients[b], f"{name}: patients {patients[a] & patients[b]} in {a} and {b}"
        for split, part in [("train", "train"), ("validation", "val"), ("test", "test")]:
            want = splits[scheme][fold][part]["embryo_ids"]
            assert len(ds[split]) == len(want), (name, split)
            assert sorted(ds[split]["embryo_id"]) == sorted(want), (name, split)
        assert sum(len(ds[s]) for s in ds) == GOOD  # each config covers every built embryo once


def test_default_config_is_kfold0_not_everything_as_train(built, tmp_path):
    ds = datasets.load_dataset(built, cache_dir=str(tmp_path / "cache"))
    test_ids = read_splits(built)["kfold"]["0"]["test"]["embryo_ids"]
    assert sorted(ds["test"]["embryo_id"]) == sorted(test_ids)
    assert not set(ds["train"]["embryo_id"]) & set(test_ids)


def test_card_metadata_and_no_local_paths(built):
    card = DatasetCard.load(os.path.join(built, "README.md"))
    meta = card.data.to_dict()
    assert meta["license"] == "other" and meta["license_name"] and meta["license_details"]
    assert meta["task_categories"] == ["video-classification"]
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    counts = {s["name"]: s["num_examples"] for s in infos["kfold0"]["splits"]}
    k0 = read_splits(built)["kfold"]["0"]
    assert counts == {"train": len(k0["train"]["embryo_ids"]), "validation": len(k0["val"]["embryo_ids"]),
                      "test": len(k0["test"]["embryo_ids"])}
    assert {f["name"] for f in infos["kfold0"]["features"]} >= {"embryo_id", "patient_id", "keyframes", "d5_fhb"}
    text = Path(built, "README.md").read_text()
    root = os.path.dirname(os.path.dirname(built))  # the pytest temp folder above the cohort and the dataset
    assert root not in text, "the card names a local absolute path"
    assert f"| all | {GOOD} | 6 |" in text


def test_rebuild_keeps_the_split_files(built, cohort_csv):
    cfg, data = tiny_configs()
    cells = sorted(os.listdir(os.path.join(built, "splits")))
    stamps = {c: os.stat(os.path.join(built, "splits", c)).st_mtime_ns for c in cells}
    build_dataset(cfg, cohort_csv, built, data, rank=0, world_size=1)
    assert {c: os.stat(os.path.join(built, "splits", c)).st_mtime_ns for c in cells} == stamps


def test_too_few_patients_gives_no_train_split(cohort_csv, tmp_path):
    cfg, data = tiny_configs()
    cfg.splits.num_folds = 50  # more folds than patients: no split can be made
    out = str(tmp_path / "ds")
    with pytest.warns(UserWarning, match="no splits written"):
        build_dataset(cfg, cohort_csv, out, data, rank=0, world_size=1)
    ds = datasets.load_dataset(out, cache_dir=str(tmp_path / "cache"))
    assert list(ds) == ["unsplit"]  # every embryo, under a name nobody takes for a training split


def test_all_row_counts_an_embryo_once():
    """Issue 14 item 11: a repeated row of one embryo is one embryo in the card's counts."""
    labels = pd.DataFrame({"embryo_id": ["a", "a", "b"], "patient_id": ["p", "p", "q"],
                           "d3_fhb": [1, 1, None], "d5_fhb": [None, None, 0], "euploid": [None, None, None]})
    manifest = {"config_hash": "x", "complete": True, "num_built": 2, "num_failed": 0, "shards": []}
    report = pd.DataFrame(columns=["embryo_id", "status", "reason", "detail", "shard"])
    text = card_text("out", "/abs/where/clinical.csv", DatasetConfig(), DataConfig(), manifest, report, labels, {})
    assert "| all | 2 | 2 | 1/0/1 | 0/1/1 | 0/0/2 |" in text
    assert "/abs/" not in text and "`where/clinical.csv`" in text
