"""Clinic records of every embryo: parsed without silent changes, stored in the shards, read from a Gomez export."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest

from aivf.data.config import DataConfig, KeyframeConfig
from aivf.dataset.build import build_dataset
from aivf.dataset.config import DatasetConfig, SplitConfig
from aivf.dataset.records import auxiliary_labels, check_records

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def test_records_parse_case_insensitively_and_flag_what_is_outside_the_vocabulary():
    table = pd.DataFrame({"usable_d5": ["1", "0", "2", ""], "icm_d5": ["a ", "B", "D", None],
                          "decision": ["Frozen", "discarded", "thrown", ""], "expansion_d5": ["3", "0", "7", "1.5"]})
    problems = check_records(table)
    assert table["usable_d5"].tolist()[:2] == [1.0, 0.0] and np.isnan(table["usable_d5"][2:]).all()
    assert table["icm_d5"].tolist() == ["A", "B", None, None]
    assert table["decision"].tolist() == ["frozen", "discarded", None, None]
    assert problems[0] == [] and problems[1] == []
    assert any("usable_d5='2'" in p for p in problems[2]) and any("icm_d5='D'" in p for p in problems[2])
    assert any("decision='thrown'" in p for p in problems[2]) and any("expansion_d5='7'" in p for p in problems[2])
    assert problems[3] == ["line 5: expansion_d5='1.5' is not a whole number 0-6 or an empty cell"]


def test_auxiliary_labels_keep_missing_missing():
    assert auxiliary_labels({"usable_d3": 1.0, "usable_d5": float("nan"), "usable_d6": 0.0, "icm_d5": "C",
                             "te_d5": None}) == {
        "usable_d3": 1.0, "usable_d5": None, "usable_d6": 0.0, "icm_ab": 0.0, "te_ab": None}


@pytest.mark.skipif(not SHARED.exists(), reason="../shared (real samples) not present")
def test_gomez_grades_file_reaches_the_shards(tmp_path):
    """A Gomez export's embryo_dataset_grades.csv (TE, ICM; NA where none) fills the grades the table lacks."""
    import shutil

    videos = sorted(p.name for p in (SHARED / "data" / "gomez_sample").iterdir() if p.is_dir())
    root = tmp_path / "gomez"
    for v in videos:
        shutil.copytree(SHARED / "data" / "gomez_sample" / v, root / v)
    pd.DataFrame({"video_name": videos, "TE": ["A", "c", "NA"], "ICM": ["B", "C", "NA"]}).to_csv(
        root / "embryo_dataset_grades.csv", index=False)
    rows = [{"embryo_id": v, "patient_id": v, "clinic": "gomez", "recording": str(root / v)} for v in videos]
    rows[0]["icm_d5"] = "A"  # the clinical table's own grade wins over the export's
    csv = tmp_path / "clinical.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    cfg = DatasetConfig(workers=0, splits=SplitConfig(num_folds=3))
    report = build_dataset(cfg, csv, str(tmp_path / "ds"), DataConfig(keyframes=KeyframeConfig(num_keyframes=8, size=32)),
                           rank=0, world_size=1)
    assert report.num_built == 3, report.failures
    ds = datasets.load_dataset("parquet", data_files=f"{tmp_path}/ds/data/*.parquet", split="train")
    got = {r["embryo_id"]: (r["icm_d5"], r["te_d5"], r["aux_icm_ab"], r["aux_te_ab"]) for r in ds}
    assert got[videos[0]] == ("A", "A", 1, 1)
    assert got[videos[1]] == ("C", "C", 0, 0)
    assert got[videos[2]] == (None, None, None, None)
