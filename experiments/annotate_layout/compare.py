"""How should ``aivf annotate`` put a frame into a clip? Per-frame phase accuracy of the layouts on simulated
embryos of a trained run's validation split (the choice is made there, never on its test split).

    python experiments/annotate_layout/compare.py outputs/s0 --embryos 20 --split val

Needs a run built by ``aivf run`` (its sim/videos with ``_phases.csv`` annotations, dataset/splits.json and
best/). Prints the per-frame argmax accuracy of four layouts, then for the two that ``aivf annotate``
offers, the accuracy after monotone decoding, within one phase, and the event-timing error in hours.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from aivf.annotate.decode import event_frames, monotone_viterbi
from aivf.annotate.predict import read_all_frames
from aivf.annotate.windows import frame_windows, own_slot
from aivf.config import load_config
from aivf.data import open_recording
from aivf.data.gomez import read_phases
from aivf.data.keyframes import grid_targets, nearest_frames
from aivf.eval.scoring import load_model


def log_probs(model, pixels, clips, hpi, clip_of, slot_of, batch=32) -> np.ndarray:
    """(T, P) log-probabilities of frame t read from clip ``clip_of[t]`` at slot ``slot_of[t]``."""
    out = []
    with torch.no_grad():
        for s in range(0, len(clips), batch):
            index = torch.from_numpy(clips[s:s + batch])
            phase = model(pixel_values=pixels[index.clamp(min=0)], keyframe_hpi=torch.from_numpy(hpi[s:s + batch]).float(),
                          keyframe_mask=index >= 0).phase_logits
            out.append(phase.float().log_softmax(-1))
    return torch.cat(out)[torch.from_numpy(clip_of), torch.from_numpy(slot_of)].numpy()


def several_per_clip(times, grid, tolerance, slots, parity: bool):
    """Training clips with several frames swapped in at once: the c-th frame of each slot (of one parity) in clip c."""
    base = nearest_frames(times, grid, tolerance)
    base_hpi = np.where(base >= 0, times[np.clip(base, 0, None)], grid)
    rank = np.array([np.sum(slots[:t] == slots[t]) for t in range(len(times))])
    clip_of = rank * 2 + slots % 2 if parity else rank
    clips = np.repeat(base[None], clip_of.max() + 1, 0)
    hpi = np.repeat(base_hpi[None], clip_of.max() + 1, 0)
    clips[clip_of, slots], hpi[clip_of, slots] = np.arange(len(times)), times
    return clips, hpi, clip_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--embryos", type=int, default=20)
    parser.add_argument("--split", default="val")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ids = json.loads((args.run / "dataset" / "splits.json").read_text())["kfold"]["0"][args.split]["embryo_ids"]
    pick = sorted(np.random.default_rng(args.seed).choice(ids, args.embryos, replace=False))
    cfg = load_config(args.run / "best" / "config.yaml")
    model = load_model(args.run / "best")
    kc, loader = cfg.data.keyframes, cfg.dataset.loader
    grid = grid_targets(kc)
    hits: dict[str, list] = {}
    timing: dict[str, list] = {}
    for embryo in pick:
        with open_recording(args.run / "sim" / "videos" / f"{embryo}.mp4", cfg.data) as rec:
            frames = read_all_frames(rec, model.config.image_size, kc.crop_fraction, progress=False,
                                     crop_centre=kc.crop_centre)
            times = rec.times_hpi
        truth = read_phases(args.run / "sim" / "videos" / f"{embryo}_phases.csv", np.arange(1, len(times) + 1))
        labelled = truth >= 0
        pixels = torch.from_numpy(frames[:, : model.config.num_channels]).float().div(255).sub(loader.pixel_mean).div(loader.pixel_std)
        slots = own_slot(times, grid)
        for layout in ("swap", "shifted"):
            w = frame_windows(times, grid, kc.tolerance_h, layout)
            lp = log_probs(model, pixels, w.indices, w.hpi, w.clip_of_frame, w.slot_of_frame)
            decoded = monotone_viterbi(lp)
            hits.setdefault(f"{layout}: argmax", []).extend((lp.argmax(1) == truth)[labelled])
            hits.setdefault(f"{layout}: decoded", []).extend((decoded == truth)[labelled])
            hits.setdefault(f"{layout}: decoded within one phase", []).extend((abs(decoded - truth) <= 1)[labelled])
            seen = event_frames(truth[labelled])
            first_truth = {p: np.flatnonzero(labelled)[i] for p, i in seen.items()}
            for phase, frame in event_frames(decoded).items():
                if phase in first_truth:
                    timing.setdefault(layout, []).append(abs(times[frame] - times[first_truth[phase]]))
        for parity in (False, True):
            clips, hpi, clip_of = several_per_clip(times, grid, kc.tolerance_h, slots, parity)
            lp = log_probs(model, pixels, clips, hpi, clip_of, slots)
            name = "several frames per clip, every other slot: argmax" if parity else "one frame per slot in each clip: argmax"
            hits.setdefault(name, []).extend((lp.argmax(1) == truth)[labelled])
    print(f"{args.run} {args.split} split, {len(pick)} embryos, {len(hits['swap: argmax'])} labelled frames")
    for name, values in hits.items():
        print(f"  {name}: {np.mean(values):.3f}")
    for layout, errors in timing.items():
        print(f"  {layout}: event timing |error| median {np.median(errors):.1f} h, mean {np.mean(errors):.1f} h "
              f"({len(errors)} events)")


if __name__ == "__main__":
    main()
