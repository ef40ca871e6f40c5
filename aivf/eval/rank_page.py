"""The ranked-cohort HTML page of ``aivf rank``: one table per patient, keyframe thumbnails per embryo."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from aivf.eval.report import fmt, strip_html
from aivf.eval.templates.page import SIMULATED_BANNER, page

TASK_HEADERS = {"d3_fhb": "P(FHB | day-3 transfer)", "d5_fhb": "P(FHB | day-5 transfer)", "euploid": "P(euploid)"}


def _bar(p: float) -> str:
    """A probability as a number with a small horizontal bar."""
    if p is None or np.isnan(p):
        return "–"
    return (f"<div style='display:flex;align-items:center;gap:6px;justify-content:flex-end'>{p:.3f}"
            f"<div style='width:70px;height:8px;background:#e4e7eb;border-radius:4px'>"
            f"<div style='width:{70 * p:.0f}px;height:8px;background:#2f6fdd;border-radius:4px'></div></div></div>")


def render_ranking(ranked: pd.DataFrame, thumbs: dict[str, tuple[np.ndarray, np.ndarray]], meta: dict,
                   rank_by: str = "d5_fhb", size: int = 96) -> str:
    """The page.

    Args:
        ranked: one row per embryo: ``patient_id``, ``rank``, ``embryo_id``, ``prob_<task>``, ``source``.
        thumbs: embryo_id -> (frames uint8 (n, H, W), hpi (n,)) to show.
        meta: ``checkpoint``, ``input``, ``calibration`` (a sentence), ``speed`` (a sentence), ``skipped`` (list).
        rank_by: the task whose probability orders each cohort.
    """
    body = [SIMULATED_BANNER]
    facts = [("checkpoint", meta.get("checkpoint", "")), ("input", meta.get("input", "")),
             ("ordering", f"within each patient by {TASK_HEADERS[rank_by]}"),
             ("calibration", meta.get("calibration", "")), ("speed", meta.get("speed", ""))]
    body.append("<table>" + "".join(f"<tr><th style='width:140px'>{k}</th><td style='text-align:left;white-space:normal'>"
                                    f"{html.escape(str(v))}</td></tr>" for k, v in facts) + "</table>")
    if meta.get("skipped"):
        items = "".join(f"<li>{html.escape(s)}</li>" for s in meta["skipped"])
        body.append(f"<h3>Not ranked ({len(meta['skipped'])})</h3><ul class='notes'>{items}</ul>")
    for patient, group in ranked.groupby("patient_id", sort=True):
        rows = []
        for _, r in group.sort_values("rank").iterrows():
            frames, hpi = thumbs.get(r["embryo_id"], (np.zeros((0, 1, 1), np.uint8), np.zeros(0)))
            strip = strip_html(frames, hpi, None, size) if len(frames) else "<span class='muted'>no frames</span>"
            probs = "".join(f"<td>{_bar(r[f'prob_{t}'])}</td>" for t in TASK_HEADERS)
            note = str(r.get("warnings", "") or "")
            note = f"<br><span class='muted' style='font-size:11.5px'>⚠ {html.escape(note)}</span>" if note and note != "nan" else ""
            rows.append(f"<tr><td rowspan='2' style='vertical-align:top'><b style='font-size:18px'>{int(r['rank'])}</b></td>"
                        f"<td style='text-align:left;white-space:normal'><b>{html.escape(str(r['embryo_id']))}</b><br>"
                        f"<span class='muted'>{html.escape(str(r.get('source', '')))}</span>{note}</td>{probs}</tr>"
                        f"<tr><td colspan='4' style='text-align:left'>{strip}</td></tr>")
        head = "<th>rank</th><th style='text-align:left'>embryo</th>" + "".join(f"<th>{h}</th>" for h in TASK_HEADERS.values())
        body.append(f"<h2>Patient {html.escape(str(patient))} <span class='muted' style='font-size:14px'>"
                    f"{len(group)} embryo(s)</span></h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}"
                    "</tbody></table>")
    return page("aivf ranked cohort", "".join(body), f"{len(ranked)} embryos · {ranked['patient_id'].nunique()} patients"
                f" · {fmt(float(meta.get('seconds', float('nan'))), 1)} s")
