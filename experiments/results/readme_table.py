"""README Results table from finished runs' eval/metrics.json (one column per run).

    python experiments/results/readme_table.py outputs/s0 outputs/s11 outputs/s12
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def ci(m: dict, digits: int = 3) -> str:
    return f"{m['value']:.{digits}f} [{m['low']:.{digits}f}, {m['high']:.{digits}f}]"


def signed(x: float) -> str:
    return f"{x:+.2f}"


def column(run: str) -> dict[str, str]:
    m = json.loads((Path(run) / "eval" / "metrics.json").read_text())
    ae, tr = m["all_embryos"], m["transfers"]["orderings"]
    t5, t3, te = (ae["tasks"][t] for t in ("d5_fhb", "d3_fhb", "euploid"))
    o = ae["orderings"]
    known = {t: m["tasks"][t] for t in ("d3_fhb", "d5_fhb", "euploid")}
    model = tr["model"]
    return {
        "test split": f"{m['n_patients']} patients, {m['n_embryos']} embryos",
        "**top-1 usable rate** (every embryo): model / Bayes / morphology":
            f"**{o['model']['top1_usable']:.3f}** / {o['bayes']['top1_usable']:.3f} / {o['morphology']['top1_usable']:.3f}",
        "top-1 usable rate among day-5 candidates: model / Bayes":
            f"{o['model']['top1_usable_day5']:.3f} / {o['bayes']['top1_usable_day5']:.3f}",
        "**day-5 FHB AUC, every embryo** (Bayes; morphology)":
            f"**{ci(t5['auc'])}** ({t5['bayes_auc']:.3f}; {o['morphology']['potential_auc']['value']:.3f})",
        "**day-5 FHB ECE, every embryo** vs potential outcome (Bayes)": f"**{t5['ece']:.3f}** ({t5['bayes_ece']:.3f})",
        "Bayes < 0.05 shown > 0.5 (day-5)": f"{t5['n_excluded_shown_high']} of {t5['n_excluded']}",
        "mean shown P(FHB, day 5), non-transferable (truth)":
            f"{t5['mean_shown_non_transferable']:.3f} ({t5['mean_bayes_non_transferable']:.3f})",
        "day-3 FHB, every embryo: AUC (Bayes) / ECE":
            f"{t3['auc']['value']:.3f} ({t3['bayes_auc']:.3f}) / {t3['ece']:.3f}",
        "euploid, every embryo: AUC (Bayes) / ECE": f"{te['auc']['value']:.3f} ({te['bayes_auc']:.3f}) / {te['ece']:.3f}",
        **{f"AUC {t} (known outcomes)": f"{ci(k['metrics']['auc'])} (n={k['n']})" for t, k in known.items()},
        "transfers/pregnancy: random": f"{tr['random']['value']:.2f}",
        "morphology proxy / KIDScore-like": f"{tr['morphology']['value']:.2f} / {tr['kidscore']['value']:.2f}",
        "**model**": f"**{model['value']:.2f}**",
        "model minus random (paired)":
            f"{signed(model['diff'])} [{signed(model['diff_low'])}, {signed(model['diff_high'])}]",
        "Bayes-optimal / perfect hindsight": f"{tr['bayes']['value']:.2f} / {tr['hindsight']['value']:.2f}",
        "rank agreement with Bayes: model": ci(model["rank_agreement"], 2),
        "rank agreement: morphology / KIDScore-like":
            f"{tr['morphology']['rank_agreement']['value']:.2f} / {tr['kidscore']['rank_agreement']['value']:.2f}",
        "potential-outcome AUC, transferable only: model / morphology / Bayes":
            f"{ci(model['potential_auc'])} / {tr['morphology']['potential_auc']['value']:.3f} / "
            f"{tr['bayes']['potential_auc']['value']:.3f}",
    }


def oracle_column(run: str) -> dict[str, str]:
    """Day-5 FHB: model vs exact posterior vs keyframe oracle (metrics.json ``keyframe_oracle``)."""
    m = json.loads((Path(run) / "eval" / "metrics.json").read_text())
    d5 = m["keyframe_oracle"]["tasks"]["d5_fhb"]
    out = {}
    for subset, label in (("all", "every embryo"), ("transferable", "transferable embryos")):
        a, diff = d5[subset]["auc"], d5[subset]["model_minus_oracle"]
        out[label] = (f"{a['model']['value']:.3f} / {a['bayes']['value']:.3f} / {a['oracle']['value']:.3f} / "
                      f"{a['oracle_nograde']['value']:.3f}; {diff['diff']:+.3f} [{diff['diff_low']:+.3f}, "
                      f"{diff['diff_high']:+.3f}]")
    r = d5["rank_agreement"]
    out["rank agreement: model with oracle / model with exact / oracle with exact"] = " / ".join(
        f"{r[k]['value']:.2f}" for k in ("model_vs_oracle", "model_vs_bayes", "oracle_vs_bayes"))
    return out


def table(runs: list[str], make, corner: str = "") -> None:
    cols = [make(r) for r in runs]
    print(f"| {corner} | " + " | ".join(Path(r).name for r in runs) + " |")
    print("|---" * (len(runs) + 1) + "|")
    for key in cols[0]:
        print(f"| {key} | " + " | ".join(c[key] for c in cols) + " |")


def main(runs: list[str]) -> None:
    table(runs, column)
    print()
    table(runs, oracle_column, "day-5 FHB AUC: model / exact / oracle with grades / oracle without grades; "
          "model − oracle [CI]")


if __name__ == "__main__":
    main(sys.argv[1:])
