"""The files ``aivf annotate`` writes per recording: Gomez ``_phases.csv``, events in hpi, a strip picture.

- ``<video>_phases.csv``: no header, ``phase,first frame,last frame`` (inclusive), exactly the format of
  the Gomez dataset's ``embryo_dataset_annotations`` (formats.md section 1). Frame numbers are the RUN
  numbers for JPEG-per-run recordings (Gomez, EmbryoScope, ``.pdb``) and ``frame index + 1`` for videos,
  as the simulator's annotations; the rows tile every frame with no gap.
- ``<video>_events.csv``: header ``event,frame,time_hpi``: each phase's first frame, i.e. when its event
  (tPB2 ... tHB) is first seen; ``time_hpi`` only where the recording has a time file (without one the
  reader's constant-interval times are a guess, so no time is written).
- ``<video>_phases.png``: frames spread over the recording above two bands, the decoded phases and the
  per-frame argmax (which is allowed to flicker), one colour per phase.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from aivf.annotate.decode import event_frames, phase_rows

# 16 distinct colours, dark to light along development so the band reads as a progression.
PALETTE = [(68, 1, 84), (72, 26, 108), (71, 47, 125), (65, 68, 135), (57, 86, 140), (49, 104, 142),
           (42, 120, 142), (35, 136, 142), (31, 152, 139), (34, 168, 132), (53, 183, 121), (84, 197, 104),
           (122, 209, 81), (165, 219, 54), (210, 226, 27), (253, 231, 37)]


def frame_numbers(recording) -> np.ndarray:
    """int64 (T,) the numbers the annotation uses: RUN numbers where the reader has them, else index + 1."""
    runs = getattr(recording, "runs", None)
    return np.asarray(runs, dtype=np.int64) if runs is not None else np.arange(1, len(recording) + 1)


# Reader defects after which the times are not hours post insemination: a constant-interval guess, or
# hours since a .pdb slide's first image (aivf.data.pdb)
NOT_HPI = ("constant_interval", "relative_time")


def has_time_file(recording) -> bool:
    """False when the recording's times are not real hpi (see ``NOT_HPI``)."""
    return not any(d["kind"] in NOT_HPI for d in recording.meta.get("defects", []))


def write_phases_csv(path: Path, rows: list[tuple[str, int, int]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_events_csv(path: Path, decoded: np.ndarray, numbers: np.ndarray, names, times_hpi: np.ndarray | None) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event", "frame", "time_hpi"] if times_hpi is not None else ["event", "frame"])
        for phase, first in event_frames(decoded).items():
            row = [names[phase], int(numbers[first])]
            writer.writerow(row + [f"{times_hpi[first]:.2f}"] if times_hpi is not None else row)
    return path


def strip_picture(thumbnails: np.ndarray, decoded: np.ndarray, argmax: np.ndarray, times_hpi: np.ndarray | None,
                  names, title: str, columns: int = 8, thumb: int = 96) -> Image.Image:
    """RGB picture: ``columns`` frames over the recording, then the decoded and the argmax phase bands.

    Args:
        thumbnails: uint8 (T, S, S) frames; decoded, argmax: int (T,) phase per frame; times_hpi: (T,) or None.
    """
    count = len(decoded)
    width = columns * thumb
    band, label_h = 28, 14
    image = Image.new("RGB", (width, 16 + thumb + 3 * label_h + 2 * band + 6), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.text((4, 2), title, fill=(0, 0, 0))
    picks = np.linspace(0, count - 1, min(columns, count)).round().astype(int)
    for c, t in enumerate(picks):
        tile = Image.fromarray(thumbnails[t]).convert("RGB").resize((thumb - 4, thumb - 4))
        image.paste(tile, (c * thumb + 2, 16))
        when = f"{times_hpi[t]:.0f} h" if times_hpi is not None else f"#{t + 1}"
        draw.text((c * thumb + 4, 16 + thumb), f"{when} {names[decoded[t]]}", fill=(0, 0, 0))
    top = 16 + thumb + label_h + 4
    for row, (path, label) in enumerate(((decoded, "decoded (monotone)"), (argmax, "per-frame argmax"))):
        y = top + row * (band + label_h)
        edges = np.linspace(0, width, count + 1).round().astype(int)
        for t in range(count):
            draw.rectangle([edges[t], y, max(edges[t + 1] - 1, edges[t]), y + band - 1], fill=PALETTE[path[t] % 16])
        if row == 0:  # name each decoded phase where its segment starts
            for phase, first in event_frames(path).items():
                draw.text((edges[first] + 2, y + 8), names[phase], fill=(255, 255, 255) if phase < 10 else (0, 0, 0))
        draw.text((4, y + band), label, fill=(0, 0, 0))
    return image


def write_annotation(out_dir: Path, video: str, recording, decoded: np.ndarray, log_probs: np.ndarray,
                     thumbnails: np.ndarray, names) -> dict[str, Path]:
    """Write the three files of one recording into ``out_dir``; returns their paths by kind."""
    out_dir.mkdir(parents=True, exist_ok=True)
    numbers = frame_numbers(recording)
    times = recording.times_hpi if has_time_file(recording) else None
    paths = {"phases": write_phases_csv(out_dir / f"{video}_phases.csv", phase_rows(decoded, numbers, names)),
             "events": write_events_csv(out_dir / f"{video}_events.csv", decoded, numbers, names, times)}
    title = f"{video}: {len(decoded)} frames, phases predicted per frame and decoded in order"
    picture = strip_picture(thumbnails, decoded, log_probs.argmax(1), times, names, title)
    paths["strip"] = out_dir / f"{video}_phases.png"
    picture.save(paths["strip"])
    return paths
