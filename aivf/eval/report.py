"""The self-contained HTML evaluation report: plots as base64 PNGs, tables, keyframe strips (one JPEG each).

Every function takes the plain dict ``aivf.eval.analysis.analyze`` returns (the same content as
metrics.json), so a report can be re-rendered from metrics.json alone.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np

from aivf.eval.templates.page import SIMULATED_BANNER, page

TASK_TITLES = {"d3_fhb": "Day-3 transfer: fetal heartbeat", "d5_fhb": "Day-5 transfer: fetal heartbeat",
               "euploid": "Euploidy (PGT-A)"}
METRIC_TITLES = {"auc": "Pooled AUC", "within_cohort_auc": "Within-cohort AUC", "cross_entropy": "Cross-entropy",
                 "brier": "Brier score", "ece": "ECE (equal-mass)"}
COLORS = {"random": "#9aa5b1", "morphology": "#c08a3e", "kidscore": "#8e6cc0", "model": "#2f6fdd",
          "bayes": "#1b873f", "hindsight": "#52606d"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def fig_to_uri(fig) -> str:
    """A matplotlib figure as a ``data:image/png;base64`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def image_uri(frame: np.ndarray) -> str:
    """(H, W) or (H, W, 3) uint8 image as a base64 PNG data URI (lossless; for plots and small images)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def strip_uri(frames: np.ndarray, px: int = 64, quality: int = 70) -> str:
    """Keyframes (K, H, W) or (K, H, W, 3) uint8 as ONE horizontal JPEG strip of K tiles of px x px, as a data URI.

    One JPEG per strip instead of one PNG per frame: the noisy microscope frames compress ~6x better
    as JPEG, and a single header per strip saves ~25% more (measured: ~5.5 kB for 6 tiles of 64 px at
    quality 70, against ~21 kB of PNGs), which keeps a 500-embryo ranked page at a few MB at most.
    """
    from PIL import Image

    tiles = [Image.fromarray(np.asarray(f, dtype=np.uint8)).resize((px, px), Image.BILINEAR) for f in frames]
    canvas = Image.new(tiles[0].mode, (px * len(tiles), px))
    for k, tile in enumerate(tiles):
        canvas.paste(tile, (k * px, 0))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=int(quality), optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def fmt(value, digits: int = 3) -> str:
    """A number for a table cell; NaN/None as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def fmt_ci(entry: dict, digits: int = 3) -> str:
    """``value [low, high]``."""
    return f"{fmt(entry['value'], digits)} <span class='muted'>[{fmt(entry['low'], digits)}, {fmt(entry['high'], digits)}]</span>"


def roc_figure(task: dict) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.4, 4.0))
    ax.plot([0, 1], [0, 1], ls="--", c="#bbb", lw=1, label="chance")
    if "bayes" in task:
        ax.plot(task["bayes"]["roc"]["fpr"], task["bayes"]["roc"]["tpr"], c=COLORS["bayes"], lw=1.5,
                label=f"Bayes-optimal (AUC {fmt(task['bayes']['auc'])})")
    m = task["metrics"]["auc"]
    ax.plot(task["roc"]["fpr"], task["roc"]["tpr"], c=COLORS["model"], lw=2.2,
            label=f"model (AUC {fmt(m['value'])} [{fmt(m['low'])}, {fmt(m['high'])}])")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"ROC (n={task['n']}, {task['n_pos']} positive)")
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    return fig_to_uri(fig)


def reliability_figure(task: dict) -> str:
    plt = _plt()
    rel = task["reliability"]
    fig, ax = plt.subplots(figsize=(4.4, 4.0))
    ax.plot([0, 1], [0, 1], ls="--", c="#bbb", lw=1, label="perfect calibration")
    if rel["count"]:
        sizes = 20 + 180 * np.asarray(rel["count"]) / max(rel["count"])
        ax.plot(rel["mean_pred"], rel["frac_pos"], c=COLORS["model"], lw=1.5)
        ax.scatter(rel["mean_pred"], rel["frac_pos"], s=sizes, c=COLORS["model"], alpha=0.8,
                   label="equal-mass bins (size = count)")
    e = task["metrics"]["ece"]
    ax.set(xlabel="mean predicted probability", ylabel="observed positive rate", xlim=(0, 1), ylim=(0, 1.01),
           title=f"Reliability (ECE {fmt(e['value'])} [{fmt(e['low'])}, {fmt(e['high'])}])")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.grid(alpha=0.25)
    return fig_to_uri(fig)


def transfers_figure(orderings: dict) -> str:
    plt = _plt()
    names = list(orderings)
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(names) + 1.2))
    for i, name in enumerate(names):
        o = orderings[name]
        ax.barh(i, o["value"], color=COLORS.get(name, "#888"), alpha=0.9, height=0.62)
        ax.errorbar(o["value"], i, xerr=[[o["value"] - o["low"]], [o["high"] - o["value"]]], fmt="none",
                    ecolor="#1f2933", capsize=4, lw=1.2)
        ax.text(o["high"] + 0.03, i, f"{o['value']:.2f}", va="center", fontsize=9)
    ax.set_yticks(range(len(names)), [orderings[n]["label"] for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("transfers per pregnancy (lower is better), 95% CI over cohorts")
    ax.set_xlim(0, max(o["high"] for o in orderings.values() if not math.isnan(o["high"])) * 1.15)
    ax.grid(axis="x", alpha=0.25)
    return fig_to_uri(fig)


def _table(headers: list[str], rows: list[list[str]], highlight: int | None = None) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join(
        f"<tr{' class=hl' if i == highlight else ''}>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>"
        for i, r in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def subgroup_html(rows: list[dict], title: str) -> str:
    table = _table([title, "embryos", "positive", "AUC", "within-cohort AUC", "Brier", "ECE"],
                   [[html.escape(r["group"]), str(r["n"]), str(r["n_pos"]), fmt(r["auc"]),
                     fmt(r["within_cohort_auc"]), fmt(r["brier"]), fmt(r["ece"])] for r in rows])
    return table


def attribution_color(value: float, scale: float) -> str:
    """Red where hiding the keyframe lowers the score (it supported it), blue where it raises it."""
    a = 0.0 if scale <= 0 else min(abs(value) / scale, 1.0)
    rgb = (192, 57, 43) if value > 0 else (47, 111, 221)
    return f"rgba({rgb[0]},{rgb[1]},{rgb[2]},{0.12 + 0.88 * a:.2f})"


def strip_html(frames: np.ndarray, hpi: np.ndarray, attribution: np.ndarray | None = None, size: int = 80,
               px: int | None = None, quality: int = 70, per_row: int = 12) -> str:
    """A row of keyframe thumbnails (K, H, W) with their hpi and, optionally, an attribution bar under each.

    Each line of up to ``per_row`` keyframes is one JPEG strip (see ``strip_uri``); longer sequences wrap.

    Args:
        frames: (K, H, W) or (K, H, W, 3) uint8 keyframes.
        hpi: (K,) hours post insemination of each keyframe.
        attribution: (K,) score change when each keyframe is hidden, or None.
        size: displayed side of each thumbnail, CSS pixels.
        px: stored side of each tile; default ``min(size, frame side)`` (never upscaled in the file).
        quality: JPEG quality of the strips (1-95).
        per_row: keyframes per line (12 x 80 px fits the 1180 px page).
    """
    frames = np.asarray(frames)
    if not len(frames):
        return "<span class='muted'>no frames</span>"
    px = int(px or min(size, *frames.shape[1:3]))
    scale = float(np.nanmax(np.abs(attribution))) if attribution is not None and len(attribution) else 0.0
    lines = []
    for start in range(0, len(frames), per_row):
        cells = []
        for k in range(start, min(start + per_row, len(frames))):
            bar = ""
            if attribution is not None:
                bar = (f"<div class='attr' title='score change when hidden: {attribution[k]:+.3f}' "
                       f"style='background:{attribution_color(float(attribution[k]), scale)}'></div>")
            cells.append(f"<figure style='width:{size}px'>{bar}{fmt(float(hpi[k]), 0)} h</figure>")
        width = size * len(cells)
        lines.append(f"<div style='width:{width}px'><img src='{strip_uri(frames[start:start + per_row], px, quality)}' "
                     f"width='{width}' height='{size}' alt='keyframes'><div style='display:flex'>{''.join(cells)}</div>"
                     "</div>")
    return f"<div class='strip'>{''.join(lines)}</div>"


def render_report(result: dict, title: str = "aivf evaluation report", subtitle: str = "",
                  strips: dict[str, list[dict]] | None = None, simulated: bool = True) -> str:
    """The full report page.

    Args:
        result: output of ``analysis.analyze`` (or metrics.json re-read).
        strips: per task, a list of embryos ``{"embryo_id", "rank", "prob", "label", "frames" (K,H,W) uint8,
            "hpi" (K,), "attribution" (K,)}`` from the top and bottom of the ranking.
        simulated: show the banner that simulated-data scores mean nothing clinically.
    """
    body = [SIMULATED_BANNER if simulated else ""]
    cards = all_embryo_cards(result["all_embryos"]) if "all_embryos" in result else []
    for task, t in result["tasks"].items():
        for key in ("auc", "within_cohort_auc"):
            n = (f"{t.get('within_cohort_n', '?')} cohorts, {t.get('within_cohort_pairs', '?')} pairs"
                 if key == "within_cohort_auc" else f"n={t['n']}, {t['n_pos']} positive")
            cards.append(ci_card(f"{TASK_TITLES.get(task, task)} · {METRIC_TITLES[key]}", t["metrics"][key], 0.5, n))
    if "transfers" in result:
        o = result["transfers"]["orderings"]
        cards.append(f"<div class='card'><div class='k'>Transfers per pregnancy · model vs random</div>"
                     f"<div class='v'>{fmt(o['model']['value'], 2)} <span class='muted' style='font-size:16px'>vs "
                     f"{fmt(o['random']['value'], 2)}</span></div><div class='ci'>difference "
                     f"{fmt(o['model']['diff'], 2)} [{fmt(o['model']['diff_low'], 2)}, {fmt(o['model']['diff_high'], 2)}]"
                     "</div></div>")
        pauc, agree = o["model"].get("potential_auc"), o["model"].get("rank_agreement")
        if pauc and pauc["value"] is not None:
            cards.append(ci_card("Day-5 FHB · AUC on all transferable (potential outcome)", pauc, 0.5,
                                 f"n={pauc['n']}, {pauc['n_pos']} positive · Bayes {fmt(o['bayes']['potential_auc']['value'])}"))
        if agree and agree["value"] is not None:
            cards.append(ci_card("Within-cohort rank agreement with Bayes · model", agree, 0.0,
                                 f"{agree['n_cohorts']} cohorts · morphology "
                                 f"{fmt(o['morphology']['rank_agreement']['value'], 2)}", digits=2))
    body.append(f"<p class='sub'>{result['n_embryos']} embryos of {result['n_patients']} patients.</p>")
    body.append(f"<div class='cards'>{''.join(cards)}</div>")
    if "all_embryos" in result:
        body.append(all_embryo_html(result["all_embryos"]))
    if "keyframe_oracle" in result:
        body.append(oracle_html(result["keyframe_oracle"]))
    if "transfers" in result:
        body.append(transfers_html(result["transfers"]))
    for task, t in result["tasks"].items():
        body.append(task_html(task, t, (strips or {}).get(task)))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.get("notes", []))
    body.append(f"<h2>How these numbers were computed</h2><ul class='notes'>{notes}</ul>")
    return page(title, "".join(body), subtitle)


def all_embryo_cards(a: dict) -> list[str]:
    """Headline cards judged on EVERY embryo of the split (simulation only): they lead the report."""
    cards = []
    model = a["orderings"].get("model", {})
    bayes = a["orderings"].get("bayes", {})
    if model.get("top1_usable") is not None:
        cls = "good" if model["top1_usable"] >= 0.95 else "bad"
        cards.append(f"<div class='card'><div class='k'>Top-1 usable rate · every embryo</div>"
                     f"<div class='v {cls}'>{fmt(model['top1_usable'])}</div><div class='ci'>share of "
                     f"{model['n_cohorts']} patients with a blastocyst whose first-ranked embryo is one · Bayes "
                     f"{fmt(bayes.get('top1_usable'))} · morphology {fmt(a['orderings'].get('morphology', {}).get('top1_usable'))}"
                     f" · among day-5 candidates (recording reaches day 5): {fmt(model.get('top1_usable_day5'))}"
                     "</div></div>")
    d5 = a["tasks"].get("d5_fhb")
    if d5:
        cards.append(ci_card("Day-5 FHB · AUC on every embryo (potential outcome)", d5["auc"], 0.5,
                             f"n={d5['auc']['n']} · Bayes {fmt(d5['bayes_auc'])}"))
        cls = "good" if d5["ece"] <= 0.05 and d5["n_excluded_shown_high"] == 0 else "bad"
        cards.append(f"<div class='card'><div class='k'>Day-5 FHB · calibration on every embryo</div>"
                     f"<div class='v {cls}'>ECE {fmt(d5['ece'])}</div><div class='ci'>vs potential outcomes (Bayes "
                     f"{fmt(d5['bayes_ece'])}) · {d5['n_excluded_shown_high']} of {d5['n_excluded']} embryos with "
                     f"Bayes &lt; 0.05 shown &gt; 0.5</div></div>")
    return cards


def oracle_html(o: dict) -> str:
    """Model vs exact Bayes vs keyframe oracle on the same embryos, and the compass target."""
    rows = []
    for task, t in o["tasks"].items():
        for subset in ("transferable", "all"):
            e = t.get(subset, {})
            if "auc" not in e:
                continue
            a, d = e["auc"], e["model_minus_oracle"]
            rows.append([html.escape(TASK_TITLES.get(task, task)), subset, str(e["n"]), fmt_ci(a["model"]),
                         fmt(a["bayes"]["value"]), fmt(a["oracle"]["value"]), fmt(a["oracle_nograde"]["value"]),
                         f"{fmt(d['diff'])} <span class='muted'>[{fmt(d['diff_low'])}, {fmt(d['diff_high'])}]</span>",
                         "yes" if e["within_target"] else "no"])
    agree = [[html.escape(TASK_TITLES.get(task, task)), fmt_ci(r["model_vs_oracle"], 2), fmt_ci(r["model_vs_bayes"], 2),
              fmt(r["oracle_vs_bayes"]["value"], 2)]
             for task, t in o["tasks"].items() for r in [t["rank_agreement"]] if r["model_vs_oracle"]["value"] is not None]
    return ("<h2>Attainable ceiling: the keyframe oracle</h2><p class='muted'>The exact Bayes posterior conditions on "
            "exact event times and perfectly read grades, more than any model of the keyframes can see. The keyframe "
            "oracle is the exact posterior given what a perfect reader sees on the dataset's keyframes: each event's "
            "keyframe interval, visible degeneration, and fragmentation and ICM/TE grades once visible (without "
            f"grades: timing only). <b>Compass target: within {fmt(o['auc_margin'], 2)} AUC of the keyframe oracle</b> "
            "(model − oracle ≥ −0.03). AUC against every embryo's potential outcome, on the same embryos; "
            "difference paired over the same patient resamples.</p>"
            + _table(["task", "embryos", "n", "model AUC [95% CI]", "exact Bayes", "keyframe oracle", "oracle, no grades",
                      "model − oracle [95% CI]", "within 0.03"], rows)
            + _table(["task (transferable)", "rank agreement with the oracle", "rank agreement with exact Bayes",
                      "oracle's agreement with exact Bayes (reachable)"], agree))


def all_embryo_figure(a: dict) -> str:
    """Reliability of the shown probabilities over every embryo: against outcomes and against Bayes."""
    plt = _plt()
    tasks = [t for t in ("d5_fhb", "d3_fhb", "euploid") if t in a["tasks"]]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.0 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        t = a["tasks"][task]
        ax.plot([0, 1], [0, 1], ls="--", c="#bbb", lw=1)
        for key, label, color in (("reliability", "vs potential outcome", COLORS["model"]),
                                  ("reliability_bayes", "vs Bayes posterior", COLORS.get("bayes", "#555"))):
            rel = t[key]
            if rel["count"]:
                ax.plot(rel["mean_pred"], rel["frac_pos"], marker="o", ms=4, c=color, lw=1.3, label=label)
        ax.set(xlabel="shown probability (equal-mass bins)", ylabel="truth", xlim=(0, 1), ylim=(0, 1.01),
               title=f"{TASK_TITLES.get(task, task)} · ECE {fmt(t['ece'])}")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        ax.grid(alpha=0.25)
    fig.tight_layout()
    return fig_to_uri(fig)


def all_embryo_html(a: dict) -> str:
    """The 'every embryo' section: per task and per ordering, on the simulator's truth."""
    rows = [[html.escape(TASK_TITLES.get(task, task)), fmt_ci(t["auc"]), fmt(t["bayes_auc"]), fmt(t["ece"]),
             fmt(t["ece_vs_bayes"]), f"{t['n_excluded_shown_high']} / {t['n_excluded']}",
             f"{fmt(t['mean_shown_non_transferable'])} (truth {fmt(t['mean_bayes_non_transferable'])})"]
            for task, t in a["tasks"].items()]
    orderings = [[html.escape(o["label"]), fmt(o["top1_usable"]), fmt(o.get("top1_usable_day5")),
                  fmt_ci(o["potential_auc"])] for o in a["orderings"].values()]
    return ("<h2>Every embryo (simulated truth)</h2><p class='muted'>All "
            f"{a['n']} embryos of the split, {a['n_transferable']} of them transferable (blastulation by the day-5 "
            "cutoff), judged on each embryo's potential outcome and Bayes posterior, not only on the transferred "
            "ones whose outcomes are labels.</p>"
            + _table(["task", "AUC, every embryo [95% CI]", "Bayes AUC", "ECE vs outcome", "ECE vs Bayes",
                      "Bayes &lt; 0.05 shown &gt; 0.5", "mean shown, non-transferable"], rows)
            + _table(["ordering", "top-1 usable rate", "top-1 usable, day-5 candidates",
                      "day-5 FHB AUC, every embryo"], orderings)
            + f"<img src='{all_embryo_figure(a)}' alt='reliability over every embryo'>")


def ci_card(title: str, m: dict, chance: float, detail: str, digits: int = 3) -> str:
    """A headline number with its 95% CI, shown green when the whole CI lies above ``chance``."""
    cls = "good" if m["low"] is not None and m["low"] > chance else ""
    return (f"<div class='card'><div class='k'>{title}</div><div class='v {cls}'>{fmt(m['value'], digits)}</div>"
            f"<div class='ci'>95% CI [{fmt(m['low'], digits)}, {fmt(m['high'], digits)}] · {detail}</div></div>")


def transfers_html(tr: dict) -> str:
    o = tr["orderings"]
    def diff(d: dict, skip: bool) -> str:
        return "–" if skip else f"{d['diff']:+.2f} <span class='muted'>[{fmt(d['diff_low'], 2)}, {fmt(d['diff_high'], 2)}]</span>"

    rows = [[html.escape(v["label"]), fmt_ci(v, 2), diff(v, name == "random"),
             "–" if name == "random" else fmt(v["p_better"], 3),
             diff(v["vs_model"], name == "model") if "vs_model" in v else "–", fmt(v["pregnant_first_transfer"]),
             fmt(v["transfers_among_pregnant"], 2), fmt(v["top1_hit"]), fmt(v["top1_euploid"]),
             fmt_ci(v["rank_agreement"], 2) if name not in ("random", "bayes") and "rank_agreement" in v else "–",
             fmt_ci(v["potential_auc"]) if name not in ("random", "hindsight") and "potential_auc" in v else "–"]
            for name, v in o.items()]
    table = _table(["ordering", "transfers / pregnancy [95% CI]", "minus random (paired) [95% CI]",
                    "P(fewer than random)", "minus model (paired) [95% CI]",
                    "pregnant at 1st", "transfers among pregnant", "top-1 hit", "top-1 euploid",
                    "rank agreement with Bayes [95% CI]", "AUC, potential FHB of all transferable [95% CI]"],
                   rows, highlight=list(o).index("model") if "model" in o else None)
    first = next(iter(o.values()))
    return (f"<h2>Transfers per pregnancy</h2><p class='sub'>Each cohort's transferable embryos "
            f"({tr['n_transferable']} in {first['n_cohorts']} cohorts, {fmt(first['n_pregnant'], 0)} can reach a pregnancy) "
            "are transferred one at a time in the order of each score until the first fetal heartbeat; "
            "all orderings are compared on the same cohorts. Rank agreement: Spearman correlation with the "
            "Bayes-optimal posterior inside each cohort of 3 or more transferable embryos, averaged over cohorts "
            "(1 = ordered as well as the truth allows, 0 = unrelated); it uses every transferable embryo, so it is "
            "a sharper test of the ranking than the transfers count. The last column is the AUC of each score "
            "against the outcome every transferable embryo would have had (simulation only; embryos a clinic "
            "would discard are not counted as negatives).</p>"
            f"<div class='panel'><img class='plot' src='{transfers_figure(o)}'></div>{table}")


def task_html(task: str, t: dict, strips: list[dict] | None) -> str:
    parts = [f"<h2>{TASK_TITLES.get(task, task)}</h2>"]
    if t["n"] == 0:
        return parts[0] + "<p class='muted'>No known outcomes for this task in this split.</p>"
    parts.append(f"<div class='grid2'><div class='panel'><img class='plot' src='{roc_figure(t)}'></div>"
                 f"<div class='panel'><img class='plot' src='{reliability_figure(t)}'></div></div>")
    rows = [[METRIC_TITLES[k], fmt_ci(v)] for k, v in t["metrics"].items()]
    if "bayes" in t:
        b = t["bayes"]
        rows.append(["Bayes-optimal AUC (truth)", fmt(b["auc"])])
        rows.append(["Gap to Bayes ceiling (AUC)",
                     f"{fmt(b['auc_gap'])} <span class='muted'>[{fmt(b['gap_low'])}, {fmt(b['gap_high'])}]</span>"])
    truth = t.get("simulated_truth")
    if truth and truth["auc"]["value"] is not None:
        rows.append(["AUC, all transferable blastocysts (simulated truth)",
                     f"{fmt_ci(truth['auc'])} <span class='muted'>n={truth['auc']['n']} · Bayes {fmt(truth['bayes_auc'])}</span>"])
    if truth and truth["rank_agreement"]["value"] is not None:
        rows.append(["Within-cohort rank agreement with Bayes", fmt_ci(truth["rank_agreement"], 2)])
    parts.append("<div class='grid2'><div>" + _table(["metric", "value [95% CI]"], rows) + "</div><div>"
                 + subgroup_html(t["by_clinic"], "clinic") + subgroup_html(t["by_age"], "maternal age") + "</div></div>")
    if strips:
        parts.append("<h3>Highest- and lowest-ranked embryos: keyframes and temporal attribution</h3>"
                     "<p class='legend'>Bar under each keyframe: change of this task's logit when that keyframe is "
                     "hidden (occlusion). <span style='color:#c0392b'>Red</span> = the keyframe raised the score, "
                     "<span style='color:#2f6fdd'>blue</span> = it lowered it; darker = larger.</p>")
        for i, s in enumerate(strips):
            if i == 0 or s["rank"] > strips[i - 1]["rank"] + 1:
                parts.append(f"<p class='legend'><b>{'Highest' if i == 0 else 'Lowest'}-ranked</b></p>")
            label = "unknown" if s.get("label") is None or math.isnan(s["label"]) else int(s["label"])
            parts.append(f"<div class='emb'><div class='hd'><b>#{s['rank']}</b> {html.escape(s['embryo_id'])} · "
                         f"p = {s['prob']:.3f} · outcome: {label}</div>"
                         + strip_html(s["frames"], s["hpi"], s.get("attribution")) + "</div>")
    return "".join(parts)
