"""A two-minute probe of a renderer: train a per-frame phase classifier on a run's keyframes, read real frames.

    python experiments/sim_to_real/frame_probe.py outputs/s0 --real ../shared/data/gomez_sample [--steps 1500]

``aivf train`` with ``configs/model/frames_micro.yaml`` takes ~8 minutes; this trains the same per-frame
encoder (``aivf.model.frame_encoder.FrameEncoder``, width 16) with a linear phase read-out for ``--steps``
steps of 64 keyframes drawn from ``kfold/0/train`` of the run's dataset. Augmentation: rotation, flip, zoom
and shift as the loader draws them, contrast x (1 +- 0.3), gamma, and with ``--blur`` a Gaussian blur. It then reports:

- the per-keyframe phase accuracy on ``kfold/0/val`` (simulated, held out);
- on the real samples, every frame of the eye-read stage windows (``aivf.sim.realism.REAL_STAGE_WINDOWS``),
  cropped as ``aivf annotate`` crops them: the argmax phase's stage against the eye's (accuracy, within one
  stage, Spearman correlation). No decoding: one frame, one call.

One training seed: differences of a few hundredths between renderers are within its noise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def keyframes_of(dataset: Path, split: str):
    """uint8 (N, H, W) first-plane keyframes with a phase label, and int64 (N,) labels, of one split."""
    import torch

    from aivf.dataset.loader import load_split

    ds = load_split(str(dataset), split)
    frames = np.stack([np.asarray(row["keyframes"])[:, 0] for row in ds])  # (E, K, H, W)
    labels = np.stack([np.asarray(row["phase_labels"]) for row in ds])  # (E, K)
    keep = labels.reshape(-1) >= 0
    return (torch.from_numpy(frames.reshape(-1, *frames.shape[-2:])[keep]),
            torch.from_numpy(labels.reshape(-1)[keep].astype(np.int64)))


def main() -> None:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from aivf.annotate.predict import read_all_frames
    from aivf.config import load_config
    from aivf.data import PHASES, open_recording
    from aivf.dataset.augment import affine_params, gaussian_blur
    from aivf.dataset.config import AugmentConfig
    from aivf.model.frame_encoder import FrameEncoder
    from aivf.sim.realism import REAL_STAGE_WINDOWS

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from phase_report import stage_agreement, window_stages

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with dataset/ and config.yaml (aivf run, or simulate + build)")
    parser.add_argument("--real", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blur", type=float, default=0.0, help="Gaussian blur sigma drawn from [0, blur] px per frame")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    cfg = load_config(args.run / "config.yaml")
    train_x, train_y = keyframes_of(args.run / "dataset", "kfold/0/train")
    val_x, val_y = keyframes_of(args.run / "dataset", "kfold/0/val")
    encoder = FrameEncoder(num_channels=1, width=16)
    readout = nn.Linear(encoder.num_features, len(PHASES))
    params = [*encoder.parameters(), *readout.parameters()]
    optimizer = torch.optim.AdamW(params, 2e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=args.steps, pct_start=0.05)
    augment = AugmentConfig()

    def logits(frames: torch.Tensor) -> torch.Tensor:  # float (B, H, W) in [0, 1] -> (B, P)
        return readout(encoder.features(frames[:, None, None]).mean(dim=2)[:, 0])

    def augmented(frames: torch.Tensor) -> torch.Tensor:
        x = frames.float()[:, None] / 255.0
        n = len(x)
        grid = F.affine_grid(affine_params(n, augment, generator), x.shape, align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
        mean = x.mean((2, 3), keepdim=True)
        x = (x - mean) * (1 + 0.3 * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)) + mean
        gamma = torch.exp(0.3 * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1))
        x = x.clamp(0, 1) ** gamma
        if args.blur > 0:
            x = gaussian_blur(x, args.blur * torch.rand(n, generator=generator))
        return x[:, 0]

    start = time.perf_counter()
    encoder.train()
    for _ in range(args.steps):
        pick = torch.randint(len(train_x), (64,), generator=generator)
        loss = F.cross_entropy(logits(augmented(train_x[pick])), train_y[pick], label_smoothing=0.05)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    encoder.eval()

    @torch.no_grad()
    def predict(frames: torch.Tensor) -> np.ndarray:
        return np.concatenate([logits(frames[i:i + 512].float() / 255.0).argmax(-1).numpy()
                               for i in range(0, len(frames), 512)])

    report = {"run": str(args.run), "steps": args.steps, "blur": args.blur, "train_keyframes": len(train_x),
              "train_s": round(time.perf_counter() - start, 1),
              "sim_val_acc": float(np.mean(predict(val_x) == val_y.numpy()))}
    told, given, per_video = [], [], {}
    kf = cfg.data.keyframes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the samples' repaired defects
        for video, windows in REAL_STAGE_WINDOWS.items():
            with open_recording(args.real / video, cfg.data) as rec:
                runs = np.asarray(rec.runs)
                frames = read_all_frames(rec, kf.size, kf.crop_fraction, progress=False, crop_centre=kf.crop_centre)
            eye, called = window_stages(windows, runs, predict(torch.from_numpy(np.ascontiguousarray(frames[:, 0]))))
            per_video[video] = stage_agreement(video, eye, called)["stage_acc"]
            told.append(eye)
            given.append(called)
    everything = stage_agreement("all", np.concatenate(told), np.concatenate(given))
    report.update(real_frames=everything["frames"], real_stage_acc=everything["stage_acc"],
                  real_within_one_stage=everything["within_one_stage"], real_rank_corr=everything["rank_corr"],
                  real_stage_acc_per_video=per_video)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
