"""Patient-grouped evaluation splits: stratified k-fold and leave-one-clinic-out.

Sibling embryos share a patient (one cycle, one uterus, one set of gametes): if siblings sat in
both train and test, a model could score well by recognising the patient. Every split is therefore
made over *patients*, and :func:`check_splits` refuses any layout where a patient or an embryo
appears in two parts.

Layout (``splits.json``)::

    {"kfold": {"0": {"train": {"embryo_ids": [...], "patient_ids": [...]}, "val": {...}, "test": {...}},
               "1": ...},
     "loco":  {"C1": {"train": ..., "val": ..., "test": ...}, ...}}

A split is named ``"<scheme>/<fold>/<part>"``, e.g. ``"kfold/0/train"`` or ``"loco/C2/test"``. The
scheme is the text before the first ``/`` and the part the text after the last one, so a fold may hold
``/`` itself: a clinic named ``North/West`` keeps its name verbatim and is addressed as
``"loco/North/West/test"`` (``train.split=loco/North/West``); nothing is renamed or escaped.
In fold i of k-fold, test = patient group i, val = group (i + 1) mod k, train = the rest; in
leave-one-clinic-out, test = the clinic, val = one stratified group of the other clinics' patients.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from aivf.dataset.config import SplitConfig

PARTS = ("train", "val", "test")
LABEL_COLUMNS = ("d3_fhb", "d5_fhb", "euploid")  # a patient with any 1 here is "positive" for stratifying


class SplitLeakError(ValueError):
    """A patient or embryo sits in two parts of a split; ``offenders`` lists them."""

    def __init__(self, message: str, offenders: list[tuple[str, str, str, str]]) -> None:
        super().__init__(message)
        self.offenders = offenders  # (kind "patient"/"embryo", id, part a, part b)


def _stratified_groups(patients: pd.DataFrame, k: int, seed: int) -> list[list[str]]:
    """Deal patients into k groups, positives and negatives separately, so each group gets its share.

    Args:
        patients: one row per patient, columns ``patient_id``, ``positive`` (bool), ``n`` (embryos).
    """
    rng = np.random.default_rng(seed)
    groups: list[list[str]] = [[] for _ in range(k)]
    sizes = np.zeros(k)
    for _, stratum in patients.groupby("positive", sort=True):
        order = rng.permutation(len(stratum))
        # Largest families first, each to the group with fewest patients of this stratum (the
        # stratification), ties to the group with fewest embryos so far (balanced sizes).
        ranked = stratum.iloc[order].sort_values("n", ascending=False, kind="stable")
        counts = np.zeros(k)
        for pid, n in zip(ranked["patient_id"], ranked["n"]):
            target = int(np.lexsort((rng.random(k), sizes, counts))[0])
            groups[target].append(str(pid))
            sizes[target] += n
            counts[target] += 1
    return groups


def _patient_table(table: pd.DataFrame) -> pd.DataFrame:
    labels = [c for c in LABEL_COLUMNS if c in table]
    positive = (table[labels].apply(pd.to_numeric, errors="coerce") == 1).any(axis=1) if labels else False
    per = table.assign(positive=positive).groupby("patient_id", sort=True)
    return pd.DataFrame({"positive": per["positive"].any(), "n": per.size()}).reset_index()


def _part(table: pd.DataFrame, patients: Iterable[str]) -> dict[str, list[str]]:
    chosen = sorted(set(patients))
    rows = table[table["patient_id"].isin(chosen)]
    return {"embryo_ids": sorted(rows["embryo_id"].astype(str)), "patient_ids": chosen}


def make_splits(table: pd.DataFrame, cfg: SplitConfig) -> dict:
    """Build the k-fold and leave-one-clinic-out splits of one cohort.

    Args:
        table: one row per embryo with ``embryo_id``, ``patient_id``, ``clinic`` and any of the label
            columns ``d3_fhb``, ``d5_fhb``, ``euploid`` (1/0/missing).
        cfg: folds, seed and whether to add leave-one-clinic-out.

    Returns:
        The ``splits.json`` mapping described in the module docstring (already checked).
    """
    for column in ("embryo_id", "patient_id", "clinic"):
        if column not in table:
            raise KeyError(f"make_splits: the table has no '{column}' column (has {list(table.columns)})")
    table = table.astype({"embryo_id": str, "patient_id": str, "clinic": str})
    repeated = table[table["embryo_id"].duplicated(keep=False)]
    if len(repeated):  # a repeated id could sit in two parts, or under two patients: refuse before splitting
        shown = repeated.groupby("embryo_id")["patient_id"].agg(lambda p: sorted(set(p))).head(10)
        raise ValueError("make_splits: repeated embryo id(s): " + "; ".join(
            f"{e!r} (patients {p})" for e, p in shown.items()) + "; remove the repeats before splitting")
    patients = _patient_table(table)
    k = cfg.num_folds
    if k < 3:
        raise ValueError(f"dataset.splits.num_folds={k}: need >= 3 (one group each for train, val and test)")
    if len(patients) < k:
        raise ValueError(f"make_splits: {len(patients)} patients cannot fill {k} folds; lower dataset.splits.num_folds")
    groups = _stratified_groups(patients, k, cfg.seed)
    splits: dict[str, dict] = {"kfold": {}}
    for i in range(k):
        test, val = groups[i], groups[(i + 1) % k]
        train = [p for j, g in enumerate(groups) if j not in (i, (i + 1) % k) for p in g]
        splits["kfold"][str(i)] = {"train": _part(table, train), "val": _part(table, val), "test": _part(table, test)}
    clinics = sorted(table["clinic"].unique())
    if cfg.leave_one_clinic_out and len(clinics) < 2:
        warnings.warn(f"leave-one-clinic-out skipped: the cohort has one clinic ({clinics})", stacklevel=2)
    elif cfg.leave_one_clinic_out:
        splits["loco"] = {}
        clinic_of = table.groupby("patient_id")["clinic"].agg(lambda c: sorted(set(c)))
        for clinic in clinics:
            test = [p for p, cs in clinic_of.items() if clinic in cs]
            rest = patients[~patients["patient_id"].isin(test)]
            val = _stratified_groups(rest, k, cfg.seed)[0] if len(rest) >= k else []
            train = sorted(set(rest["patient_id"]) - set(val))
            splits["loco"][clinic] = {"train": _part(table, train), "val": _part(table, val), "test": _part(table, test)}
    check_splits(splits, dict(zip(table["embryo_id"], table["patient_id"])))
    return splits


def split_ids(splits: Mapping, name: str) -> list[str]:
    """Embryo ids of the split ``"<scheme>/<fold>/<part>"`` (e.g. ``"kfold/0/train"``, ``"loco/North/West/test"``).

    The fold is everything between the first and the last ``/`` (a clinic name may contain ``/``).
    """
    scheme, _, rest = name.partition("/")
    fold, _, part = rest.rpartition("/")
    try:
        return list(splits[scheme][fold][part]["embryo_ids"])
    except (KeyError, TypeError):
        names = [f"{s}/{f}/{p}" for s in splits for f in splits[s] for p in splits[s][f]]
        raise KeyError(f"unknown split {name!r}; available: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}") from None


def check_splits(splits: Mapping, embryo_to_patient: Mapping[str, str] | None = None) -> None:
    """Fail loudly when any patient or embryo sits in two parts of one split.

    Checks, for every scheme: train/val/test of each fold are pairwise disjoint in patients and
    in embryos; the test parts of different folds are disjoint too (k-fold and leave-one-clinic-out
    each cover a patient once). With ``embryo_to_patient``, an embryo whose patient is listed in
    another part counts as a leak even if that part's embryo list omits it.

    Raises:
        SplitLeakError: listing every (kind, id, part a, part b) found.
    """
    offenders: list[tuple[str, str, str, str]] = []

    def compare(parts: dict[str, Mapping]) -> None:
        patient_sets = {}
        for name, part in parts.items():
            pats = set(part.get("patient_ids", []))
            if embryo_to_patient is not None:
                pats |= {embryo_to_patient[e] for e in part.get("embryo_ids", []) if e in embryo_to_patient}
            patient_sets[name] = pats
        for (a, pa_), (b, pb) in itertools.combinations(parts.items(), 2):
            offenders.extend(("embryo", e, a, b) for e in sorted(set(pa_["embryo_ids"]) & set(pb["embryo_ids"])))
            offenders.extend(("patient", p, a, b) for p in sorted(patient_sets[a] & patient_sets[b]))

    for scheme, folds in splits.items():
        for fold, parts in folds.items():
            compare({f"{scheme}/{fold}/{p}": parts[p] for p in parts})
        compare({f"{scheme}/{fold}/test": parts["test"] for fold, parts in folds.items() if "test" in parts})
    if offenders:
        lines = [f"{kind} {ident} in both {a} and {b}" for kind, ident, a, b in offenders[:20]]
        more = f" (+{len(offenders) - 20} more)" if len(offenders) > 20 else ""
        raise SplitLeakError(
            f"{len(offenders)} leak(s) between splits: " + "; ".join(lines) + more
            + ". Siblings must stay together: split by patient_id.", offenders,
        )


def filter_splits(splits: Mapping, keep: Iterable[str]) -> dict:
    """The same splits restricted to the embryos in ``keep`` (those that made it into the shards)."""
    keep = set(keep)
    return {
        scheme: {fold: {part: {"embryo_ids": [e for e in p["embryo_ids"] if e in keep], "patient_ids": p["patient_ids"]}
                        for part, p in parts.items()} for fold, parts in folds.items()}
        for scheme, folds in splits.items()
    }
