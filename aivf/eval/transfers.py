"""Transfers per pregnancy: order each cohort by a score, transfer one at a time until the first FHB.

Every embryo's outcome *had it been transferred* is needed; the simulator knows it (or its
probability), real data must estimate it (../shared/docs/clinical-metrics.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class CohortTransfers:
    """Per-cohort results of one ordering; arrays are aligned with ``cohorts``."""

    cohorts: np.ndarray  # (C,) cohort ids (sorted)
    transfers: np.ndarray  # (C,) float: transfers done (expected value for random order)
    pregnant: np.ndarray  # (C,) float in [0, 1]: pregnancy reached (1/0; a probability only if averaged)
    first_hit: np.ndarray  # (C,) float in [0, 1]: pregnant at the first transfer


def simulate_transfers(
    cohorts: Sequence,
    scores: np.ndarray,
    outcome: np.ndarray,
    transferable: np.ndarray | None = None,
    seed: int = 0,
) -> CohortTransfers:
    """Transfer each cohort's transferable embryos in decreasing score until the first positive outcome.

    Args:
        cohorts: (N,) cohort (patient) id per embryo.
        scores: (N,) higher = transferred earlier; ties broken at random with ``seed``.
        outcome: (N,) 0/1 outcome had the embryo been transferred.
        transferable: (N,) bool; embryos that may be transferred (default: all).
        seed: tie-break seed.

    Returns:
        ``CohortTransfers``; a cohort with no transferable embryo counts 0 transfers, not pregnant.
    """
    cohorts = np.asarray(cohorts)
    scores = np.asarray(scores, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=np.float64)
    if np.isnan(outcome).any():
        raise ValueError("simulate_transfers: outcome has NaN; every embryo needs an outcome had it been transferred")
    keep = np.ones(len(cohorts), bool) if transferable is None else np.asarray(transferable, bool)
    tiebreak = np.random.default_rng(seed).random(len(cohorts))
    ids = np.unique(cohorts)
    transfers, pregnant, first = (np.zeros(len(ids)) for _ in range(3))
    for k, cohort in enumerate(ids):
        member = np.flatnonzero((cohorts == cohort) & keep)
        ordered = outcome[member[np.lexsort((tiebreak[member], -scores[member]))]]
        hits = np.flatnonzero(ordered == 1)
        transfers[k] = hits[0] + 1 if len(hits) else len(ordered)
        pregnant[k] = float(len(hits) > 0)
        first[k] = float(len(ordered) > 0 and ordered[0] == 1)
    return CohortTransfers(ids, transfers, pregnant, first)


def expected_random_transfers(
    cohorts: Sequence, outcome: np.ndarray, transferable: np.ndarray | None = None
) -> CohortTransfers:
    """Exact expectation over uniformly random orders.

    With n transferable embryos of which m are positive, the first positive of a random order sits
    at expected position (n + 1) / (m + 1); the first transfer succeeds with probability m / n.
    """
    cohorts = np.asarray(cohorts)
    outcome = np.asarray(outcome, dtype=np.float64)
    keep = np.ones(len(cohorts), bool) if transferable is None else np.asarray(transferable, bool)
    ids = np.unique(cohorts)
    transfers, pregnant, first = (np.zeros(len(ids)) for _ in range(3))
    for k, cohort in enumerate(ids):
        member = (cohorts == cohort) & keep
        n, m = int(member.sum()), int(outcome[member].sum())
        transfers[k] = (n + 1) / (m + 1) if m else n
        pregnant[k] = float(m > 0)
        first[k] = m / n if n else 0.0
    return CohortTransfers(ids, transfers, pregnant, first)


def permuted_random_transfers(
    cohorts: Sequence, outcome: np.ndarray, transferable: np.ndarray | None = None,
    n_permutations: int = 200, seed: int = 0,
) -> CohortTransfers:
    """Random order estimated by averaging ``n_permutations`` seeded shuffles (checks the expectation)."""
    rng = np.random.default_rng(seed)
    runs = [simulate_transfers(cohorts, rng.random(len(outcome)), outcome, transferable, seed=int(rng.integers(1 << 31)))
            for _ in range(n_permutations)]
    return CohortTransfers(
        runs[0].cohorts,
        np.mean([r.transfers for r in runs], axis=0),
        np.mean([r.pregnant for r in runs], axis=0),
        np.mean([r.first_hit for r in runs], axis=0),
    )


def summarize(result: CohortTransfers, index: np.ndarray | None = None) -> dict[str, float]:
    """Transfers per pregnancy and companions over the cohorts ``index`` (all by default; repeats allowed).

    Returns:
        ``transfers_per_pregnancy`` = sum of transfers over all cohorts / pregnant cohorts;
        ``pregnant_first_transfer`` = share of cohorts pregnant at the first transfer;
        ``transfers_among_pregnant`` = mean transfers to pregnancy among pregnant cohorts;
        ``n_cohorts``, ``n_pregnant``.
    """
    idx = np.arange(len(result.cohorts)) if index is None else np.asarray(index)
    t, p, f = result.transfers[idx], result.pregnant[idx], result.first_hit[idx]
    n_preg = float(p.sum())
    return {
        "transfers_per_pregnancy": float(t.sum() / n_preg) if n_preg else math.nan,
        "pregnant_first_transfer": float(f.mean()) if len(idx) else math.nan,
        "transfers_among_pregnant": float((t * p).sum() / n_preg) if n_preg else math.nan,
        "n_cohorts": int(len(idx)),
        "n_pregnant": n_preg,
    }


def compare_orderings(
    results: dict[str, CohortTransfers], baseline: str = "random", n_boot: int = 1000,
    level: float = 0.95, seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Transfers per pregnancy of every ordering with a cohort-bootstrap CI and a paired difference to baseline.

    All orderings must cover the same cohorts; the same resampled cohorts are used for all of them.
    """
    from aivf.eval.bootstrap import paired_bootstrap

    names = list(results)
    ids = results[names[0]].cohorts
    for name in names:
        if not np.array_equal(results[name].cohorts, ids):
            raise ValueError(f"compare_orderings: ordering '{name}' covers other cohorts than '{names[0]}'")
    stats = {
        name: (lambda idx, r=results[name]: summarize(r, idx)["transfers_per_pregnancy"]) for name in names
    }
    table = paired_bootstrap(stats, np.arange(len(ids)), baseline, n_boot, level, seed)
    for name in names:
        full = summarize(results[name])
        table[name].update({k: v for k, v in full.items() if k != "transfers_per_pregnancy"})
    return table
