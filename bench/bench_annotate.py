"""``aivf annotate`` speed on a 500-frame recording (target: under 30 s on the 2-core development machine).

    .venv/bin/python bench/bench_annotate.py                       # the main job's model (configs/default.yaml)
    .venv/bin/python bench/bench_annotate.py --frames 500 --threads 2 --format mp4
    PYTHONPATH=. .venv/bin/python bench/bench_annotate.py         # from a git worktree sharing another venv
    .venv/bin/python bench/bench_annotate.py -c configs/model/frames_micro.yaml   # the stride-2 per-frame annotator

Builds the model of ``configs/default.yaml`` (since 2026-12-03 the per-frame backbone with a stride-4 stem, read in
the packed layout; 16 keyframes at 64 px cropped from the central 60%; the speeds in docs/annotate.md before that
date are of the micro VideoMAE + conv stem) with random weights (speed does not depend on training), and a 500-frame
recording: 500 px JPEGs in a Gomez folder (the real sample ``../shared/data/gomez_sample/AAL839-6``'s
frames, cycled, where present; synthetic discs otherwise) or a 256 px MP4. Times are 0.25 h apart
(0-125 hpi). Reports the seconds of the whole ``annotate`` call (model load included) and its frames/s,
split into decoding and model time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "gomez_sample" / "AAL839-6"


def make_gomez(folder: Path, frames: int) -> str:
    """A Gomez-layout video of ``frames`` 500 px JPEGs plus its time file; returns what the frames are."""
    video = folder / "embryo_dataset" / "BENCH-1"
    video.mkdir(parents=True)
    real = sorted(SAMPLE.glob("*.jpeg")) if SAMPLE.is_dir() else []
    yy, xx = np.mgrid[:500, :500]
    for k in range(1, frames + 1):
        target = video / f"D2013.01.28_S0717_I132_WELL7_RUN{k}.jpeg"
        if real:
            shutil.copyfile(real[(k - 1) % len(real)], target)
        else:
            disc = ((yy - 250) ** 2 + (xx - 250) ** 2 < (150 - k % 40) ** 2) * 80 + 60
            Image.fromarray(disc.astype(np.uint8)).save(target, quality=90)
    times = folder / "embryo_dataset_time_elapsed"
    times.mkdir()
    rows = "\n".join(f"{k},{0.25 * (k - 1):.2f}" for k in range(1, frames + 1))
    (times / "BENCH-1_timeElapsed.csv").write_text(f"frame_index,time\n{rows}\n")
    return f"real frames of {SAMPLE.name}, cycled" if real else "synthetic discs"


def make_mp4(folder: Path, frames: int) -> str:
    from aivf.sim.writers import write_frame_times, write_mp4

    yy, xx = np.mgrid[:256, :256]
    video = np.stack([(((yy - 128) ** 2 + (xx - 128) ** 2 < (80 - k % 30) ** 2) * 80 + 60).astype(np.uint8)
                      for k in range(frames)])
    write_mp4(folder / "BENCH-1.mp4", video)
    write_frame_times(folder / "BENCH-1.csv", 0.25 * np.arange(frames))
    return "256 px synthetic MP4"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--format", choices=["gomez", "mp4"], default="gomez")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2 cores)")
    parser.add_argument("--layout", choices=["auto", "swap", "shifted", "packed"], default="auto",
                        help="annotate --layout (auto: packed for a per-frame model, else swap)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("-c", dest="extra", action="append", default=[], help="config merged on top (repeatable)")
    args = parser.parse_args()

    import torch

    from aivf.annotate.cli import annotate
    from aivf.config import load_config, save_config
    from aivf.model import build_model

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = load_config([args.config, *args.extra])
        build_model(cfg.model).save_pretrained(tmp / "ckpt")
        save_config(cfg, tmp / "ckpt")
        (tmp / "data").mkdir()
        what = make_gomez(tmp / "data", args.frames) if args.format == "gomez" else make_mp4(tmp / "data", args.frames)
        target = tmp / "data" / ("embryo_dataset/BENCH-1" if args.format == "gomez" else "BENCH-1.mp4")
        start = time.perf_counter()
        result = annotate(target, tmp / "ckpt", out=tmp / "out", batch_size=args.batch_size, progress=False,
                          layout=args.layout)
        seconds = time.perf_counter() - start
    row = result["done"][0]
    print(f"aivf annotate --layout {args.layout} ({cfg.model.backbone}), {row['frames']} frames ({what}), {args.threads} torch thread(s), "
          f"batch {args.batch_size}, model of {' + '.join([args.config, *args.extra])}:")
    print(f"  {seconds:.1f} s in all, model load included ({row['frames'] / seconds:.0f} frames/s); "
          f"recording {row['seconds']:.1f} s = decode {row['decode_s']:.1f} s + model {row['model_s']:.1f} s "
          f"over {row['clips']} clips; target < 30 s")


if __name__ == "__main__":
    main()
