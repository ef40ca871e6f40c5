"""Ranked page and report strips stay small: one JPEG per strip, strips only for the top embryos of each patient."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
from PIL import Image

from aivf.eval.rank_page import render_ranking
from aivf.eval.report import strip_html, strip_uri

META = {"checkpoint": "ckpt", "input": "data", "calibration": "platt", "speed": "fast", "skipped": [], "seconds": 1.0}


def _frames(k: int = 8, side: int = 64, seed: int = 0) -> np.ndarray:
    """(k, side, side) uint8 embryo-like frames: a bright ring on grey plus sensor noise (noise is what costs bytes).

    Noise SD 9 makes an 8-tile strip ~7.3 kB, as measured on the simulator's real 64-px keyframes.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side] - side / 2
    ring = 90 + 80 * np.exp(-((np.hypot(yy, xx) - side / 3) ** 2) / 8)
    return np.clip(ring + rng.normal(0, 9, (k, side, side)), 0, 255).astype(np.uint8)


def _cohort(n_patients: int, per_patient: int, k: int = 8):
    rows, thumbs = [], {}
    for p in range(n_patients):
        for e in range(per_patient):
            eid = f"C1P{p:04d}-{e + 1}"
            rows.append({"patient_id": f"C1P{p:04d}", "rank": e + 1, "embryo_id": eid, "prob_d3_fhb": 0.3,
                         "prob_d5_fhb": 0.5, "prob_euploid": 0.6, "source": "dataset /data (kfold/0/test)"})
            thumbs[eid] = (_frames(k, seed=len(rows)), np.arange(k) * 15.0)
    return pd.DataFrame(rows), thumbs


def test_strip_is_one_small_jpeg_with_the_right_tiles():
    frames = _frames(6)
    uri = strip_uri(frames, px=48, quality=70)
    assert uri.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert img.format == "JPEG" and img.size == (6 * 48, 48)
    assert len(uri) < 6 * 1500  # the PNGs it replaces were ~3.5 kB each
    html = strip_html(frames, np.arange(6) * 10.0, np.linspace(-1, 1, 6), size=80)
    assert html.count("<img") == 1 and html.count("class='attr'") == 6 and "50 h" in html
    assert "width='480'" in html  # 6 tiles displayed at 80 px, stored at 64 (never upscaled in the file)
    assert strip_html(frames[:0], np.zeros(0)) == "<span class='muted'>no frames</span>"
    long = strip_html(_frames(14), np.arange(14.0), size=80, per_row=12)  # wraps instead of overflowing the page
    assert long.count("<img") == 2 and "width='960'" in long and "width='160'" in long


def test_ranked_page_bytes_per_embryo_are_bounded():
    ranked, thumbs = _cohort(n_patients=8, per_patient=6)
    every = render_ranking(ranked, thumbs, META, size=80, thumbnails_top=None).encode()
    top3 = render_ranking(ranked, thumbs, META, size=80, thumbnails_top=3).encode()
    assert every.count(b"data:image/jpeg") == 48 and top3.count(b"data:image/jpeg") == 8 * 3
    assert b"data:image/png" not in every
    assert len(every) / len(ranked) < 12_000  # 8 keyframes per embryo, all shown: was ~30 kB with PNGs
    assert len(top3) / len(ranked) < 6_000
    # ~500 embryos in ~80 patients, top-3 strips of 8 keyframes: ~2 MB (1.92 MB measured on a real 467-embryo run).
    assert len(top3) / 8 * 80 < 2_200_000


def test_ranked_page_size_grows_with_patients_not_embryos_per_patient():
    small, thumbs_small = _cohort(n_patients=4, per_patient=3)
    big, thumbs_big = _cohort(n_patients=4, per_patient=12)
    a = len(render_ranking(small, thumbs_small, META, thumbnails_top=3))
    b = len(render_ranking(big, thumbs_big, META, thumbnails_top=3))
    assert b < a * 1.6  # 4x the embryos, the same 12 strips: only table rows are added
    page = render_ranking(big, thumbs_big, META, thumbnails_top=0)
    assert "data:image" not in page and len(re.findall(r"<h2>", page)) == 4
