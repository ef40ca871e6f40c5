"""What a clinic does and records: embryologist morphology scores, transfer policies, observed labels.

The embryologist only sees the video (event times up to the decision time, fragmentation, ICM/TE
grades, visible degeneration); the potential outcome Y decides what each transfer yields. Labels
exist only where a clinic would have them (docs/simulator.md, "Clinic policies").
"""

from __future__ import annotations

import numpy as np

from aivf.sim import params as P
from aivf.sim.types import DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI

_STAGE_CELLS = np.array([1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10, 10])  # by events seen (0-16)
EMBRYOLOGIST_NOISE_SD = 0.3  # judgement noise that breaks ties between similar-looking embryos


def events_seen(times: np.ndarray, cutoff: float) -> np.ndarray:
    """Number of events that have happened by ``cutoff``; times (N, 16) -> (N,) int."""
    return (np.nan_to_num(times, nan=np.inf) <= cutoff).sum(axis=1)


def visible_direct_cleavage(times: np.ndarray, cutoff: float) -> np.ndarray:
    """t3 - t2 < 5 h (Rubio 2012), known once t3 <= cutoff; (N,) bool."""
    seen = np.nan_to_num(times[:, 4], nan=np.inf) <= cutoff
    return seen & (times[:, 4] - times[:, 3] < 5.0)


def day3_morphology(times, t_arrest_visible, frag, rng, cutoff: float = DAY3_CUTOFF_HPI):
    """Day-3 embryologist: cell number (8 best), fragmentation, even and direct cleavage.

    Returns:
        ``(score, usable)`` (N,) float and bool: usable = >= 4 cells, fragmentation < 25%, not degenerate.
    """
    seen = events_seen(times, cutoff)
    cells = _STAGE_CELLS[seen]
    s2_seen = np.nan_to_num(times[:, 5], nan=np.inf) <= cutoff
    uneven = s2_seen & (times[:, 5] - times[:, 4] > 3.0)  # long 3-cell stage: asynchronous cleavage
    score = (np.minimum(cells, 8) - 1.2 * frag - 2.0 * visible_direct_cleavage(times, cutoff) - 0.5 * uneven
             + EMBRYOLOGIST_NOISE_SD * rng.standard_normal(len(times)))
    degenerate = np.nan_to_num(t_arrest_visible, nan=np.inf) <= cutoff
    usable = (cells >= 4) & (frag <= 2) & ~degenerate
    return score, usable


def day5_morphology(times, t_arrest_visible, icm, te, rng, cutoff: float = DAY5_CUTOFF_HPI):
    """Day-5 embryologist (Gardner-like): expansion stage, then ICM and TE grade (TE weighs more).

    Returns:
        ``(score, usable)``: usable = a full blastocyst (tB) by the cutoff, not degenerate, not grade CC.
    """
    seen = events_seen(times, cutoff)
    expansion = np.clip(seen - 12, 0, 4)  # tSB 1, tB 2, tEB 3, tHB 4
    score = (1.5 * expansion + (2 - icm) + 1.5 * (2 - te)
             + EMBRYOLOGIST_NOISE_SD * rng.standard_normal(len(times)))
    degenerate = np.nan_to_num(t_arrest_visible, nan=np.inf) <= cutoff
    usable = (seen >= 14) & ~degenerate & ~((icm == 2) & (te == 2))  # grade CC blastocysts are discarded
    return score, usable


def transfer_sequence(patient: np.ndarray, candidate: np.ndarray, score: np.ndarray, y: np.ndarray,
                      cap: int | None) -> np.ndarray:
    """Transfer order per embryo: candidates by descending score, one per attempt, until the first
    Y = 1 or ``cap`` transfers (None = until exhausted). Returns (N,) int, 0 = not transferred."""
    order = np.zeros(len(patient), dtype=int)
    for idx in _groups(patient):
        idx = idx[candidate[idx]]
        idx = idx[np.argsort(-score[idx], kind="stable")]
        for k, i in enumerate(idx[: cap or len(idx)], start=1):
            order[i] = k
            if y[i] == 1:
                break
    return order


def transfers_per_pregnancy(patient: np.ndarray, candidate: np.ndarray, score: np.ndarray,
                            y: np.ndarray) -> dict[str, float]:
    """The clinical-metrics.md business metric with potential outcomes, no cap.

    Over cohorts with >= 1 candidate: Σ transfers ÷ pregnant cohorts, the share pregnant at the first
    transfer, the mean transfers to pregnancy among pregnant cohorts and the number of cohorts.
    """
    order = transfer_sequence(patient, candidate, score, y, cap=None)
    total = pregnant = first = 0
    to_preg = []
    for idx in _groups(patient):
        if not candidate[idx].any():
            continue
        done = idx[order[idx] > 0]
        total += len(done)
        if (y[done] == 1).any():
            pregnant += 1
            to_preg.append(len(done))
            first += int(y[done[order[done] == 1]][0] == 1)
    cohorts = len([1 for idx in _groups(patient) if candidate[idx].any()])
    return {
        "transfers_per_pregnancy": total / max(pregnant, 1),
        "pregnant_at_first": first / max(cohorts, 1),
        "mean_transfers_to_pregnancy": float(np.mean(to_preg)) if to_preg else float("nan"),
        "pregnancy_share": pregnant / max(cohorts, 1),
        "cohorts": float(cohorts),
    }


def assign_outcomes(
    rng: np.random.Generator, patient: np.ndarray, policy: np.ndarray, dev: dict[str, np.ndarray],
    ploidy: np.ndarray, y: np.ndarray, max_transfers: int,
) -> dict[str, np.ndarray]:
    """Run each patient's clinic policy and return the observed-label columns (N,) of clinical.csv.

    day3: transfer usable day-3 embryos in day-3 morphology order -> d3_fhb.
    day5: transfer usable blastocysts in day-5 morphology order -> d5_fhb.
    pgta: biopsy every blastocyst formed by day 6 -> pgt (true class, 3% no result); transfer the
    euploid-reported ones in day-5 morphology order -> d5_fhb.
    """
    times, t_vis = dev["times"], dev["t_arrest_visible"]
    n = len(patient)
    s3, use3 = day3_morphology(times, t_vis, dev["frag"], rng)
    s5, use5 = day5_morphology(times, t_vis, dev["icm"], dev["te"], rng)
    biopsied = (policy == "pgta") & (np.nan_to_num(times[:, 13], nan=np.inf) <= P.BIOPSY_BY_HPI)
    pgt = np.full(n, None, dtype=object)
    pgt[biopsied] = np.asarray(["euploid", "aneuploid", "mosaic"], dtype=object)[ploidy[biopsied]]
    pgt[biopsied & (rng.random(n) < P.PGT_NO_RESULT)] = "no_result"
    order3 = transfer_sequence(patient, (policy == "day3") & use3, s3, y, max_transfers)
    order5 = transfer_sequence(patient, ((policy == "day5") & use5) | (pgt == "euploid"), s5, y, max_transfers)
    order = np.maximum(order3, order5)
    transferred = order > 0
    d3 = np.where(order3 > 0, y.astype(float), np.nan)
    d5 = np.where(order5 > 0, y.astype(float), np.nan)
    return {
        "transferred": transferred.astype(int),
        "transfer_day": np.where(order3 > 0, 3.0, np.where(order5 > 0, 5.0, np.nan)),
        "transfer_order": np.where(transferred, order.astype(float), np.nan),
        "biopsied": biopsied.astype(int),
        "d3_fhb": d3,
        "d5_fhb": d5,
        "pgt": pgt,
        "score_d3": s3, "usable_d3": use3, "score_d5": s5, "usable_d5": use5,
    }


def _groups(patient: np.ndarray) -> list[np.ndarray]:
    """Indices of each patient's embryos, in first-appearance order."""
    _, first, inverse = np.unique(patient, return_index=True, return_inverse=True)
    by_patient = np.argsort(inverse, kind="stable")
    groups = np.split(by_patient, np.cumsum(np.bincount(inverse))[:-1])
    return [groups[g] for g in np.argsort(first)]
