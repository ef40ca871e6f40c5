"""A tiny synthetic cohort with the columns of the simulator's clinical.csv / truth.csv (no rendering)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from aivf.sim.types import EVENTS

BASE = np.array([3.5, 7.2, 23.0, 25.0, 35.8, 37.5, 49.2, 51.0, 53.0, 55.7, 64, 85, 97, 107, 117, 127.0])


def synthetic_cohort(n_patients: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(clinical, truth, predictions): quality drives development speed, outcome and a noisy 'model' score."""
    rng = np.random.default_rng(seed)
    clinical, truth = [], []
    for p in range(n_patients):
        clinic, age = f"C{p % 3 + 1}", float(np.clip(rng.normal(36, 4), 24, 45))
        pid = f"{clinic}P{p:04d}"
        for k in range(1, 3 + rng.poisson(3)):
            q = rng.normal()
            times = BASE * np.exp(-0.04 * q + rng.normal(0, 0.02))
            last = len(EVENTS) if q > -0.6 else int(rng.integers(8, 13))
            euploid = rng.random() < expit(1.5 - 0.25 * (age - 35) + 0.5 * q)
            p5 = float(expit(-1.0 + 1.2 * q) * (0.7 if euploid else 0.05)) if last == len(EVENTS) else 0.0
            fhb = float(rng.random() < p5)
            transferred = rng.random() < 0.4
            biopsied = rng.random() < 0.3
            clinical.append(dict(embryo_id=f"{pid}-{k}", patient_id=pid, clinic=clinic, maternal_age=age,
                                 method="ICSI", d3_fhb=np.nan, d5_fhb=fhb if transferred else np.nan,
                                 pgt=("euploid" if euploid else "aneuploid") if biopsied else None))
            truth.append(dict(embryo_id=f"{pid}-{k}", ploidy="euploid" if euploid else "aneuploid", quality=q,
                              fhb_potential=fhb, p_fhb_d3=p5 * 0.9, p_fhb_d5=p5,
                              p_euploid_d5=float(expit(1.5 - 0.25 * (age - 35) + 0.5 * q)),
                              **{f"t_{e}": (times[i] if i < last else np.nan) for i, e in enumerate(EVENTS)}))
    clinical, truth = pd.DataFrame(clinical), pd.DataFrame(truth)
    # d3 labels for some: reuse d5 outcome for a third of the non-d5 embryos
    d3 = (rng.random(len(clinical)) < 0.3) & clinical["d5_fhb"].isna()
    clinical.loc[d3, "d3_fhb"] = (rng.random(d3.sum()) < truth.loc[d3, "p_fhb_d3"]).astype(float)
    noise = rng.normal(0, 1.0, (len(truth), 3))
    preds = pd.DataFrame({"embryo_id": truth["embryo_id"]})
    for j, (task, col) in enumerate((("d3_fhb", "p_fhb_d3"), ("d5_fhb", "p_fhb_d5"), ("euploid", "p_euploid_d5"))):
        logit = np.log(truth[col].clip(1e-3, 1 - 1e-3) / (1 - truth[col].clip(1e-3, 1 - 1e-3))) + noise[:, j]
        preds[f"logit_{task}"] = logit
        preds[f"prob_{task}"] = expit(logit)
    return clinical, truth, preds
