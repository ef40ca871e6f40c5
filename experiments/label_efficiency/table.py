"""The README table of the label-efficiency benchmark from its finished rows (run.py's output folder).

    python experiments/label_efficiency/table.py outputs/label_efficiency     # prints it and writes table.md

Every number comes from the rows' ``eval/metrics.json`` (aivf evaluate on the held-out split) and ``result.json``:
per task the every-embryo potential-outcome AUC and ECE with patient-bootstrap 95% CIs, rank agreement with Bayes
and transfers per pregnancy with paired CIs against the morphology proxy and random order, the Bayes ceiling on
the same embryos, wall time and machine, and the issue's target check for ``pretrained-dense-25``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run.py beside this file: the row names

from run import FRACTIONS, ROWS, parse_row  # noqa: E402

TASKS = ("d3_fhb", "d5_fhb", "euploid")
TARGET_ROW = "pretrained-dense-25"
AUC_MARGIN = 0.05  # the issue: every-embryo potential-outcome AUC within 0.05 of Bayes


def fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def ci(m: dict | None, digits: int = 3) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    return f"{m['value']:.{digits}f} [{fmt(m.get('low'), digits)}, {fmt(m.get('high'), digits)}]"


def paired(diff: dict | None, flip: bool = False, digits: int = 2) -> str:
    """``diff [low, high]`` of a paired difference; ``flip`` turns "ordering minus model" into "model minus it"."""
    if not diff or diff.get("diff") is None:
        return "n/a"
    d, lo, hi = diff["diff"], diff["diff_low"], diff["diff_high"]
    if flip:
        d, lo, hi = -d, -hi, -lo
    return f"{d:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def load_rows(out: Path) -> dict[str, dict]:
    """row -> {"result": result.json, "metrics": metrics.json or None} for every row that has a result."""
    rows = {}
    for row in ROWS:
        path = out / "rows" / row / "result.json"
        if path.is_file():
            result = json.loads(path.read_text())
            metrics = Path(result.get("metrics", "")) if result.get("status") == "done" else None
            rows[row] = {"result": result, "metrics": json.loads(metrics.read_text()) if metrics and metrics.is_file() else None}
    return rows


def fraction_cell(row: str, result: dict) -> str:
    share = (result.get("labels") or {}).get("labelled_share")
    nominal = f"{FRACTIONS[parse_row(row)[2]]:.0%}"
    return f"{nominal} ({share:.1%})" if share is not None else nominal


def machine_of(result: dict) -> str:
    m = result.get("machine", {})
    return m.get("gpu") or f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores"


def target_check(m: dict) -> list[str]:
    """The issue's "Done when" for the pretrained + dense 25% row: each criterion met or missed, and by how much."""
    o, ae = m["transfers"]["orderings"], m["all_embryos"]["tasks"]
    lines = []
    agree = o["morphology"].get("rank_agreement_vs_model") or {}
    if agree.get("diff") is None:
        lines.append("- rank agreement above the morphology proxy's: n/a (no paired difference in metrics.json)")
    else:
        low = -agree["diff_high"]  # model minus morphology: the lower end of the flipped interval
        met = low > 0
        lines.append(f"- rank agreement with Bayes above the morphology proxy's, paired CI excluding 0: model minus "
                     f"morphology {paired(agree, flip=True)} -> {'met' if met else f'missed (lower end {low:+.2f}, needs > 0)'}")
    model, morph = o["model"]["value"], o["morphology"]["value"]
    over = model - morph
    lines.append(f"- transfers per pregnancy at or below the morphology proxy's: {model:.2f} vs {morph:.2f} -> "
                 f"{'met' if over <= 0 else f'missed by {over:.2f}'}")
    for task in TASKS:
        t = ae.get(task)
        if not t or t["auc"].get("value") is None:
            continue
        gap = t["bayes_auc"] - t["auc"]["value"]
        lines.append(f"- every-embryo potential-outcome AUC within {AUC_MARGIN} of Bayes, {task}: {t['auc']['value']:.3f} "
                     f"vs {t['bayes_auc']:.3f} (gap {gap:.3f}) -> "
                     f"{'met' if gap <= AUC_MARGIN else f'missed by {gap - AUC_MARGIN:.3f}'}")
    return lines


def render(out: Path) -> str:
    cohort = json.loads((out / "cohort" / "cohort.json").read_text()) if (out / "cohort" / "cohort.json").is_file() else {}
    rows = load_rows(out)
    done = {r: v for r, v in rows.items() if v["metrics"] is not None}
    lines = [f"Label-efficiency benchmark: cohort seed {cohort.get('seed', '?')}, {cohort.get('num_patients', '?')} "
             f"patients in {cohort.get('num_clinics', '?')} clinics, {cohort.get('embryos_built', '?')} embryos; "
             f"{len(done)} of {len(ROWS)} rows finished. Fraction = share of the training embryos with an outcome "
             "label (in brackets: as achieved). 25% is the clinic default, the labels as recorded. 10% keeps the "
             "recorded labels of seeded whole patients. 100% gives every embryo its potential outcome from truth.csv "
             "(simulation only). Hyper-parameters: none tuned (configs/default.yaml; pretraining configs/pretrain.yaml).",
             ""]
    if not done:
        lines.append("No finished row yet: run experiments/label_efficiency/run.py.")
    else:
        first = next(iter(done.values()))["metrics"]
        same = {(v["metrics"]["split"], v["metrics"]["n_embryos"]) for v in done.values()}
        lines.append(f"Held-out split '{first['split']}': {first['n_patients']} patients, {first['n_embryos']} embryos"
                     + ("" if len(same) == 1 else f" (WARNING: rows were evaluated on different embryos: {sorted(same)})"))
        lines += ["", "| row | fraction | " + " | ".join(f"{t} AUC, every embryo [95% CI]" for t in TASKS) + " | "
                  + " | ".join(f"{t} ECE [95% CI]" for t in TASKS) + " | wall time |",
                  "|---" * (3 + 2 * len(TASKS)) + "|"]
        for row, v in done.items():
            ae = v["metrics"]["all_embryos"]["tasks"]
            aucs = [ci(ae.get(t, {}).get("auc")) for t in TASKS]
            eces = [ci(ae[t].get("ece_ci")) if t in ae and ae[t].get("ece_ci") else fmt(ae.get(t, {}).get("ece"))
                    for t in TASKS]
            wall = v["result"].get("seconds", {}).get("total")
            lines.append(f"| {row} | {fraction_cell(row, v['result'])} | " + " | ".join(aucs + eces)
                         + f" | {fmt(wall, 0)} s |")
        ae = first["all_embryos"]["tasks"]
        lines.append("| Bayes (same embryos) | – | " + " | ".join(fmt(ae.get(t, {}).get("bayes_auc")) for t in TASKS)
                     + " | " + " | ".join(fmt(ae.get(t, {}).get("bayes_ece")) for t in TASKS) + " | – |")
        lines += ["", "| row | rank agreement with Bayes [95% CI] | minus morphology [paired CI] | transfers per "
                  "pregnancy [95% CI] | minus random [paired CI] | minus morphology [paired CI] |", "|---" * 6 + "|"]
        for row, v in done.items():
            o = v["metrics"]["transfers"]["orderings"]
            lines.append(f"| {row} | {ci(o['model']['rank_agreement'], 2)} | "
                         f"{paired(o['morphology'].get('rank_agreement_vs_model'), flip=True)} | {ci(o['model'], 2)} | "
                         f"{paired(o['model'])} | {paired(o['morphology'].get('vs_model'), flip=True)} |")
        o = first["transfers"]["orderings"]
        for name, label in (("morphology", "morphology proxy"), ("random", "random order"), ("bayes", "Bayes")):
            agree = ci(o[name].get("rank_agreement"), 2) if name != "random" else "–"
            lines.append(f"| {label} (same embryos) | {agree} | – | {ci(o[name], 2)} | "
                         f"{paired(o[name]) if name != 'random' else '–'} | – |")
        machines = sorted({machine_of(v["result"]) for v in done.values()})
        lines += ["", f"Machine: {'; '.join(machines)}. Wall time = train + evaluate of the row (the one cohort build "
                  "and pretraining are in cohort/cohort.json and pretrain/done.json)."]
        if TARGET_ROW in done:
            lines += ["", f"Target ({TARGET_ROW}, issue 13 'Done when'):", *target_check(done[TARGET_ROW]["metrics"])]
        else:
            lines += ["", f"Target ({TARGET_ROW}): not run yet."]
    failed = {r: v["result"] for r, v in rows.items() if v["result"].get("status") != "done"}
    if failed:
        lines += ["", "Failed rows: " + "; ".join(f"{r}: {res.get('error', '?')}" for r, res in failed.items())]
    missing = [r for r in ROWS if r not in rows]
    if missing:
        lines += ["", "Not run: " + ", ".join(missing)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python experiments/label_efficiency/table.py <run.py's folder, e.g. outputs/label_efficiency>")
        return 2
    out = Path(args[0])
    if not (out / "rows").is_dir() and not (out / "cohort").is_dir():
        print(f"{out}: no cohort/ or rows/ inside; give the folder run.py wrote (<output_dir>/<name>)")
        return 1
    text = render(out)
    (out / "table.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
