"""``aivf annotate RECORDING_OR_FOLDER [key=value ...] --checkpoint CKPT [--out DIR]``: Gomez-format phase annotations.

For every recording (any layout ``aivf.data.open_recording`` reads; a folder is searched with
``find_recordings``) the model predicts the phase of every frame, the predictions are decoded as a
monotone sequence, and ``<video>_phases.csv``, ``<video>_events.csv`` and ``<video>_phases.png`` are
written (formats in :mod:`aivf.annotate.write`; docs/annotate.md). A recording that cannot be read is
reported with the reader's error and the others are still annotated; the exit code is 1 when none was.
"""

from __future__ import annotations

import argparse
import csv
import time
import warnings
from pathlib import Path

from aivf.cli import add_config_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="a recording (video, Gomez/EmbryoScope folder, .pdb) or a folder of them")
    parser.add_argument("--checkpoint", required=True, help="run folder (uses best/, else final/) or a checkpoint "
                        "folder of a model trained with a phase head")
    add_config_arguments(parser)
    parser.add_argument("--out", metavar="DIR", default="annotations", help="output folder (default: ./annotations)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass (default 32)")
    parser.add_argument("--change-penalty", type=float, default=0.0, metavar="NATS",
                        help="log-probability cost of each phase change in the decoding (default 0: order only)")
    parser.add_argument("--layout", choices=["auto", "swap", "shifted", "packed"], default="auto",
                        help="how each frame enters a clip: swap = into the recording's training keyframes, one clip "
                             "per frame (more accurate for a video model); shifted = shifted keyframe grids shared by "
                             "~K frames (several times faster); packed = K consecutive frames per clip (only for a "
                             "per-frame model, model.backbone=frames); auto (default) = packed for a per-frame "
                             "model, else swap; docs/annotate.md")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def list_inputs(path: Path) -> list[Path]:
    """The recordings under ``path`` (itself when it is one recording)."""
    from aivf.data import find_recordings

    if not path.exists() and not Path(str(path).split("#", 1)[0]).exists():
        raise FileNotFoundError(f"{path}: not found")
    if path.is_dir():
        found = find_recordings(path)
        if not found:
            raise FileNotFoundError(f"{path}: no recordings found (videos, Gomez folders, EmbryoScope exports, "
                                    ".pdb files or stills)")
        return found
    if path.suffix.lower() == ".pdb":  # one slide file: one recording per well
        from aivf.data.pdb import pdb_wells

        return pdb_wells(path)
    return [path]


def layout_for(model, layout: str) -> str:
    """The clip layout to use: ``auto`` is ``packed`` for a per-frame model, else ``swap``.

    Raises:
        ValueError: ``packed`` asked for a video model, whose call of a frame depends on the other keyframes.
    """
    per_frame = getattr(model.config, "backbone_type", "") == "frames"
    if layout == "auto":
        return "packed" if per_frame else "swap"
    if layout == "packed" and not per_frame:
        raise ValueError("--layout packed needs a per-frame model (model.backbone=frames): a video model's call of a "
                         "frame depends on the other keyframes of its clip; use swap or shifted")
    return layout


def annotate(input_path, checkpoint, config=None, overrides=None, out="annotations", batch_size: int = 32,
             change_penalty: float = 0.0, progress: bool = True, layout: str = "auto") -> dict:
    """Python API of ``aivf annotate``; returns ``{"done": [row, ...], "failed": [row, ...], "summary": csv}``.

    Each done row: recording, embryo_id, frames, clips, seconds, frames_per_s, phases (the CSV path);
    each failed row: recording, error.
    """
    from tqdm.auto import tqdm

    from aivf.annotate.decode import monotone_viterbi
    from aivf.annotate.predict import predict_frames
    from aivf.annotate.write import write_annotation
    from aivf.config import load_config
    from aivf.data import PHASES, open_recording
    from aivf.eval.scoring import anchor_to_run, config_files, load_model, resolve_checkpoint

    ckpt = resolve_checkpoint(checkpoint)
    cfg = load_config(config_files(ckpt, config), overrides)
    anchor_to_run(cfg, ckpt)
    model = load_model(ckpt)
    if not getattr(model.config, "phase_head", False):
        raise ValueError(f"{ckpt}: this model has no phase head (model.phase_head=false); annotate needs a model "
                         "trained on phase labels")
    layout = layout_for(model, layout)
    names = PHASES[: model.config.num_phases]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    done, failed, used = [], [], set()
    paths = list_inputs(Path(input_path))
    for path in tqdm(paths, desc="annotating", unit="recording", disable=not progress or len(paths) == 1):
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # repaired defects are in meta; printing each would flood the log
                with open_recording(path, cfg.data) as recording:
                    phases = predict_frames(model, recording, cfg.data.keyframes, cfg.dataset.loader.pixel_mean,
                                            cfg.dataset.loader.pixel_std, batch_size, progress, layout)
                    decoded = monotone_viterbi(phases.log_probs, change_penalty)
                    video = recording.embryo_id
                    if video in used:  # two recordings with one id (e.g. a.mp4 and a/ folder): keep both
                        video = f"{video}__{len(used)}"
                    used.add(video)
                    files = write_annotation(out, video, recording, decoded, phases.log_probs, phases.thumbnails, names)
                    defects = "; ".join(recording.meta["warnings"])[:300]
        except Exception as err:  # one unreadable recording must not stop the folder
            failed.append({"recording": str(path), "error": f"{type(err).__name__}: {err}"[:500]})
            continue
        seconds = time.perf_counter() - start
        done.append({"recording": str(path), "embryo_id": video, "frames": len(decoded), "clips": phases.num_clips,
                     "seconds": round(seconds, 2), "frames_per_s": round(len(decoded) / max(seconds, 1e-9), 1),
                     "decode_s": round(phases.decode_s, 2), "model_s": round(phases.model_s, 2),
                     "phases": str(files["phases"]), "defects": defects})
    summary = out / "annotate_summary.csv"
    with summary.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["recording", "embryo_id", "frames", "clips", "seconds", "frames_per_s",
                                         "decode_s", "model_s", "phases", "defects", "error"])
        writer.writeheader()
        writer.writerows(done + failed)
    return {"done": done, "failed": failed, "summary": summary}


def run(args: argparse.Namespace) -> int:
    try:
        result = annotate(args.input, args.checkpoint, args.config, args.overrides, args.out, args.batch_size,
                          args.change_penalty, not args.no_progress, args.layout)
    except (FileNotFoundError, ValueError) as err:
        print(f"aivf annotate: {err}")
        return 1
    for row in result["done"]:
        print(f"  ok      {row['embryo_id']}: {row['frames']} frames ({row['clips']} clips) in {row['seconds']:.1f} s, "
              f"{row['frames_per_s']:.0f} frames/s -> {row['phases']}")
    for row in result["failed"]:
        print(f"  FAILED  {row['recording']}: {row['error']}")
    frames = sum(r["frames"] for r in result["done"])
    seconds = sum(r["seconds"] for r in result["done"])
    print(f"aivf annotate: {len(result['done'])} recording(s) annotated, {len(result['failed'])} failed; "
          f"{frames} frames in {seconds:.1f} s ({frames / max(seconds, 1e-9):.0f} frames/s); summary in {result['summary']}")
    return 0 if result["done"] else 1
