"""``aivf rank --clinical``: one bad age or one repeated id leaves that embryo out (listed), the rest are ranked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from aivf.eval import rank_cli

ROWS = [  # embryo_id, patient_id, maternal_age, method
    ("P1-1", "P1", "34", "ICSI"), ("P1-2", "P1", "unknown", "ICSI"),  # a bad age
    ("P2-1", "P2", "38", "ivf"), ("P2-2", "P2", "38", "IVF"), ("P2-2", "P9", "38", "IVF"),  # a repeated id
]


def write_clinical(path: Path) -> Path:
    pd.DataFrame(ROWS, columns=["embryo_id", "patient_id", "maternal_age", "method"]).to_csv(path, index=False)
    return path


def test_clinical_table_names_the_unusable_rows(tmp_path):
    with pytest.warns(UserWarning, match="normalised the spelling"):  # "ivf" -> "IVF"
        table, problems = rank_cli.clinical_table(write_clinical(tmp_path / "c.csv"))
    assert set(problems) == {"P1-2", "P2-2"}
    assert "line 3: maternal_age='unknown'" in problems["P1-2"] and "lines 5, 6" in problems["P2-2"]
    assert sorted(table.index) == ["P1-1", "P2-1"]
    cov, patient = rank_cli.covariates_for(table, "P2-1")
    np.testing.assert_allclose(cov, [(38 - 35) / 5, 0.0])
    assert patient == "P2"
    cov, patient = rank_cli.covariates_for(table, "P1-1")
    np.testing.assert_allclose(cov, [(34 - 35) / 5, 1.0])
    assert patient == "P1"


def test_clinical_table_keeps_the_day5_grades_and_leaves_out_a_row_with_a_bad_one(tmp_path):
    path = tmp_path / "graded.csv"
    path.write_text("embryo_id,patient_id,maternal_age,method,expansion_d5,icm_d5,te_d5\n"
                    "P1-1,P1,34,ICSI,4,A,B\nP1-2,P1,34,ICSI,9,A,B\nP1-3,P1,34,ICSI,,,\n")
    table, problems = rank_cli.clinical_table(path)
    assert set(problems) == {"P1-2"} and "expansion_d5='9'" in problems["P1-2"]
    assert table.loc["P1-1", "te_d5"] == "B" and table.loc["P1-1", "expansion_d5"] == 4
    assert pd.isna(table.loc["P1-3", "icm_d5"])  # ungraded: kept, the gate reads it as no grade


def test_score_recordings_lists_bad_rows_and_ranks_the_others(tmp_path, monkeypatch):
    import torch

    import aivf.data
    import aivf.eval.scoring
    from aivf.config import ExperimentConfig

    ids = ["P1-1", "P1-2", "P2-1", "P2-2", "P3-1"]  # P3-1 is not in the table: no covariates, patient from its id
    monkeypatch.setattr(aivf.data, "find_recordings", lambda root: [root / f"{e}.mp4" for e in ids])
    monkeypatch.setattr(rank_cli, "recording_batch", lambda path, *a: ({"embryo_id": [path.stem]},
                                                                         {"embryo_id": path.stem, "source": "fake"}))
    monkeypatch.setattr(rank_cli, "_thumbnails", lambda *a: (np.zeros((0, 4, 4), np.uint8), np.zeros(0)))
    seen = {}

    def predict(model, batches, **kwargs):
        (batch,) = batches
        seen[batch["embryo_id"][0]] = batch["covariates"]
        return pd.DataFrame({"embryo_id": batch["embryo_id"], "patient_id": batch["patient_id"]})

    monkeypatch.setattr(aivf.eval.scoring, "predict", predict)
    model = SimpleNamespace(config=None)  # recording_batch is faked: the model is never called
    with pytest.warns(UserWarning, match="normalised"):
        pred, skipped = rank_cli._score_recordings(model, tmp_path, str(write_clinical(tmp_path / "c.csv")),
                                                   ExperimentConfig(), {})
    assert sorted(pred["embryo_id"]) == ["P1-1", "P2-1", "P3-1"]
    assert dict(zip(pred["embryo_id"], pred["patient_id"]))["P3-1"] == "P3"
    assert len(skipped) == 2 and any("P1-2" in s and "maternal_age='unknown'" in s for s in skipped)
    assert any("P2-2" in s and "lines 5, 6" in s for s in skipped)
    assert torch.isnan(seen["P3-1"]).all() and torch.allclose(seen["P1-1"], torch.tensor([[-0.2, 1.0]]))
