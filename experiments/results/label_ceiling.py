"""How well can the day-5 FHB labels of one cohort rank its blastocysts, even given the true event times?

    python experiments/results/label_ceiling.py outputs/dev1emb      # a run folder: sim/ and dataset/

A logistic regression on what a perfect annotator and the clinic record (the simulator's exact event times
t2 ... tB, their intervals, the recorded ICM/TE grades, maternal age) is fitted on the run's ``kfold/0/train``
split in two ways, then scored on the test split's blastocysts (tB by 116 h) against their potential
outcomes (``truth.csv`` ``fhb_potential``):

- *labels*: the day-5 FHB outcomes a clinic has (transferred, not biopsied embryos): tens per cohort;
- *potential*: every training blastocyst's potential outcome, which no clinic has (an oracle bound).

Each at L2 strengths C = 0.01, 0.1, 1, with the exact times and with times rounded up to a 7-h grid (about
the keyframe spacing). The Bayes posterior is printed for comparison. For dev cohorts only: the output reads the
test split's truth.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

EVENTS = ["t_t2", "t_t3", "t_t4", "t_t5", "t_t8", "t_tM", "t_tSB", "t_tB"]
NOT_REACHED_H = 130.0  # an event that never happens, placed after the recording


def features(table: pd.DataFrame, grid_h: float | None) -> np.ndarray:
    times = table[EVENTS].to_numpy(float)
    if grid_h:
        times = np.ceil(times / grid_h) * grid_h  # first keyframe at which the event is visible
    times = np.nan_to_num(times, nan=NOT_REACHED_H)
    grades = [(table[g] == v).to_numpy(float)[:, None] for g in ("icm_d5", "te_d5") for v in "ABC"]
    age = ((table["maternal_age"] - 35) / 5).to_numpy(float)[:, None]
    return np.column_stack([times, np.diff(times, axis=1), age, *grades])


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    table = pd.read_csv(args.run / "sim" / "truth.csv").merge(pd.read_csv(args.run / "sim" / "clinical.csv"),
                                                              on="embryo_id")
    splits = json.loads((args.run / "dataset" / "splits.json").read_text())["kfold"]["0"]
    part = {e: name for name, ids in splits.items() for e in ids["embryo_ids"]}
    table["part"] = table["embryo_id"].map(part)
    blast = table["t_tB"] < 116
    labelled = table["d5_fhb"].notna() & (table["biopsied"] == 0)
    test = table[(table["part"] == "test") & blast]
    y = test["fhb_potential"].to_numpy()
    print(f"{args.run}: {int((labelled & (table['part'] == 'train')).sum())} day-5 FHB labels in train, "
          f"{len(test)} test blastocysts; Bayes AUC {roc_auc_score(y, test['p_fhb_d5']):.3f}")
    fits = {"labels": (table[(table["part"] == "train") & labelled], "d5_fhb"),
            "potential": (table[(table["part"] == "train") & blast], "fhb_potential")}
    for grid in (None, 7.0):
        for c in (0.01, 0.1, 1.0):
            cells = []
            for name, (train, target) in fits.items():
                model = LogisticRegression(C=c, max_iter=5000).fit(features(train, grid), train[target])
                cells.append(f"{name} {roc_auc_score(y, model.predict_proba(features(test, grid))[:, 1]):.3f}")
            print(f"  times {'exact' if grid is None else f'on a {grid:g}-h grid'}, C={c:g}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
