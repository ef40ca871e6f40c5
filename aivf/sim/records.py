"""What a clinic records for EVERY embryo, not only the transferred ones: decisions, grades, cell counts.

Outcome labels exist only for transferred (good) embryos, so they cannot teach a model what an arrested
embryo is. Clinics do record, for every embryo, the embryologist's call on day 3 and day 5 (usable or
not, and what became of it: transferred, frozen, discarded, and why) and the grades behind it (day-3
cell number and fragmentation, day-5 Gardner expansion and ICM/TE). These columns of clinical.csv are
the simulator's version of those records:

- ``usable_d3`` / ``usable_d5``: the embryologist's call (0/1) at the day-3 / day-5 decision time, exactly
  the call the clinic's policy acted on (aivf/sim/outcomes.py). ``usable_d5`` is empty for an embryo
  transferred on day 3: its recording ends at the transfer.
- ``usable_d6``: a usable blastocyst by day 6 (``DAY6_CUTOFF_HPI``): 1 for one usable on day 5, else the
  extended-culture call on day 6 (clinics culture the rest on and freeze day-6 blastocysts, which still
  implant). A day-5 morula that blastulates on day 6 has a real chance of a heartbeat, so this, not the
  day-5 call, is the gate of P(FHB) for every embryo. Empty for a day-3 transfer.
- ``decision`` (transferred / frozen / discarded) and ``decision_reason`` (why it was discarded).
- ``cells_d3``, ``frag_d3`` (fragmentation level 0-3), ``expansion_d5`` (0 none, 1 early blastocyst,
  2 full, 3 expanded, 4 hatching), ``icm_d5`` / ``te_d5`` (A/B/C, full blastocysts only): graded with
  inter-observer noise (a grade moves to a neighbour with probability ``GRADE_NOISE``; Storr et al. 2017
  report kappa ~0.4-0.6 for Gardner ICM/TE between embryologists) and with gaps: each clinic leaves a
  share of embryos ungraded (``MISSING_GRADE_RANGE``), and grades are never written where there is
  nothing to grade (no ICM/TE before a full blastocyst).

The records use their own random stream, so adding them changed no earlier column of a seeded cohort.
"""

from __future__ import annotations

import numpy as np

from aivf.sim import params as P
from aivf.sim.outcomes import _STAGE_CELLS, events_seen
from aivf.sim.types import DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI, DAY6_CUTOFF_HPI

GRADE_NOISE = 0.25  # P(a recorded ICM/TE grade is a neighbour of the true one)
COUNT_NOISE = 0.15  # P(a recorded cell count / fragmentation level / expansion is off by one)
MISSING_GRADE_RANGE = (0.0, 0.35)  # each clinic leaves U(lo, hi) of its embryos ungraded
RECORD_COLUMNS = ("usable_d3", "usable_d5", "usable_d6", "decision", "decision_reason", "cells_d3", "frag_d3",
                  "expansion_d5", "icm_d5", "te_d5")


def _neighbour(rng: np.random.Generator, value: np.ndarray, p: float, lo: int, hi: int) -> np.ndarray:
    """``value`` moved one step up or down with probability ``p`` (clipped to [lo, hi])."""
    step = np.where(rng.random(len(value)) < p, rng.choice([-1, 1], size=len(value)), 0)
    return np.clip(value + step, lo, hi)


def usable_by_day6(out: dict[str, np.ndarray], dev: dict[str, np.ndarray]) -> np.ndarray:
    """(N,) bool: usable on day 5, or a full blastocyst by day 6 that has not degenerated and is not grade CC."""
    seen6 = events_seen(dev["times"], DAY6_CUTOFF_HPI)
    degenerate = np.nan_to_num(dev["t_arrest_visible"], nan=np.inf) <= DAY6_CUTOFF_HPI
    cc = (dev["icm"] == 2) & (dev["te"] == 2)
    return out["usable_d5"].astype(bool) | ((seen6 >= 14) & ~degenerate & ~cc)


def decisions(policy: np.ndarray, out: dict[str, np.ndarray], dev: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(decision, reason) per embryo from what the clinic did (``out`` of ``assign_outcomes``).

    A non-transferred embryo that is a usable blastocyst by day 6 is frozen (surplus day-3 embryos are cultured
    on to the blastocyst stage, and day-6 blastocysts are frozen too); an aneuploid or mosaic PGT-A result discards it; otherwise the reason is
    what the embryologist saw.
    """
    times, t_vis = dev["times"], dev["t_arrest_visible"]
    seen5 = events_seen(times, DAY5_CUTOFF_HPI)
    degenerate = np.nan_to_num(t_vis, nan=np.inf) <= DAY5_CUTOFF_HPI
    transferred = out["transferred"].astype(bool)
    pgt = out["pgt"]
    rejected_by_pgt = (policy == "pgta") & np.isin(pgt.astype(str), ["aneuploid", "mosaic"])
    usable6 = usable_by_day6(out, dev)
    decision = np.where(transferred, "transferred", np.where(usable6 & ~rejected_by_pgt, "frozen", "discarded"))
    reason = np.full(len(policy), "", dtype=object)
    discarded = decision == "discarded"
    reason[discarded & rejected_by_pgt] = "PGT-A not euploid"
    why = np.select([degenerate, seen5 < 12, seen5 < 14], ["degenerated", "arrested before the morula",
                                                            "no blastocyst by day 6"], "poor grade (CC)")
    rest = discarded & ~rejected_by_pgt
    reason[rest] = why[rest]
    return decision.astype(object), reason


def clinic_records(seed: int, clinic_index: np.ndarray, policy: np.ndarray, dev: dict[str, np.ndarray],
                   out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The RECORD_COLUMNS for every embryo (numbers as float with NaN = not recorded, grades as str or None).

    Args:
        seed: the cohort seed (the records draw from their own stream of it).
        clinic_index: (N,) clinic number of each embryo; policy: (N,) its patient's policy.
        dev: ``sample_development`` output; out: ``assign_outcomes`` output.
    """
    rng = np.random.default_rng([seed, 11])
    n = len(policy)
    times = dev["times"]
    missing_rate = rng.uniform(*MISSING_GRADE_RANGE, size=int(clinic_index.max()) + 1 if n else 1)
    ungraded = rng.random(n) < missing_rate[clinic_index]
    day3_transfer = out["transfer_day"] == 3

    cells = _neighbour(rng, _STAGE_CELLS[events_seen(times, DAY3_CUTOFF_HPI)], COUNT_NOISE, 1, 10).astype(float)
    frag = _neighbour(rng, dev["frag"], COUNT_NOISE, 0, len(P.FRAG_FRACTION) - 1).astype(float)
    seen5 = events_seen(times, DAY5_CUTOFF_HPI)
    true_expansion = np.clip(seen5 - 12, 0, 4)
    expansion = np.where(true_expansion > 0, _neighbour(rng, true_expansion, COUNT_NOISE, 1, 4), 0).astype(float)
    full_blastocyst = seen5 >= 14
    grades = np.asarray(P.GRADES, dtype=object)
    icm = grades[_neighbour(rng, dev["icm"], GRADE_NOISE, 0, 2)]
    te = grades[_neighbour(rng, dev["te"], GRADE_NOISE, 0, 2)]
    graded5 = full_blastocyst & ~ungraded & ~day3_transfer
    decision, reason = decisions(policy, out, dev)
    return {
        "usable_d3": out["usable_d3"].astype(float),
        "usable_d5": np.where(day3_transfer, np.nan, out["usable_d5"].astype(float)),
        "usable_d6": np.where(day3_transfer, np.nan, usable_by_day6(out, dev).astype(float)),
        "decision": decision, "decision_reason": reason,
        "cells_d3": np.where(ungraded, np.nan, cells),
        "frag_d3": np.where(ungraded, np.nan, frag),
        "expansion_d5": np.where(ungraded | day3_transfer, np.nan, expansion),
        "icm_d5": np.where(graded5, icm, None), "te_d5": np.where(graded5, te, None),
    }
