"""From predictions + clinical (+ truth) tables to every number of the report (no model, no plots).

``analyze(predictions, clinical, truth, cfg)`` is what ``aivf evaluate`` calls after scoring; it
is also the entry point for scoring any other predictor (a CSV with ``prob_<task>`` columns).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from aivf.eval import metrics, transfers
from aivf.eval.bootstrap import bootstrap_ci, cluster_resamples, paired_bootstrap, percentile_ci
from aivf.eval.config import EvalConfig
from aivf.eval.orderings import KIDScoreLike, is_blastocyst, morphology_score
from aivf.sim.types import TASKS

# A recording that stops before this (a day-3 transfer leaves the incubator at 67 h) shows nothing of day 5.
DAY5_VISIBLE_HPI = 96.0

BAYES_COLUMN = {"d3_fhb": "p_fhb_d3", "d5_fhb": "p_fhb_d5", "euploid": "p_euploid_d5"}
# Keyframe oracle (truth.csv, aivf/sim/keyframe_oracle.py): the posterior given perfect reading of the keyframes.
ORACLE_COLUMN = {task: f"{column}_kf" for task, column in BAYES_COLUMN.items()}
COMPASS_AUC_MARGIN = 0.03  # the target: a model within this much AUC of the keyframe oracle
CI_METRICS = ("auc", "within_cohort_auc", "cross_entropy", "brier", "ece")
ORDERING_LABELS = {
    "random": "Random order", "morphology": "Embryologist (morphology proxy)", "kidscore": "KIDScore-like (annotated times)",
    "model": "Model", "bayes": "Bayes-optimal (truth)", "hindsight": "Perfect hindsight",
}


def task_labels(clinical: pd.DataFrame) -> pd.DataFrame:
    """(N, 3) labels for TASKS: FHB 1/0/NaN; euploid from an ``euploid`` column, else ``pgt`` (mosaic = 0).

    Only known outcomes are labels: transferred embryos for FHB, biopsied with a result for PGT-A.
    """
    if "euploid" in clinical.columns:  # a built dataset carries the label the model was trained on
        euploid = pd.to_numeric(clinical["euploid"], errors="coerce")
    else:
        pgt = clinical.get("pgt", pd.Series(index=clinical.index, dtype=object))
        euploid = pgt.map({"euploid": 1.0, "aneuploid": 0.0, "mosaic": 0.0})
    return pd.DataFrame({
        "d3_fhb": pd.to_numeric(clinical.get("d3_fhb"), errors="coerce"),
        "d5_fhb": pd.to_numeric(clinical.get("d5_fhb"), errors="coerce"),
        "euploid": euploid.astype(float),
    }, index=clinical.index)


def _ci_block(y, p, cohorts, resamples, n_bins, level) -> dict[str, dict[str, float]]:
    """Every CI metric with its cluster-bootstrap interval; within-cohort AUC via per-cohort weights (fast)."""
    codes, inverse = np.unique(cohorts, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(codes))
    per_auc, per_pairs = np.zeros(len(codes)), np.zeros(len(codes))
    for k in range(len(codes)):
        member = inverse == k
        yk = y[member][~np.isnan(y[member])]
        n_pos = (yk == 1).sum()
        per_pairs[k] = n_pos * (len(yk) - n_pos)
        per_auc[k] = metrics.roc_auc(y[member], p[member]) if per_pairs[k] else 0.0
    funcs = {
        "auc": metrics.roc_auc, "cross_entropy": metrics.cross_entropy, "brier": metrics.brier,
        "ece": lambda a, b: metrics.expected_calibration_error(a, b, n_bins),
    }
    out = {}
    for name, fn in funcs.items():
        samples = [fn(y[idx], p[idx]) for idx in resamples]
        low, high = percentile_ci(np.array(samples), level)
        out[name] = {"value": fn(y, p), "low": low, "high": high}
    weights = [np.bincount(inverse[idx], minlength=len(codes)) / sizes for idx in resamples]
    samples = [(w * per_pairs * per_auc).sum() / (w * per_pairs).sum() if (w * per_pairs).sum() else math.nan
               for w in weights]
    low, high = percentile_ci(np.array(samples), level)
    value = metrics.within_cohort_auc(y, p, cohorts)[0]
    out["within_cohort_auc"] = {"value": value, "low": low, "high": high}
    return out


def counterfactual_outcome(truth: pd.DataFrame, mode: str, seed: int) -> tuple[np.ndarray, str]:
    """Each embryo's day-5 FHB had it been transferred, and a sentence saying how it was obtained."""
    if mode == "truth" and "fhb_potential" in truth.columns:
        values = pd.to_numeric(truth["fhb_potential"], errors="coerce").to_numpy(np.float64)
        if np.isin(values, (0.0, 1.0)).all():
            return values, "truth.csv fhb_potential (the simulator's outcome had the embryo been transferred)"
    p = pd.to_numeric(truth["p_fhb_d5"], errors="coerce").fillna(0).to_numpy()
    # Own seed stream: sharing one with tie-breaks or random orders would correlate them with the outcome.
    drawn = (np.random.default_rng([seed, 101]).random(len(p)) < p).astype(np.float64)
    return drawn, "one Bernoulli draw per embryo from truth.csv p_fhb_d5 (seeded)"


def kidscore_scores(table: pd.DataFrame, labels: np.ndarray, cohorts: np.ndarray, cfg: EvalConfig, seed: int,
                    train: tuple[pd.DataFrame, np.ndarray] | None = None) -> tuple[np.ndarray, str]:
    """KIDScore-like probabilities: fitted on ``train`` (table, d5 labels) or, without one, 2-fold by patient."""
    if train is not None:
        model = KIDScoreLike(cfg.annotator_noise_sd_h, seed=seed).fit(*train)
        return model.score(table), "fitted on the training split's known d5 outcomes"
    folds = np.unique(cohorts)
    fold_of = dict(zip(folds, np.random.default_rng(seed).permutation(len(folds)) % 2))
    fold = np.array([fold_of[c] for c in cohorts])
    scores = np.zeros(len(table))
    for k in (0, 1):
        model = KIDScoreLike(cfg.annotator_noise_sd_h, seed=seed + k).fit(table[fold != k], labels[fold != k])
        scores[fold == k] = model.score(table[fold == k])
    return scores, "cross-fitted in 2 patient folds of the evaluated cohorts (no training split given)"


def analyze(predictions: pd.DataFrame, clinical: pd.DataFrame, truth: pd.DataFrame | None = None,
            cfg: EvalConfig | None = None, seed: int = 0,
            kid_train: tuple[pd.DataFrame, np.ndarray] | None = None) -> dict:
    """All report numbers for one set of predictions.

    Args:
        predictions: one row per embryo: ``embryo_id`` and ``prob_<task>`` for each of TASKS.
        clinical: the cohort's clinical.csv (labels, patient, clinic, age), any row order.
        truth: truth.csv when the data are simulated (Bayes scores, event times, counterfactual outcome).
        cfg: evaluation settings; seed: seed of every random choice.
        kid_train: (truth-like table, d5 labels) of a training split for the KIDScore-like model.

    Returns:
        JSON-ready dict: ``tasks`` (metrics + CIs, ROC/reliability data, subgroups, Bayes gap),
        ``transfers`` (per ordering, when truth exists), ``notes``.
    """
    cfg = cfg or EvalConfig()
    missing = set(predictions["embryo_id"]) - set(clinical["embryo_id"])
    if missing:
        raise KeyError(f"{len(missing)} predicted embryos are not in clinical.csv, e.g. {sorted(missing)[:3]}")
    table = predictions.merge(clinical, on="embryo_id", how="left", suffixes=("", "_clinical"))
    if truth is not None:
        table = table.merge(truth, on="embryo_id", how="left", suffixes=("", "_truth"))
    cohorts = table["patient_id"].astype(str).to_numpy()
    labels = task_labels(table)
    resamples = cluster_resamples(cohorts, cfg.n_bootstrap, seed)
    bands = metrics.age_band(table["maternal_age"].to_numpy())
    result: dict = {"n_embryos": len(table), "n_patients": int(len(np.unique(cohorts))), "tasks": {}, "notes": [
        "Discrimination and calibration use known outcomes only: FHB of transferred embryos, PGT-A of biopsied ones.",
        f"95% CIs: {cfg.n_bootstrap} bootstrap resamples of patients (cohorts).",
    ]}
    for task in tqdm(TASKS, desc="metrics", leave=False):
        y, p = labels[task].to_numpy(), table[f"prob_{task}"].to_numpy(np.float64)
        known = ~np.isnan(y)
        _, n_wc, n_pairs = metrics.within_cohort_auc(y, p, cohorts)
        entry = {"n": int(known.sum()), "n_pos": int(np.nansum(y)), "within_cohort_n": n_wc, "within_cohort_pairs": n_pairs,
                 "metrics": _ci_block(y, p, cohorts, resamples, cfg.ece_bins, cfg.ci_level)}
        entry["roc"] = dict(zip(("fpr", "tpr"), (a.tolist() for a in metrics.roc_curve(y, p))))
        entry["reliability"] = {k: v.tolist() for k, v in metrics.reliability_curve(y, p, cfg.ece_bins).items()}
        entry["by_clinic"] = metrics.subgroup_table(y, p, table["clinic"].to_numpy(), cohorts, cfg.ece_bins)
        entry["by_age"] = metrics.subgroup_table(y, p, bands, cohorts, cfg.ece_bins)
        entry["by_age"].sort(key=lambda r: metrics.AGE_BANDS.index(r["group"]))
        if truth is not None and BAYES_COLUMN[task] in table:
            b = table[BAYES_COLUMN[task]].to_numpy(np.float64)
            gaps = [metrics.roc_auc(y[i], b[i]) - metrics.roc_auc(y[i], p[i]) for i in resamples]
            low, high = percentile_ci(np.array(gaps), cfg.ci_level)
            entry["bayes"] = {"auc": metrics.roc_auc(y, b), "within_cohort_auc": metrics.within_cohort_auc(y, b, cohorts)[0],
                              "auc_gap": metrics.roc_auc(y, b) - metrics.roc_auc(y, p), "gap_low": low, "gap_high": high,
                              "roc": dict(zip(("fpr", "tpr"), (a.tolist() for a in metrics.roc_curve(y, b))))}
            truth_outcome = simulated_outcome(table, task)
            if truth_outcome is not None:
                entry["simulated_truth"] = simulated_truth_block(truth_outcome, p, b, table, cohorts, cfg, seed)
        result["tasks"][task] = entry
    if truth is not None:
        result["transfers"] = transfer_analysis(table, labels, cohorts, cfg, seed, kid_train)
        result["notes"].append(result["transfers"]["outcome_source"])
        if "fhb_potential" in table:
            result["all_embryos"] = all_embryo_analysis(table, result["transfers"].pop("scores"), cohorts, cfg, seed)
            result["notes"].append("'Every embryo' numbers: all embryos of the split, judged on the simulator's "
                                   "potential outcome (FHB had the embryo been transferred, true ploidy) and Bayes "
                                   "posterior; transferable = blastulation started by the day-5 cutoff.")
    else:
        result["notes"].append("No truth.csv: transfers per pregnancy need every embryo's outcome and are not computed.")
    if truth is not None and "fhb_potential" in table and ORACLE_COLUMN["d5_fhb"] in table:
        result["keyframe_oracle"] = oracle_comparison(table, cohorts, cfg, seed)
        result["notes"].append("Keyframe oracle: truth.csv p_*_kf, the exact posterior given what a perfect reader "
                               "sees on the dataset's keyframes (each event's keyframe interval, degeneration, and "
                               "fragmentation/grades once visible; _nograde without them).")
    return result


def all_embryo_analysis(table: pd.DataFrame, scores: dict[str, np.ndarray], cohorts: np.ndarray,
                        cfg: EvalConfig, seed: int) -> dict:
    """Every embryo a user would see, judged on the simulated truth (not only where labels exist).

    Per task: the shown probability's AUC against every embryo's potential outcome (CI by resampling
    patients), its ECE and reliability curve against that outcome and against the Bayes posterior, how
    many embryos the truth all but excludes (Bayes < 0.05) are shown above 0.5, and the mean shown over
    non-transferable embryos. Per ordering: the same AUC and the top-1 usable rate, over all embryos and
    over the day-5 candidates (recordings that reach DAY5_VISIBLE_HPI).
    """
    transferable = is_blastocyst(table)
    out: dict = {"n": len(table), "n_transferable": int(transferable.sum()), "tasks": {}, "orderings": {}}
    for task in TASKS:
        # a day-3 transfer has the same potential outcome (FHB had the embryo been transferred) as a day-5 one
        y = simulated_outcome(table, "d5_fhb" if task == "d3_fhb" else task)
        if y is None or BAYES_COLUMN[task] not in table:
            continue
        p = table[f"prob_{task}"].to_numpy(np.float64)
        b = table[BAYES_COLUMN[task]].to_numpy(np.float64)
        known = ~np.isnan(y) & ~np.isnan(b)
        y, p, b, c, tr = y[known], p[known], b[known], cohorts[known], transferable[known]
        out["tasks"][task] = {
            "auc": potential_auc(y, p, c, cfg, seed), "bayes_auc": metrics.roc_auc(y, b),
            "ece": metrics.expected_calibration_error(y, p, cfg.ece_bins),
            # the same ECE with a patient-bootstrap CI (the label-efficiency table reports one per row)
            "ece_ci": bootstrap_ci(lambda idx, y=y, p=p: metrics.expected_calibration_error(y[idx], p[idx], cfg.ece_bins),
                                   c, cfg.n_bootstrap, cfg.ci_level, seed),
            "bayes_ece": metrics.expected_calibration_error(y, b, cfg.ece_bins),
            "ece_vs_bayes": metrics.expected_calibration_error(b, p, cfg.ece_bins),
            "mean_abs_diff_bayes": float(np.mean(np.abs(p - b))),
            "n_excluded_shown_high": int(((b < 0.05) & (p > 0.5)).sum()), "n_excluded": int((b < 0.05).sum()),
            "mean_shown_non_transferable": float(p[~tr].mean()) if (~tr).any() else None,
            "mean_bayes_non_transferable": float(b[~tr].mean()) if (~tr).any() else None,
            "share_shown_above_095": float((p > 0.95).mean()),
            "reliability": {k: v.tolist() for k, v in metrics.reliability_curve(y, p, cfg.ece_bins).items()},
            "reliability_bayes": {k: v.tolist() for k, v in metrics.reliability_curve(b, p, cfg.ece_bins).items()},
        }
    y = simulated_outcome(table, "d5_fhb")
    known = ~np.isnan(y)
    # Day-5 candidates: embryos whose recording reaches day 5. One transferred on day 3 left the incubator at
    # 67 h; no video can say whether it would have arrested later, and it is not a candidate on day 5.
    if "last_keyframe_hpi" in table:
        candidate = table["last_keyframe_hpi"].to_numpy(np.float64) >= DAY5_VISIBLE_HPI
    else:
        candidate = np.ones(len(table), bool)
    out["n_day5_candidates"] = int(candidate.sum())
    for name, s in scores.items():
        if name == "hindsight":
            continue
        rate, n = metrics.top1_usable_rate(transferable, s, cohorts, seed)
        rate5, n5 = metrics.top1_usable_rate(transferable[candidate], s[candidate], cohorts[candidate], seed)
        out["orderings"][name] = {"label": ORDERING_LABELS[name], "top1_usable": rate, "n_cohorts": n,
                                  "top1_usable_day5": rate5, "n_cohorts_day5": n5,
                                  "potential_auc": potential_auc(y[known], s[known], cohorts[known], cfg, seed)}
    return out


def oracle_comparison(table: pd.DataFrame, cohorts: np.ndarray, cfg: EvalConfig, seed: int) -> dict:
    """Model vs exact Bayes vs keyframe oracle on the same embryos (simulation only; metrics.json ``keyframe_oracle``).

    Per task and per set of embryos (``transferable``: blastulation by the day-5 cutoff; ``all``), each score's
    AUC against the potential outcome with a patient-bootstrap CI, and the paired difference model - oracle
    (same resamples); over the transferable embryos, the model's within-cohort rank agreement with the oracle
    next to its agreement with the exact posterior, and the oracle's own agreement with the exact posterior
    (what "agreement with Bayes" can reach from keyframes). ``within_target``: model AUC >= oracle AUC - 0.03.
    """
    transferable = is_blastocyst(table)
    out: dict = {"auc_margin": COMPASS_AUC_MARGIN, "tasks": {}}
    for task in TASKS:
        y = simulated_outcome(table, "d5_fhb" if task == "d3_fhb" else task)
        kf = ORACLE_COLUMN[task]
        if y is None or kf not in table or BAYES_COLUMN[task] not in table:
            continue
        scores = {"model": table[f"prob_{task}"], "bayes": table[BAYES_COLUMN[task]], "oracle": table[kf],
                  "oracle_nograde": table.get(f"{kf}_nograde", table[kf])}
        scores = {name: pd.to_numeric(v, errors="coerce").to_numpy(np.float64) for name, v in scores.items()}
        known = ~np.isnan(y) & np.all([~np.isnan(v) for v in scores.values()], axis=0)
        entry: dict = {}
        for subset, rows in (("transferable", known & transferable), ("all", known)):
            yy, cc = y[rows], cohorts[rows]
            if len(np.unique(yy)) < 2:
                entry[subset] = {"n": int(rows.sum())}
                continue
            stats = {name: (lambda idx, s=s[rows], y=yy: metrics.roc_auc(y[idx], s[idx])) for name, s in scores.items()}
            boot = paired_bootstrap(stats, cc, "oracle", cfg.n_bootstrap, cfg.ci_level, seed)
            entry[subset] = {
                "n": int(rows.sum()), "n_pos": int(yy.sum()),
                "auc": {name: {k: b[k] for k in ("value", "low", "high")} for name, b in boot.items()},
                "model_minus_oracle": {k: boot["model"][k] for k in ("diff", "diff_low", "diff_high")},
                "within_target": bool(boot["model"]["diff"] >= -COMPASS_AUC_MARGIN),
            }
        rows = known & transferable
        entry["rank_agreement"] = {
            "model_vs_oracle": rank_agreement(scores["model"][rows], scores["oracle"][rows], cohorts[rows], cfg, seed),
            "model_vs_bayes": rank_agreement(scores["model"][rows], scores["bayes"][rows], cohorts[rows], cfg, seed),
            "oracle_vs_bayes": rank_agreement(scores["oracle"][rows], scores["bayes"][rows], cohorts[rows], cfg, seed),
        }
        out["tasks"][task] = entry
    return out


def rank_agreement(scores: np.ndarray, bayes: np.ndarray, cohorts: np.ndarray, cfg: EvalConfig, seed: int) -> dict:
    """Mean within-cohort Spearman with the Bayes posterior, CI by resampling cohorts."""
    _, values = metrics.within_cohort_rank_agreement(scores, bayes, cohorts)
    if len(values) == 0:
        return {"value": None, "low": None, "high": None, "n_cohorts": 0}
    rng = np.random.default_rng([seed, 7])
    means = values[rng.integers(len(values), size=(cfg.n_bootstrap, len(values)))].mean(axis=1)
    low, high = percentile_ci(means, cfg.ci_level)
    return {"value": float(values.mean()), "low": low, "high": high, "n_cohorts": int(len(values))}


def paired_rank_agreement(scores: np.ndarray, other: np.ndarray, bayes: np.ndarray, cohorts: np.ndarray,
                          cfg: EvalConfig, seed: int) -> dict:
    """Rank agreement with Bayes of ``scores`` minus that of ``other``, paired: the cohorts both rank, resampled once.

    ``diff`` is the mean over those cohorts of the difference of the two within-cohort Spearman correlations, with
    a percentile CI from resampling the cohorts (metrics.json ``rank_agreement_vs_model``: ordering minus model).
    """
    ids_a, a = metrics.within_cohort_rank_agreement(scores, bayes, cohorts)
    ids_b, b = metrics.within_cohort_rank_agreement(other, bayes, cohorts)
    _, ia, ib = np.intersect1d(ids_a, ids_b, return_indices=True)
    if len(ia) == 0:
        return {"diff": None, "diff_low": None, "diff_high": None, "n_cohorts": 0}
    d = a[ia] - b[ib]
    rng = np.random.default_rng([seed, 7])
    low, high = percentile_ci(d[rng.integers(len(d), size=(cfg.n_bootstrap, len(d)))].mean(axis=1), cfg.ci_level)
    return {"diff": float(d.mean()), "diff_low": low, "diff_high": high, "n_cohorts": int(len(d))}


def simulated_outcome(table: pd.DataFrame, task: str) -> np.ndarray | None:
    """Every embryo's true outcome for ``task`` where the simulator knows it (day-5 FHB, euploidy), else None."""
    if task == "d5_fhb" and "fhb_potential" in table:
        return pd.to_numeric(table["fhb_potential"], errors="coerce").to_numpy(np.float64)
    if task == "euploid" and "ploidy" in table:
        return np.where(table["ploidy"].isna(), np.nan, (table["ploidy"] == "euploid").astype(float))
    return None


def simulated_truth_block(outcome: np.ndarray, p: np.ndarray, bayes: np.ndarray, table: pd.DataFrame,
                          cohorts: np.ndarray, cfg: EvalConfig, seed: int) -> dict:
    """A task judged on every transferable blastocyst with its simulated truth, not only the known outcomes."""
    keep = is_blastocyst(table) & ~np.isnan(outcome)
    o, s, b, c = outcome[keep], p[keep], bayes[keep], cohorts[keep]
    return {"auc": potential_auc(o, s, c, cfg, seed), "bayes_auc": metrics.roc_auc(o, b) if len(np.unique(o)) > 1 else None,
            "rank_agreement": rank_agreement(s, b, c, cfg, seed)}


def potential_auc(outcome: np.ndarray, scores: np.ndarray, cohorts: np.ndarray, cfg: EvalConfig, seed: int) -> dict:
    """AUC against every transferable embryo's potential outcome (simulation only), CI by resampling cohorts.

    Not the inflated "discarded embryos count as negatives" AUC: only embryos a clinic could transfer
    enter, each with the outcome it would have had, so it has ~5x the embryos of the known-outcome AUC.
    """
    if len(np.unique(outcome)) < 2:
        return {"value": None, "low": None, "high": None, "n": int(len(outcome))}
    ci = bootstrap_ci(lambda idx: metrics.roc_auc(outcome[idx], scores[idx]), cohorts, cfg.n_bootstrap,
                      cfg.ci_level, seed)
    return {**ci, "n": int(len(outcome)), "n_pos": int(outcome.sum())}


def transfer_analysis(table: pd.DataFrame, labels: pd.DataFrame, cohorts: np.ndarray, cfg: EvalConfig, seed: int,
                      kid_train: tuple[pd.DataFrame, np.ndarray] | None = None) -> dict:
    """Transfers per pregnancy and top-1 rates under every ordering, paired on the same cohorts."""
    outcome, source = counterfactual_outcome(table, cfg.outcome, seed)
    transferable = is_blastocyst(table) if cfg.transferable == "blastocyst" else np.ones(len(table), bool)
    try:
        kid, kid_note = kidscore_scores(table, labels["d5_fhb"].to_numpy(), cohorts, cfg, seed, kid_train)
    except ValueError as err:  # too few known outcomes to fit it (tiny cohorts): leave that ordering out
        kid, kid_note = None, f"not fitted ({err}), so left out"
    scores = {"morphology": morphology_score(table), "kidscore": kid,
              "model": table["prob_d5_fhb"].to_numpy(np.float64),
              "bayes": table["p_fhb_d5"].to_numpy(np.float64), "hindsight": outcome}
    scores = {name: s for name, s in scores.items() if s is not None}
    if cfg.random_orderings == "expectation":
        results = {"random": transfers.expected_random_transfers(cohorts, outcome, transferable)}
    else:
        results = {"random": transfers.permuted_random_transfers(
            cohorts, outcome, transferable, cfg.n_random_permutations, seed)}
    for name, s in scores.items():
        results[name] = transfers.simulate_transfers(cohorts, s, outcome, transferable, seed)
    table_out = transfers.compare_orderings(results, "random", cfg.n_bootstrap, cfg.ci_level, seed)
    # Same seed = same resampled cohorts: the model against each comparator, paired.
    vs_model = transfers.compare_orderings(results, "model", cfg.n_bootstrap, cfg.ci_level, seed)
    for name, row in vs_model.items():
        table_out[name]["vs_model"] = {k: row[k] for k in ("diff", "diff_low", "diff_high")}
    bayes = scores["bayes"]
    for name, s in scores.items():
        table_out[name]["rank_agreement"] = rank_agreement(s[transferable], bayes[transferable],
                                                           cohorts[transferable], cfg, seed)
        table_out[name]["rank_agreement_vs_model"] = paired_rank_agreement(
            s[transferable], scores["model"][transferable], bayes[transferable], cohorts[transferable], cfg, seed)
        table_out[name]["potential_auc"] = potential_auc(outcome[transferable], s[transferable],
                                                         cohorts[transferable], cfg, seed)
    euploid = (table["ploidy"] == "euploid").astype(float).to_numpy() if "ploidy" in table else labels["euploid"].to_numpy()
    # top-1 among what a clinic would transfer: non-transferable embryos get an unknown (dropped) outcome
    hit, eup = np.where(transferable, outcome, np.nan), np.where(transferable, euploid, np.nan)
    for name in table_out:
        table_out[name]["label"] = ORDERING_LABELS[name]
        if name == "random":  # exact expectation: the share of positives among each cohort's transferable
            rate = {k: pd.Series(v).groupby(cohorts).mean().dropna().mean() for k, v in (("hit", hit), ("eup", eup))}
            table_out[name]["top1_hit"], table_out[name]["top1_euploid"] = float(rate["hit"]), float(rate["eup"])
            continue
        table_out[name]["top1_hit"] = metrics.top1_rate(hit, scores[name], cohorts, seed)[0]
        table_out[name]["top1_euploid"] = metrics.top1_rate(eup, scores[name], cohorts, seed)[0]
    return {"orderings": table_out, "scores": scores, "outcome_source": f"Transfers per pregnancy: outcome = {source}; "
            f"transferable = {cfg.transferable}; random order = {cfg.random_orderings}; KIDScore-like model "
            f"{kid_note}, annotator noise SD {cfg.annotator_noise_sd_h} h.",
            "n_transferable": int(transferable.sum())}
