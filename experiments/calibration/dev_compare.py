"""Dev-cohort comparison of ways to calibrate the shown P(FHB | day-5) for EVERY embryo.

Scores a finished run's validation split, fits each calibration variant on it, and judges the test split of a
DEV cohort (a seed used for nothing else) against the simulator's potential outcomes: ECE over all embryos,
embryos the truth all but excludes shown above 0.5, potential-outcome AUC, top-1 usable rate.

    python experiments/calibration/dev_compare.py outputs/dev1
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from aivf.config import load_config
from aivf.dataset.loader import load_split
from aivf.eval import metrics
from aivf.eval.evaluate_cli import score_split, split_table
from aivf.eval.orderings import is_blastocyst
from aivf.eval.scoring import add_probabilities, config_files, fit_calibrator, load_model, resolve_checkpoint


def judge(pred: pd.DataFrame, truth: pd.DataFrame) -> dict:
    t = pred.merge(truth, on="embryo_id")
    y, p, b = t["fhb_potential"].to_numpy(float), t["prob_d5_fhb"].to_numpy(float), t["p_fhb_d5"].to_numpy(float)
    cohorts = t["patient_id"].astype(str).to_numpy()
    usable = is_blastocyst(t)
    cand = t["last_keyframe_hpi"].to_numpy(float) >= 96
    return {"ece": metrics.expected_calibration_error(y, p, 10), "ece_bayes": metrics.expected_calibration_error(b, p, 10),
            "excl_high": int(((b < 0.05) & (p > 0.5)).sum()), "auc": metrics.roc_auc(y, p),
            "top1": metrics.top1_usable_rate(usable, p, cohorts)[0],
            "top1_d5": metrics.top1_usable_rate(usable[cand], p[cand], cohorts[cand])[0],
            "mean_shown": p.mean(), "mean_outcome": y.mean()}


def main(run: str) -> None:
    ckpt = resolve_checkpoint(run)
    cfg = load_config(config_files(ckpt, None), [])
    ds_path = str(Path(run) / "dataset")
    cache = Path(run) / "dev_val_predictions.csv"
    if cache.is_file():
        val = pd.read_csv(cache)
    else:
        val_ds = load_split(ds_path, "kfold/0/val")
        val = score_split(load_model(ckpt), val_ds, cfg)
        val = val.merge(split_table(val_ds)[["embryo_id", "biopsied", "transfer_day", "maternal_age", "expansion_d5",
                                             "icm_d5", "te_d5", "usable_d5"]].rename(columns={"usable_d5": "rec_usable_d5"}),
                        on="embryo_id")
        val.to_csv(cache, index=False)
    test = pd.read_csv(Path(run) / "eval" / "predictions.csv")
    test = test[[c for c in test.columns if not c.startswith("prob_")]]
    truth = pd.read_csv(Path(run) / "sim" / "truth.csv")
    rows = {}
    for name, cal in variants(val).items():
        rows[name] = judge(add_probabilities(test.copy(), cal), truth)
    print(pd.DataFrame(rows).T.round(3).to_string())


GRADE_POINTS = {"A": 2.0, "B": 1.0, "C": 0.0}


def propensity_weights(val: pd.DataFrame, clip: float = 0.05) -> np.ndarray:
    """1 / P(labelled day-5 transfer | usable, records) for labelled embryos, NaN elsewhere."""
    from sklearn.linear_model import LogisticRegression

    day5_patients = val.loc[(val["transfer_day"] == 5) & (val["biopsied"] != 1), "patient_id"].unique()
    pop = (val["rec_usable_d5"] == 1) & val["patient_id"].isin(day5_patients)
    lab = pop & val["label_d5_fhb"].notna() & (val["biopsied"] != 1)
    t = val[pop].copy()
    feats = {}
    for col in ("expansion_d5", "icm_d5", "te_d5"):
        x = t[col].map(GRADE_POINTS) if col != "expansion_d5" else t[col].astype(float)
        feats[col + "_missing"] = x.isna().astype(float)
        feats[col] = x.fillna(x.mean())
    f = pd.DataFrame(feats, index=t.index)
    grade = f["expansion_d5"] + f["icm_d5"] + 1.5 * f["te_d5"]
    f["rank"] = grade.groupby(t["patient_id"]).rank(ascending=False)
    f["n_usable"] = t.groupby("patient_id")["patient_id"].transform("size").astype(float)
    f["age"] = t["maternal_age"].astype(float)
    f["logit_d5"] = t["logit_d5_fhb"]
    X = ((f - f.mean()) / f.std().replace(0, 1)).to_numpy()
    m = LogisticRegression(C=1.0).fit(X, lab[pop].to_numpy())
    pi = np.clip(m.predict_proba(X)[:, 1], clip, 1)
    w = np.full(len(val), np.nan)
    w[np.flatnonzero(pop.to_numpy())] = 1 / pi
    print(f"population {pop.sum()} labelled {lab.sum()} mean label {val.loc[lab, 'label_d5_fhb'].mean():.3f}"
          f" weighted {np.average(val.loc[lab, 'label_d5_fhb'], weights=w[lab.to_numpy()]):.3f}")
    return np.where(lab.to_numpy(), w, np.nan)


def weighted_platt(z, y, w, l2=1e-3):
    from scipy.optimize import minimize
    from scipy.special import expit

    w = w / w.mean()

    def objective(ab):
        s = ab[0] * z + ab[1]
        r = expit(s) - y
        v = np.mean(w * (np.logaddexp(0, s) - y * s)) + l2 * ((ab[0] - 1) ** 2 + ab[1] ** 2)
        return v, np.array([np.mean(w * r * z) + 2 * l2 * (ab[0] - 1), np.mean(w * r) + 2 * l2 * ab[1]])
    res = minimize(objective, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=((1e-3, 50), (-15, 15)))
    return float(res.x[0]), float(res.x[1])


def with_weighted_d5(cal, val, w, slope_free=True):
    import copy

    cal = copy.deepcopy(cal)
    lab = ~np.isnan(w)
    z, y = val.loc[lab, "logit_d5_fhb"].to_numpy(float), val.loc[lab, "label_d5_fhb"].to_numpy(float)
    if slope_free:
        a, b = weighted_platt(z, y, w[lab])
    else:
        a0 = cal.params["d5_fhb"]["a"]
        from scipy.optimize import minimize_scalar

        ww = w[lab] / w[lab].mean()
        b = minimize_scalar(lambda c: np.mean(ww * (np.logaddexp(0, a0 * z + c) - y * (a0 * z + c))), bounds=(-15, 15),
                            method="bounded").x
        a = a0
    print("platt", cal.params["d5_fhb"].get("a"), cal.params["d5_fhb"].get("b"), "->", a, b)
    cal.params["d5_fhb"] = {"kind": "platt", "a": a, "b": b, "n": int(lab.sum())}
    return cal


def variants(val: pd.DataFrame) -> dict:
    logits = [c for c in val.columns if c.startswith("logit_") or c.startswith("label_") or c in
              ("embryo_id", "patient_id", "stage_index", "last_keyframe_hpi")]
    v = val[logits]
    cur = fit_calibrator(v, "platt", val["biopsied"])
    w = propensity_weights(val)
    return {"current": cur, "with_biopsied": fit_calibrator(v, "platt"),
            "ipw": with_weighted_d5(cur, val, w), "ipw_intercept": with_weighted_d5(cur, val, w, False),
            "ipw_clip20": with_weighted_d5(cur, val, propensity_weights(val, 0.2))}


if __name__ == "__main__":
    main(sys.argv[1])
