"""How close simulated frames are to real EmbryoScope frames: the same statistics on both, side by side.

    python -m aivf.sim.realism [--real ../shared/data/gomez_sample] [--size 256] [--no-write]

prints a table (real Gomez sample frames vs simulated frames at the same size) and writes it into
docs/simulator.md between the ``realism:begin`` / ``realism:end`` markers. Every statistic is
computed by the same code on both sides; the embryo is located by its texture, not by the renderer's
own geometry, so the estimator is as wrong on simulated frames as on real ones.

It also reports how well per-recording imaging statistics (mean grey, noise, blur) identify the
clinic of a simulated recording (a cross-validated logistic regression; chance = 1 / clinics).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import convolve, gaussian_filter, sobel

from aivf.data.locate import EmbryoLocator, dish_shift

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "simulator.md"
BEGIN, END = "<!-- realism:begin -->", "<!-- realism:end -->"
REAL_INTERVAL_H = 0.25  # the Gomez sample has no time files: frame k is taken as k x 0.25 h
EDGE_THRESHOLD = 40.0  # Sobel magnitude (grey levels, 3x3 kernel) above which a pixel counts as an edge
IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


# ----------------------------------------------------------------------------------------------------
# statistics of one frame (uint8 or float, H x W, grey levels 0-255)


def immerkaer_sigma(image: np.ndarray) -> float:
    """Immerkaer's (1996) fast noise estimate: mean |Laplacian difference| x sqrt(pi/2) / 6."""
    response = convolve(image.astype(np.float32), IMMERKAER, mode="reflect")[1:-1, 1:-1]
    return float(math.sqrt(math.pi / 2) * np.abs(response).mean() / 6.0)


def edge_density(image: np.ndarray) -> float:
    """Share of pixels whose Sobel gradient magnitude exceeds ``EDGE_THRESHOLD`` grey levels."""
    image = image.astype(np.float32)
    return float((np.hypot(sobel(image, 0), sobel(image, 1)) > EDGE_THRESHOLD).mean())


def vignetting(image: np.ndarray) -> float:
    """Mean grey of the four corner squares (side / 8) over the mean of the central square (side / 4)."""
    n = image.shape[0]
    c, q = n // 8, n // 4
    corners = np.concatenate([image[:c, :c], image[:c, -c:], image[-c:, :c], image[-c:, -c:]], axis=None)
    centre = image[n // 2 - q // 2: n // 2 + q // 2, n // 2 - q // 2: n // 2 + q // 2]
    return float(corners.mean() / max(centre.mean(), 1e-6))


GEOMETRY_SIZE = 128  # the embryo is located on frames resized to this side


@functools.lru_cache(maxsize=1)
def _locator() -> EmbryoLocator:
    return EmbryoLocator(GEOMETRY_SIZE, radius_step=0.005)


def embryo_geometry(image: np.ndarray) -> tuple[float, float, float]:
    """(x, y, radius) of the embryo's zona as fractions of the frame side, found from the edges alone
    by the same search the keyframe crop uses (:class:`aivf.data.locate.EmbryoLocator`)."""
    x, y, radius = _locator().locate(np.asarray(image)[None])[0]
    return float(x), float(y), float(radius)


def shift_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(dx, dy) in frame sides that moves frame ``a``'s content onto ``b``'s (:func:`aivf.data.locate.dish_shift`)."""
    return dish_shift(a, np.asarray(b)[None])[0]


@dataclass
class Recording:
    """Frames of one recording for the statistics: a few per-frame samples plus a track for the drift."""

    frames: list[np.ndarray]  # frames spread over the recording (per-frame statistics)
    track: list[np.ndarray]  # frames at regular times (embryo-centre tracking)
    track_hours: np.ndarray  # hpi of the track frames


STATS: tuple[tuple[str, str], ...] = (
    ("mean_grey", "mean grey"),
    ("p5", "5th percentile"),
    ("noise", "noise (Immerkaer sigma)"),
    ("edges", f"edge density (Sobel > {EDGE_THRESHOLD:g})"),
    ("zona", "zona radius / frame"),
    ("offcentre", "off-centre spread (RMS / frame)"),
    ("drift", "drift per day / frame"),
    ("vignetting", "vignetting (corner / centre)"),
)


def statistics(recordings: list[Recording]) -> dict[str, float]:
    """The table's statistics over a set of recordings (means over frames; spreads over recordings)."""
    frames = [f for rec in recordings for f in rec.frames]
    out = {
        "mean_grey": float(np.mean([f.mean() for f in frames])),
        "p5": float(np.mean([np.percentile(f, 5) for f in frames])),
        "noise": float(np.mean([immerkaer_sigma(f) for f in frames])),
        "edges": float(np.mean([edge_density(f) for f in frames])),
        "zona": float(np.median([embryo_geometry(f)[2] for f in frames])),
        "vignetting": float(np.mean([vignetting(f) for f in frames])),
    }
    from scipy.stats import theilslopes

    offsets, drifts = [], []
    for rec in recordings:
        centres = np.array([embryo_geometry(f)[:2] for f in rec.track])
        offsets.append(np.hypot(*(np.median(centres, axis=0) - 0.5)))
        if len(rec.track) >= 3 and np.ptp(rec.track_hours) > 0:  # robust slope of the dish's displacement
            moved = np.array([shift_between(rec.track[0], f) for f in rec.track])
            days = rec.track_hours / 24.0
            drifts.append(float(np.hypot(*(theilslopes(moved[:, k], days)[0] for k in (0, 1)))))
    out["offcentre"] = float(np.sqrt(np.mean(np.square(offsets))))
    out["drift"] = float(np.median(drifts)) if drifts else float("nan")
    return out


# ----------------------------------------------------------------------------------------------------
# the two sources


def real_recordings(sample_dir: Path, size: int, per_video: int = 8, track: int = 12) -> list[Recording]:
    """The Gomez sample videos (central plane), resized to ``size``; frames up to day 3 for the track
    (later the embryo's own growth and hatching move its texture centre)."""
    from aivf.data.gomez import scan_runs
    from aivf.data.record import load_gray

    recordings = []
    for video in sorted(p for p in sample_dir.iterdir() if p.is_dir()):
        runs = scan_runs(video).get("F0", {})
        if len(runs) < per_video:
            continue
        keys = sorted(runs)
        pick = [keys[int(i)] for i in np.linspace(0, len(keys) - 1, per_video)]
        last = min(len(keys) - 1, int(66 / REAL_INTERVAL_H))
        tracked = [keys[int(i)] for i in np.linspace(0, last, track)]
        recordings.append(Recording(
            frames=[load_gray(runs[k], (size, size)) for k in pick],
            track=[load_gray(runs[k], (size, size)) for k in tracked],
            track_hours=np.array([k * REAL_INTERVAL_H for k in tracked], float),
        ))
    if not recordings:
        raise SystemExit(f"{sample_dir}: no Gomez video folders (*_RUN<k>.jpeg) found; pass --real")
    return recordings


def simulated_recordings(size: int, count: int = 12, seed: int = 0, per_video: int = 8,
                         track: int = 12) -> list[Recording]:
    """Sampled embryos of a 3-clinic cohort, each rendered with its clinic's imaging at ``size``."""
    from aivf.sim.cohort import sample_cohort
    from aivf.sim.config import SimConfig
    from aivf.sim.render import EmbryoRenderer

    cohort = sample_cohort(SimConfig(num_patients=max(count // 2, 4), num_clinics=3), seed=seed)
    recordings = []
    for truth in cohort.embryos[:count]:
        imaging = dataclasses.replace(cohort.clinics[truth.clinic].imaging, image_size=size)
        renderer = EmbryoRenderer(truth, imaging)
        end = float(renderer.times[-1])
        frames = renderer.render(np.linspace(2.0, end, per_video))[:, 0]
        hours = np.linspace(2.0, min(end, 66.0), track)
        recordings.append(Recording(list(frames), list(renderer.render(hours)[:, 0]), hours))
    return recordings


# ----------------------------------------------------------------------------------------------------
# does a recording's imaging style give its clinic away?


def style_features(frames: np.ndarray) -> np.ndarray:
    """Per-recording (mean grey, noise sigma, blur) from a few frames; blur = low/high-frequency ratio."""
    feats = []
    for f in frames.astype(np.float32):
        high = np.abs(f - gaussian_filter(f, 1.0)).mean()
        feats.append((f.mean(), immerkaer_sigma(f), np.abs(f - gaussian_filter(f, 3.0)).mean() / (high + 1e-6)))
    return np.mean(feats, axis=0)


def clinic_identifiability(num_patients: int = 60, size: int = 96, seed: int = 0,
                           recording_variation: float = 1.0) -> tuple[float, float, int]:
    """(cross-validated accuracy, chance, recordings) of a logistic regression predicting the clinic
    from ``style_features`` of each simulated recording (3 clinics, 4 frames each)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from aivf.sim.cohort import sample_cohort
    from aivf.sim.config import SimConfig
    from aivf.sim.render import EmbryoRenderer

    cohort = sample_cohort(SimConfig(num_patients=num_patients, num_clinics=3), seed=seed)
    x, y = [], []
    for truth in cohort.embryos:
        imaging = dataclasses.replace(cohort.clinics[truth.clinic].imaging, image_size=size,
                                      recording_variation=recording_variation)
        frames = EmbryoRenderer(truth, imaging).render(np.array([5.0, 20.0, 40.0, 60.0]))[:, 0]
        x.append(style_features(frames))
        y.append(truth.clinic)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    accuracy = cross_val_score(model, np.array(x), np.array(y), cv=5).mean()
    return float(accuracy), 1.0 / len(set(y)), len(y)


# ----------------------------------------------------------------------------------------------------
# the table


def deviation(key: str, real: dict[str, float], sim: dict[str, float]) -> float:
    """Relative deviation |sim - real| / real; the 5th percentile (0 on real frames) relative to the real mean grey."""
    scale = real["mean_grey"] if key == "p5" else abs(real[key])
    return abs(sim[key] - real[key]) / scale if scale else float("inf")


def format_table(real: dict[str, float], sim: dict[str, float], size: int, n_real: int, n_sim: int) -> str:
    lines = [f"| statistic ({size} px) | real Gomez ({n_real} videos) | simulated ({n_sim} embryos) | deviation |",
             "|---|---|---|---|"]
    for key, label in STATS:
        dev = deviation(key, real, sim)
        flag = "" if dev <= 0.2 else " **> 20%**"
        lines.append(f"| {label} | {real[key]:.4g} | {sim[key]:.4g} | {100 * dev:.0f}%{flag} |")
    lines.append("")
    lines.append("deviation = |sim - real| / real (5th percentile: / real mean grey, since it is 0 on real frames).")
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    """Replace the marked realism section of ``doc`` with ``text`` (appended if the markers are absent)."""
    body = doc.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in body and END in body:
        body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", default=str(ROOT.parent / "shared" / "data" / "gomez_sample"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--embryos", type=int, default=12)
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/simulator.md alone")
    parser.add_argument("--no-clinic", action="store_true", help="skip the clinic-identifiability measure")
    args = parser.parse_args(argv)
    real_dir = Path(args.real)
    if not real_dir.is_dir():
        raise SystemExit(f"{real_dir}: real sample folder not found; pass --real <folder of Gomez videos>")
    real = real_recordings(real_dir, args.size)
    sim = simulated_recordings(args.size, args.embryos)
    text = format_table(statistics(real), statistics(sim), args.size, len(real), len(sim))
    if not args.no_clinic:
        acc, chance, n = clinic_identifiability()
        flat, _, _ = clinic_identifiability(recording_variation=0.0)
        text += (f"\n\nClinic identifiability: a logistic regression on per-recording mean grey, noise and blur "
                 f"(96 px, 4 frames, {n} recordings, 5-fold CV) names the clinic with accuracy {acc:.2f} "
                 f"(chance {chance:.2f}; {flat:.2f} with `recording_variation=0`, i.e. every recording of a "
                 f"clinic imaged alike).")
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {DOC}")


if __name__ == "__main__":
    main()
