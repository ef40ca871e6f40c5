"""Does a phase model read the pixels of a frame, or only the keyframe slot it sits in?

    python experiments/sim_to_real/constant_clip.py outputs/s2r --real ../shared/data/gomez_sample

For frames of each eye-read stage window of the real samples (``aivf.sim.realism.REAL_STAGE_WINDOWS``) and of
simulated held-out recordings of the run (staged by the simulator's truth), a clip is built whose 16 slots
all hold the same frame, at the run's keyframe hours. The slot (position) then says nothing about the frame,
so a change of the call with the stage at a fixed slot can only come from the pixels. Prints, per stage and
for a few slots, the mean predicted phase index (0 = tPB2 ... 15 = tHB), real vs simulated.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np


def constant_clip_phases(model, frames: np.ndarray, hpi: np.ndarray, mean: float, std: float) -> np.ndarray:
    """(N, C, H, W) uint8 frames -> (N, K, P) phase probabilities at each of the K slots of a constant clip."""
    import torch

    k = len(hpi)
    pixels = torch.from_numpy(frames).float().div_(255.0).sub_(mean).div_(std)  # (N, C, H, W)
    out = []
    with torch.no_grad():
        for start in range(0, len(pixels), 16):
            batch = pixels[start:start + 16]
            clip = batch[:, None].expand(-1, k, -1, -1, -1)  # (B, K, C, H, W): the same frame in every slot
            times = torch.from_numpy(np.tile(hpi, (len(batch), 1))).float()
            logits = model(pixel_values=clip, keyframe_hpi=times, keyframe_mask=torch.ones(len(batch), k, dtype=torch.bool))
            out.append(logits.phase_logits.float().softmax(-1))
    return torch.cat(out).numpy()


def main() -> None:
    from aivf.annotate.predict import read_all_frames
    from aivf.config import load_config
    from aivf.data import open_recording
    from aivf.data.gomez import read_phases
    from aivf.data.keyframes import grid_targets
    from aivf.eval.scoring import load_model, resolve_checkpoint
    from aivf.sim import realism as R

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--embryos", type=int, default=12)
    args = parser.parse_args()
    ckpt = resolve_checkpoint(args.run)
    cfg = load_config(ckpt / "config.yaml")
    model = load_model(ckpt).eval()
    kf, loader = cfg.data.keyframes, cfg.dataset.loader
    hpi = grid_targets(kf)
    size = model.config.image_size

    def frames_of(recording):  # every frame, read and cropped once per recording, as annotate reads them
        return read_all_frames(recording, size, kf.crop_fraction, progress=False, crop_centre=kf.crop_centre)

    def probs_of(frames, keep):
        return constant_clip_phases(model, frames[keep][:, :1], hpi, loader.pixel_mean, loader.pixel_std)

    rows: dict[str, dict[str, list]] = {s: {"real": [], "sim": []} for s in R.STAGES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for video, windows in R.REAL_STAGE_WINDOWS.items():
            with open_recording(args.real / video, cfg.data) as rec:
                runs, frames = np.asarray(rec.runs), frames_of(rec)
            for stage, (first, last) in windows.items():
                keep = np.nonzero((runs >= first) & (runs <= last))[0][::3]
                rows[stage]["real"].append(probs_of(frames, keep))
        ids = json.loads((args.run / "dataset" / "splits.json").read_text())["kfold"]["0"]["test"]["embryo_ids"]
        for embryo in sorted(np.random.default_rng(1).choice(ids, min(args.embryos, len(ids)), replace=False)):
            video = args.run / "sim" / "videos" / f"{embryo}.mp4"
            with open_recording(video, cfg.data) as rec:
                truth = read_phases(video.with_name(f"{embryo}_phases.csv"), np.arange(1, len(rec) + 1))
                frames = frames_of(rec)
            stages = np.array([R.SIM_PHASE_STAGE.get(int(t)) for t in truth], dtype=object)
            for stage in R.STAGES:
                keep = np.nonzero(stages == stage)[0][::3]
                if len(keep):
                    rows[stage]["sim"].append(probs_of(frames, keep))
    slots = (1, 4, 7, 10, 13)  # keyframes at these grid positions (hours printed in the header)
    print("mean predicted phase index (0 = tPB2 ... 15 = tHB) at keyframe slots of a constant clip, real / simulated")
    print("| stage | frames real / sim | " + " | ".join(f"slot {k} ({hpi[k]:.0f} h)" for k in slots) + " |")
    print("|---" * (2 + len(slots)) + "|")
    for stage in R.STAGES:
        got = {side: np.concatenate(rows[stage][side]) for side in ("real", "sim") if rows[stage][side]}
        if not got:
            continue
        index = {side: (p * np.arange(p.shape[-1])).sum(-1).mean(0) for side, p in got.items()}  # (K,)
        cells = [" / ".join(f"{index[side][k]:.1f}" if side in index else "-" for side in ("real", "sim")) for k in slots]
        counts = " / ".join(str(len(got[side])) if side in got else "0" for side in ("real", "sim"))
        print(f"| {stage} | {counts} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
