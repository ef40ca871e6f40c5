"""A picture anyone can judge: a simulated embryo's development beside a real one's.

Row 1: the simulated embryo at fixed hpi. Row 2: frames of the longest real Gomez video in
``real_sample_dir`` at about the same time (the sample has no time files, so frame k is placed
at k x 0.25 h, an approximation: real intervals are 0.15-0.25 h). Columns past the end of the real
video show a real STORK day-5 blastocyst when ``../stork_sample`` is present, else stay blank.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from aivf.sim.config import ImagingConfig
from aivf.sim.render import render_embryo
from aivf.sim.types import EmbryoTruth

SHEET_HPI: tuple[float, ...] = (2, 10, 20, 30, 40, 55, 70, 90, 105, 115)
REAL_INTERVAL_H = 0.25  # assumed hours per frame of the real sample (no time files are shipped)
TILE = 192  # tile side in the sheet, pixels
LABEL_W, HEADER_H = 110, 22


def resolve_sample_dir(path: str | Path) -> Path | None:
    """The real sample folder: as given, else relative to the checkout (for runs from elsewhere)."""
    path = Path(path)
    candidates = [path] if path.is_absolute() else [path, Path(__file__).resolve().parents[2] / path]
    return next((c for c in candidates if c.is_dir()), None)


def _real_frames(sample_dir: Path) -> list[Path]:
    """JPEGs of the real video with the most frames, ordered by RUN number."""
    best: list[Path] = []
    for video in sorted(p for p in sample_dir.iterdir() if p.is_dir()):
        runs = [(int(m.group(1)), f) for f in video.glob("*.jpeg") if (m := re.search(r"_RUN(\d+)\.jpe?g$", f.name))]
        if len(runs) > len(best):
            best = [f for _, f in sorted(runs)]
    return best


def _tile(image: Image.Image | np.ndarray) -> Image.Image:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    return image.convert("L").resize((TILE, TILE), Image.BILINEAR)


def write_contact_sheet(path: str | Path, truth: EmbryoTruth, imaging: ImagingConfig,
                        real_sample_dir: str | Path | None = None, hpi: tuple[float, ...] = SHEET_HPI) -> Path:
    """Write the two-row contact sheet PNG and return its path.

    Args:
        path: output PNG.
        truth: the simulated embryo to show (one that reaches the blastocyst stage is most telling).
        imaging: its clinic's imaging settings (only the central plane is shown).
        real_sample_dir: folder of real Gomez videos; the real row is replaced by a note if absent.
        hpi: the times of the columns.
    """
    times = np.array([min(h, min(imaging.end_hpi, truth.recording_end_hpi)) for h in hpi], dtype=np.float64)
    simulated = render_embryo(truth, imaging, times)[:, 0]  # (K, H, W)
    sample = resolve_sample_dir(real_sample_dir) if real_sample_dir else None
    real = _real_frames(sample) if sample else []
    stork = sorted((sample.parent / "stork_sample").glob("train/good/*_0_*.jpg")) if sample else []
    sheet = Image.new("L", (LABEL_W + TILE * len(hpi), HEADER_H + 2 * TILE + HEADER_H), 255)
    draw = ImageDraw.Draw(sheet)
    for col, (h, frame) in enumerate(zip(hpi, simulated)):
        x = LABEL_W + col * TILE
        draw.text((x + 6, 5), f"{h:g} hpi", fill=0)
        sheet.paste(_tile(frame), (x, HEADER_H))
        stage = truth.stage_at(float(times[col]))
        draw.text((x + 4, HEADER_H + 4), "sim", fill=255)
        draw.text((x + 4, HEADER_H + TILE - 14), f"stage {stage}", fill=255)
        index = int(round(h / REAL_INTERVAL_H)) - 1
        if 0 <= index < len(real):
            sheet.paste(_tile(Image.open(real[index])), (x, HEADER_H + TILE))
            draw.text((x + 4, HEADER_H + TILE + 4), f"RUN{index + 1}", fill=255)
        elif stork:
            sheet.paste(_tile(Image.open(stork[col % len(stork)])), (x, HEADER_H + TILE))
            draw.text((x + 4, HEADER_H + TILE + 4), "STORK day 5", fill=255)
    draw.text((6, HEADER_H + TILE // 2), f"simulated\n{truth.embryo_id}", fill=0)
    if real:
        draw.text((6, HEADER_H + TILE + TILE // 2), f"real (Gomez)\n{real[0].parent.name}\nframe~hpi/{REAL_INTERVAL_H}",
                  fill=0)
    else:
        draw.text((6, HEADER_H + TILE + TILE // 2), "real sample\nnot found", fill=0)
    draw.text((6, HEADER_H + 2 * TILE + 5), "Simulated (top) vs real EmbryoScope frames (bottom); real times are "
              "approximate (frame index x 0.25 h). stage = index into EVENTS.", fill=0)
    path = Path(path)
    sheet.save(path)
    return path
