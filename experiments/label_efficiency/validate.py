"""Side-by-side VALIDATION metrics of benchmark rows, to choose between recipe variants before reading test.

    aivf evaluate <row run> --split kfold/0/val --out <row run>/eval_val          # per row, first
    python experiments/label_efficiency/validate.py mask0.9=<row run>/eval_val mask0.75=<row run>/eval_val

Each argument is ``label=folder`` (a folder holding ``aivf evaluate``'s metrics.json, or the file itself). Printed:
every-embryo potential-outcome AUC per task, rank agreement with Bayes (and minus the morphology proxy, paired),
transfers per pregnancy. Not ECE: ``aivf evaluate`` fits the calibration on the validation split, so on that
same split ECE is flattered and says nothing about the variant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # table.py beside this file: the formatting

from table import TASKS, ci, paired  # noqa: E402


def load(arg: str) -> tuple[str, dict]:
    """``label=folder`` -> (label, metrics.json's content); a clear error for a malformed or missing one."""
    label, sep, where = arg.partition("=")
    if not sep or not label or not where:
        raise SystemExit(f"{arg!r}: give label=folder, e.g. mask0.75=outputs/x/rows/pretrained-dense-25/eval_val")
    path = Path(where)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.is_file():
        raise SystemExit(f"{path}: no metrics.json; run aivf evaluate <row run> --split kfold/0/val --out {where}")
    return label, json.loads(path.read_text())


def render(variants: list[tuple[str, dict]]) -> str:
    splits = sorted({(m["split"], m["n_embryos"]) for _, m in variants})
    lines = [f"Split(s) {', '.join(f'{s} ({n} embryos)' for s, n in splits)}"
             + ("" if len(splits) == 1 else " WARNING: the variants were scored on different embryos"), "",
             "| variant | " + " | ".join(f"{t} AUC, every embryo [95% CI]" for t in TASKS)
             + " | rank agreement with Bayes [95% CI] | minus morphology [paired CI] | transfers per pregnancy [95% CI] |",
             "|---" * (len(TASKS) + 4) + "|"]
    for label, m in variants:
        ae, o = m["all_embryos"]["tasks"], m["transfers"]["orderings"]
        aucs = [ci(ae.get(t, {}).get("auc")) for t in TASKS]
        lines.append(f"| {label} | " + " | ".join(aucs) + f" | {ci(o['model']['rank_agreement'], 2)} | "
                     f"{paired(o['morphology'].get('rank_agreement_vs_model'), flip=True)} | {ci(o['model'], 2)} |")
    _, first = variants[0]
    ae, o = first["all_embryos"]["tasks"], first["transfers"]["orderings"]
    lines.append("| Bayes (same embryos) | " + " | ".join(f"{ae[t]['bayes_auc']:.3f}" if t in ae else "n/a" for t in TASKS)
                 + f" | 1.00 | – | {ci(o['bayes'], 2)} |")
    lines.append("| morphology proxy (same embryos) | " + " | ".join("–" for _ in TASKS)
                 + f" | {ci(o['morphology']['rank_agreement'], 2)} | – | {ci(o['morphology'], 2)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print(__doc__)
        return 2
    print(render([load(a) for a in args]), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
