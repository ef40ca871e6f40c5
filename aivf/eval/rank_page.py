"""The ranked-cohort HTML page of ``aivf rank``: one table per patient, keyframe thumbnails per embryo.

Size: each thumbnail strip is one small JPEG (~5-7 kB), and only the ``thumbnails_top`` best-ranked
embryos of each patient get one (the ones a clinician compares before a transfer), so a ~500-embryo
cohort stays well under 2 MB. ``thumbnails_top=None`` shows every embryo's strip.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from aivf.eval.report import fmt, strip_html
from aivf.eval.templates.page import SIMULATED_BANNER, page

TASK_HEADERS = {"d3_fhb": "P(FHB | day-3 transfer)", "d5_fhb": "P(FHB | day-5 transfer)", "euploid": "P(euploid)"}
# Shown where the model predicts them: how far the embryo got by the decision time and whether it is usable.
EXTRA_HEADERS = {"stage_predicted": "stage reached (model)", "prob_usable_d5": "P(usable, day 5)",
                 "prob_usable_d6": "P(usable blastocyst by day 6)",
                 "prob_d5_fhb_if_transferred": "P(FHB | transferred, day 5)"}


def _bar(p: float) -> str:
    """A probability as a number with a small horizontal bar."""
    if p is None or np.isnan(p):
        return "–"
    return f"<div class='pb'>{p:.3f}<i><b style='width:{70 * p:.0f}px'></b></i></div>"  # styles: .pb in page.py


def render_ranking(ranked: pd.DataFrame, thumbs: dict[str, tuple[np.ndarray, np.ndarray]], meta: dict,
                   rank_by: str = "d5_fhb", size: int = 64, thumbnails_top: int | None = 3,
                   quality: int = 70) -> str:
    """The page.

    Args:
        ranked: one row per embryo: ``patient_id``, ``rank``, ``embryo_id``, ``prob_<task>``, ``source``.
        thumbs: embryo_id -> (frames uint8 (n, H, W), hpi (n,)) to show.
        meta: ``checkpoint``, ``input``, ``calibration`` (a sentence), ``speed`` (a sentence), ``skipped`` (list).
        rank_by: the task whose probability orders each cohort.
        size: displayed thumbnail side, pixels (stored at most at the frame's own resolution).
        thumbnails_top: keyframe strips only for ranks 1..N of each patient; None = every embryo.
        quality: JPEG quality of the strips.
    """
    body = [SIMULATED_BANNER]
    facts = [("checkpoint", meta.get("checkpoint", "")), ("input", meta.get("input", "")),
             ("ordering", f"within each patient by {TASK_HEADERS[rank_by]}"),
             ("calibration", meta.get("calibration", "")), ("speed", meta.get("speed", "")),
             ("thumbnails", "every embryo" if thumbnails_top is None else
              f"keyframes of the {thumbnails_top} best-ranked embryo(s) of each patient (aivf rank --thumbnails-top)")]
    body.append("<table>" + "".join(f"<tr><th style='width:140px'>{k}</th><td style='text-align:left;white-space:normal'>"
                                    f"{html.escape(str(v))}</td></tr>" for k, v in facts) + "</table>")
    if meta.get("skipped"):
        items = "".join(f"<li>{html.escape(s)}</li>" for s in meta["skipped"])
        body.append(f"<h3>Not ranked ({len(meta['skipped'])})</h3><ul class='notes'>{items}</ul>")
    for patient, group in ranked.groupby("patient_id", sort=True):
        rows = []
        for _, r in group.sort_values("rank").iterrows():
            shown = thumbnails_top is None or int(r["rank"]) <= thumbnails_top
            frames, hpi = thumbs.get(r["embryo_id"], (np.zeros((0, 1, 1), np.uint8), np.zeros(0)))
            strip = strip_html(frames, hpi, None, size, quality=quality) if shown else ""
            probs = "".join(f"<td>{_bar(r[f'prob_{t}'])}</td>" for t in TASK_HEADERS)
            probs += "".join(f"<td>{_bar(r[c]) if c.startswith('prob') else html.escape(str(r[c] or '–'))}</td>"
                             for c in EXTRA_HEADERS if c in ranked)
            note = str(r.get("warnings", "") or "")
            note = f"<br><span class='muted' style='font-size:11.5px'>⚠ {html.escape(note)}</span>" if note and note != "nan" else ""
            rows.append(f"<tr><td rowspan='{2 if shown else 1}' style='vertical-align:top'><b style='font-size:18px'>"
                        f"{int(r['rank'])}</b></td><td style='text-align:left;white-space:normal'>"
                        f"<b>{html.escape(str(r['embryo_id']))}</b><br><span class='muted'>"
                        f"{html.escape(str(r.get('source', '')))}</span>{note}</td>{probs}</tr>"
                        + (f"<tr><td colspan='{1 + len(TASK_HEADERS) + sum(c in ranked for c in EXTRA_HEADERS)}' style='text-align:left'>{strip}</td></tr>" if shown else ""))
        head = "<th>rank</th><th style='text-align:left'>embryo</th>" + "".join(f"<th>{h}</th>" for h in TASK_HEADERS.values())
        head += "".join(f"<th>{h}</th>" for c, h in EXTRA_HEADERS.items() if c in ranked)
        body.append(f"<h2>Patient {html.escape(str(patient))} <span class='muted' style='font-size:14px'>"
                    f"{len(group)} embryo(s)</span></h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
                    "</tbody></table>")
    return page("aivf ranked cohort", "".join(body), f"{len(ranked)} embryos · {ranked['patient_id'].nunique()} patients"
                f" · {fmt(float(meta.get('seconds', float('nan'))), 1)} s")
