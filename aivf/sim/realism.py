"""How close simulated frames are to real EmbryoScope frames: the same statistics on both, side by side.

    python -m aivf.sim.realism [--real ../shared/data/gomez_sample] [--size 256] [--no-write]
    python -m aivf.sim.realism --stages [--embryos 30]   # per-stage texture inside the embryo, 64-px crop

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
STAGES_BEGIN, STAGES_END = "<!-- realism-stages:begin -->", "<!-- realism-stages:end -->"
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


def write_section(text: str, doc: Path = DOC, begin: str = BEGIN, end: str = END) -> None:
    """Replace the marked realism section of ``doc`` with ``text`` (appended if the markers are absent)."""
    body = doc.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in body and end in body:
        body = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, body, flags=re.S)
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
    parser.add_argument("--stages", action="store_true",
                        help="the per-stage texture table inside the embryo instead (64-px embryo-centred crop)")
    args = parser.parse_args(argv)
    real_dir = Path(args.real)
    if not real_dir.is_dir():
        raise SystemExit(f"{real_dir}: real sample folder not found; pass --real <folder of Gomez videos>")
    if args.stages:
        real = stage_statistics(real_stage_crops(real_dir))
        sim = stage_statistics(simulated_stage_crops(args.embryos))
        text = format_stage_table(real, sim)
        print(text)
        if not args.no_write:
            write_section(text, DOC, STAGES_BEGIN, STAGES_END)
            print(f"\nwritten to {DOC}")
        return
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


# ----------------------------------------------------------------------------------------------------
# per-stage texture inside the embryo, on the crop the phase model sees
#
# The whole-frame statistics above are dominated by the well and the background; they do not see whether
# a 2-cell embryo at the model's 64 px looks like a real one. These do: the embryo is cropped as the
# keyframe reader crops it (frame read at 64 / 0.6 px, a 64-px window around the tracked zona), and
# three texture measures are taken inside a disk of 0.75 x the zona radius (the cytoplasm, not the zona).

MODEL_SIDE = 64  # the phase model's input side (model.image_size of the main job)
READ_SIDE = int(round(MODEL_SIDE / 0.6))  # frames are read at this side before the crop (crop_fraction 0.6)
INSIDE = 0.75  # share of the zona radius whose disk counts as "inside the embryo"
BAND = (1.0, 4.0)  # difference-of-Gaussians band (px at 64 px): cell outlines and coarse granules
ACF_BAND = (1.0, 8.0)  # band of the blob-size measure: up to whole 8-cell blastomeres
STAGES = ("zygote", "2-cell", "4-cell", "8-cell", "9+ cells", "morula", "blastocyst")
# Simulator phases (aivf.data.PHASES indices) counted in each stage; t3, t5-t7, tSB and tHB are left out
# (in-between looks), so both sides compare the same unambiguous stages.
SIM_STAGE_PHASES = {"zygote": (0, 1, 2), "2-cell": (3,), "4-cell": (5,), "8-cell": (9,), "9+ cells": (10,),
                    "morula": (11,), "blastocyst": (13, 14)}
SIM_PHASE_STAGE = {p: stage for stage, phases in SIM_STAGE_PHASES.items() for p in phases}  # the inverse
# Stage windows of the three real Gomez sample videos, in RUN (frame) numbers, READ BY EYE from
# embryo-centred contact sheets of their F0 frames (2026-12-03; the sample has no phase labels). Only
# stretches where the stage is unambiguous are listed; transitions and unclear stretches are left out.
# AA83-7's 2-cell stage is uneven and fragmented; AAL839-6 cleaves straight to 3 cells (no 2-cell
# window), compacts from ~RUN 350 and starts to cavitate at the end (left out: too unclear).
REAL_STAGE_WINDOWS: dict[str, dict[str, tuple[int, int]]] = {
    "AA83-7": {"zygote": (1, 96), "2-cell": (106, 168), "4-cell": (178, 188), "8-cell": (200, 235),
               "9+ cells": (245, 285)},
    "AB028-6": {"zygote": (1, 120), "2-cell": (130, 176), "4-cell": (190, 240), "8-cell": (252, 291)},
    "AAL839-6": {"zygote": (1, 88), "4-cell": (140, 182), "8-cell": (195, 265), "9+ cells": (280, 340),
                 "morula": (355, 395)},
}
TEXTURE_STATS: tuple[tuple[str, str], ...] = (
    ("inside_grey", "mean grey inside"),
    ("contrast", f"band-pass contrast (std of DoG {BAND[0]:g}-{BAND[1]:g} px)"),
    ("gradient", "gradient energy (mean gradient, grey/px)"),
    ("acf_width", "blob size (autocorrelation half-width, px)"),
)


def inside_mask(side: int, centre: tuple[float, float], radius_px: float) -> np.ndarray:
    """bool (side, side): a disk of ``radius_px`` around ``centre`` (x, y in pixels)."""
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    return np.hypot(xx - centre[0], yy - centre[1]) < radius_px


def acf_width(image: np.ndarray, mask: np.ndarray) -> float:
    """Half-width (px) at which the radially averaged autocorrelation of the image inside ``mask`` falls to 0.5.

    The image is band-passed (``ACF_BAND``: the 1-px blur drops the sensor grain, the 8-px high-pass the
    illumination slope), so what is left is cells, their outlines and granules; the autocorrelation is
    normalised by the mask's own (pixel pairs per lag), so the mask's size does not shrink it. Larger,
    smoother cells give a wider autocorrelation.
    """
    image = image.astype(np.float64)
    image = gaussian_filter(image, ACF_BAND[0]) - gaussian_filter(image, ACF_BAND[1])
    w = mask.astype(np.float64)
    x = (image - image[mask].mean()) * w
    n = 2 * max(image.shape)
    spec_x, spec_w = np.fft.rfft2(x, s=(n, n)), np.fft.rfft2(w, s=(n, n))
    corr = np.fft.irfft2(np.abs(spec_x) ** 2, s=(n, n))
    pairs = np.fft.irfft2(np.abs(spec_w) ** 2, s=(n, n))
    corr = np.where(pairs > 0.05 * pairs[0, 0], corr / np.maximum(pairs, 1e-9), 0.0)
    yy, xx = np.mgrid[0:n, 0:n]
    lag = np.hypot(np.minimum(yy, n - yy), np.minimum(xx, n - xx))
    if corr[0, 0] <= 1e-12:  # no texture at all: no blobs
        return 0.0
    radii = np.arange(0, 16)
    profile = np.array([corr[(lag >= r - 0.5) & (lag < r + 0.5)].mean() for r in radii]) / corr[0, 0]
    below = np.nonzero(profile < 0.5)[0]
    if len(below) == 0:
        return float(radii[-1])
    k = below[0]  # linear interpolation between the last lag above 0.5 and the first below
    return float(k - 1 + (profile[k - 1] - 0.5) / (profile[k - 1] - profile[k]))


def texture_statistics(crop: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The per-stage texture measures of one embryo-centred crop (grey levels 0-255) inside ``mask``."""
    image = crop.astype(np.float32)
    band = gaussian_filter(image, BAND[0]) - gaussian_filter(image, BAND[1])
    grad_y, grad_x = np.gradient(image)
    return {"inside_grey": float(image[mask].mean()), "contrast": float(band[mask].std()),
            "gradient": float(np.hypot(grad_x, grad_y)[mask].mean()), "acf_width": acf_width(image, mask)}


def embryo_crops(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A recording's frames (T, H, W) read at ``READ_SIDE`` -> (crops (T, 64, 64), masks (T, 64, 64) bool):
    cut around the tracked zona exactly as ``aivf.data.record.crop_frames(..., "embryo")`` does."""
    from aivf.data.locate import RESTING_ZONA_MAX, crop_around, shared_locator, track_embryo, window_corner

    locator = shared_locator()
    centres = track_embryo(frames, locator)
    radius = float(np.median(locator.locate(frames[:3], max_radius=RESTING_ZONA_MAX)[:, 2]))
    crops = crop_around(frames[:, None], centres, MODEL_SIDE)[:, 0]
    h, w = frames.shape[-2:]
    masks = []
    for x, y in centres:
        top, left = window_corner(x, y, h, w, MODEL_SIDE)
        masks.append(inside_mask(MODEL_SIDE, (x * w - left, y * h - top), INSIDE * radius * h))
    return crops, np.stack(masks)


def real_stage_crops(sample_dir: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(crop, mask) pairs per stage from the real Gomez sample videos, in the eye-read windows."""
    from aivf.data import open_recording

    out: dict[str, list] = {stage: [] for stage in STAGES}
    for video, windows in REAL_STAGE_WINDOWS.items():
        if not (sample_dir / video).is_dir():
            continue
        with open_recording(sample_dir / video) as rec:
            frames = rec.read(np.arange(len(rec)), READ_SIDE)[:, 0]
            runs = np.asarray(rec.runs)
        crops, masks = embryo_crops(frames)
        for stage, (first, last) in windows.items():
            for i in np.nonzero((runs >= first) & (runs <= last))[0]:
                out[stage].append((crops[i], masks[i]))
    return out


def simulated_stage_crops(count: int = 12, seed: int = 0, imaging_overrides: dict | None = None,
                          workdir: Path | None = None) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(crop, mask) pairs per stage from simulated recordings with the main job's imaging (96 px, hourly),
    written to MP4 and read back as ``aivf build`` reads them, staged by the simulator's own phase truth."""
    import tempfile

    from aivf.data import open_recording
    from aivf.sim.cohort import sample_cohort
    from aivf.sim.config import SimConfig
    from aivf.sim.render import EmbryoRenderer
    from aivf.sim.writers import write_mp4_recording

    cohort = sample_cohort(SimConfig(num_patients=max(count, 4), num_clinics=3), seed=seed)
    out: dict[str, list] = {stage: [] for stage in STAGES}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for k, truth in enumerate(cohort.embryos[:count]):
            imaging = dataclasses.replace(cohort.clinics[truth.clinic].imaging,
                                          **{"image_size": 96, "frame_interval_h": 1.0, **(imaging_overrides or {})})
            renderer = EmbryoRenderer(truth, imaging)
            path = write_mp4_recording(tmp, f"e{k}", renderer.render()[:, :1], renderer.times)
            with open_recording(Path(tmp) / path) as rec:
                frames = rec.read(np.arange(len(rec)), READ_SIDE)[:, 0]
            crops, masks = embryo_crops(frames)
            for i, hpi in enumerate(renderer.times):
                stage = SIM_PHASE_STAGE.get(truth.stage_at(float(hpi)))
                if stage is not None:
                    out[stage].append((crops[i], masks[i]))
    return out


def stage_statistics(pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> dict[str, dict[str, float]]:
    """Per stage: the mean of each texture measure over its frames, plus the frame count ``n``."""
    out = {}
    for stage, items in pairs.items():
        if items:
            rows = [texture_statistics(crop, mask) for crop, mask in items]
            out[stage] = {key: float(np.mean([r[key] for r in rows])) for key, _ in TEXTURE_STATS}
            out[stage]["n"] = len(items)
    return out


def format_stage_table(real: dict[str, dict[str, float]], sim: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per stage, real / simulated for each measure."""
    head = " | ".join(f"{label}: real / sim" for _, label in TEXTURE_STATS)
    lines = [f"| stage | frames real / sim | {head} |", "|---" * (2 + len(TEXTURE_STATS)) + "|"]
    for stage in STAGES:
        r, s = real.get(stage), sim.get(stage)
        if r is None and s is None:
            continue
        cells = [f"{r['n'] if r else 0} / {s['n'] if s else 0}"]
        for key, _ in TEXTURE_STATS:
            cells.append(f"{r[key]:.3g} / {s[key]:.3g}" if r and s else
                         (f"{r[key]:.3g} / -" if r else f"- / {s[key]:.3g}"))
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
