"""How well does a sim-trained phase model read phases, per phase, and what does it make of real video?

    python experiments/sim_to_real/phase_report.py outputs/s0 --real ../shared/data/gomez_sample \\
        --out outputs/sim_to_real [--split test --embryos 40]

1. **Simulated held-out recordings:** ``--embryos`` embryos drawn (seeded) from ``kfold/0/<split>`` of the run
   (a run written by ``aivf run``: ``sim/videos`` with the simulator's ``_phases.csv`` annotations,
   ``dataset/splits.json``, ``best/`` or ``final/``). Every annotated frame is predicted with
   ``aivf annotate``'s code (``predict_frames``, its default layout, then monotone decoding) and scored per
   phase: the share of the phase's frames given that phase (argmax, decoded) and within one phase (decoded).
2. **Real video:** ``aivf annotate`` on ``--real`` (the three real Gomez samples), writing the phase CSVs and
   the strip pictures into ``<out>/real/``, and the decoded calls scored against the stage windows read by
   eye (``aivf.sim.realism.REAL_STAGE_WINDOWS``): the share of those frames given their stage, and within one
   stage. The windows are few and were read by one person: a rough check, not a benchmark.

``--checkpoint`` scores another model (e.g. a per-frame one trained on the run's dataset) on the run's recordings.

Writes ``<out>/per_phase.csv`` and ``<out>/summary.json``, and prints a Markdown table for docs/annotate.md.
The renderer is whatever simulated the run: rerun ``aivf run`` after a renderer change, then this script.
"""

from __future__ import annotations

import argparse
import csv
import json
import warnings
from pathlib import Path

import numpy as np

# Each Gomez phase in the coarse stages an eye can tell on a real frame (realism.STAGES).
STAGE_OF_PHASE = {"tPB2": "zygote", "tPNa": "zygote", "tPNf": "zygote", "t2": "2-cell", "t3": "2-cell",
                  "t4": "4-cell", "t5": "4-cell", "t6": "8-cell", "t7": "8-cell", "t8": "8-cell", "t9+": "9+ cells",
                  "tM": "morula", "tSB": "morula", "tB": "blastocyst", "tEB": "blastocyst", "tHB": "blastocyst"}


def window_stages(windows: dict[str, tuple[int, int]], runs: np.ndarray, phases: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(eye-read stage, called stage) of every frame in a video's eye-read windows that has a call.

    Args:
        windows: stage -> (first RUN, last RUN), as in ``REAL_STAGE_WINDOWS``.
        runs: (T,) RUN number of each frame; phases: (T,) called phase index per frame (-1: no call).
    """
    from aivf.data import PHASES
    from aivf.sim.realism import STAGES

    stage_of = np.array([STAGES.index(STAGE_OF_PHASE[p]) for p in PHASES])
    eye, called = [], []
    for stage, (first, last) in windows.items():
        inside = (runs >= first) & (runs <= last) & (phases >= 0)
        eye.append(np.full(int(inside.sum()), STAGES.index(stage)))
        called.append(stage_of[phases[inside]])
    return np.concatenate(eye), np.concatenate(called)


def stage_agreement(video: str, eye: np.ndarray, called: np.ndarray) -> dict:
    """Stage accuracy, within one stage and Spearman correlation of called vs eye-read stages."""
    from scipy.stats import spearmanr

    constant = len(set(eye.tolist())) < 2 or len(set(called.tolist())) < 2  # no correlation defined
    return {"video": video, "frames": len(eye), "stage_acc": float(np.mean(eye == called)),
            "within_one_stage": float(np.mean(np.abs(eye - called) <= 1)),
            "rank_corr": 0.0 if constant else float(spearmanr(eye, called)[0])}


def real_stage_agreement(phase_csvs: dict[str, Path]) -> list[dict]:
    """Decoded stage vs the eye-read stage windows, per real video with windows (and "all").

    ``stage_acc``: share of the windows' frames given their stage; ``within_one_stage``; ``rank_corr``: Spearman
    correlation of the decoded with the eye-read stage (does the call follow development, even if shifted?).
    """
    from aivf.data.gomez import read_phases
    from aivf.sim.realism import REAL_STAGE_WINDOWS

    rows, told, given = [], [], []
    for video, windows in REAL_STAGE_WINDOWS.items():
        if video not in phase_csvs:
            continue
        runs = np.arange(1, max(last for _, last in windows.values()) + 1)
        eye, called = window_stages(windows, runs, read_phases(phase_csvs[video], runs))
        rows.append(stage_agreement(video, eye, called))
        told.append(eye)
        given.append(called)
    if told:
        rows.append(stage_agreement("all", np.concatenate(told), np.concatenate(given)))
    return rows


def held_out_frames(run: Path, split: str, embryos: int, seed: int, batch_size: int,
                    checkpoint: Path | None = None) -> dict:
    """Per-frame truth, argmax and decoded phase of ``embryos`` held-out simulated recordings of ``run``."""
    from aivf.annotate.cli import layout_for
    from aivf.annotate.decode import monotone_viterbi
    from aivf.annotate.predict import predict_frames
    from aivf.config import load_config
    from aivf.data import open_recording
    from aivf.data.gomez import read_phases
    from aivf.eval.scoring import load_model, resolve_checkpoint

    ckpt = resolve_checkpoint(checkpoint or run)
    cfg = load_config(ckpt / "config.yaml")
    model = load_model(ckpt)
    layout = layout_for(model, "auto")
    ids = json.loads((run / "dataset" / "splits.json").read_text())["kfold"]["0"][split]["embryo_ids"]
    pick = sorted(np.random.default_rng(seed).choice(ids, min(embryos, len(ids)), replace=False))
    truth, argmax, decoded = [], [], []
    for embryo in pick:
        video = run / "sim" / "videos" / f"{embryo}.mp4"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_recording(video, cfg.data) as rec:
                phases = predict_frames(model, rec, cfg.data.keyframes, cfg.dataset.loader.pixel_mean,
                                        cfg.dataset.loader.pixel_std, batch_size, False, layout)
                numbers = np.arange(1, len(rec) + 1)  # the simulator's annotations number frames index + 1
        truth.append(read_phases(video.with_name(f"{embryo}_phases.csv"), numbers))
        argmax.append(phases.log_probs.argmax(1))
        decoded.append(monotone_viterbi(phases.log_probs))
    return {"checkpoint": str(ckpt), "embryos": pick, "truth": np.concatenate(truth),
            "argmax": np.concatenate(argmax), "decoded": np.concatenate(decoded)}


def per_phase(truth: np.ndarray, argmax: np.ndarray, decoded: np.ndarray, names) -> list[dict]:
    """One row per phase present in ``truth`` (labelled frames only), then an "all" row."""
    keep = truth >= 0
    truth, argmax, decoded = truth[keep], argmax[keep], decoded[keep]
    rows = []
    for phase, name in enumerate(names):
        at = truth == phase
        if at.any():
            rows.append({"phase": name, "frames": int(at.sum()), "argmax_acc": float(np.mean(argmax[at] == phase)),
                         "decoded_acc": float(np.mean(decoded[at] == phase)),
                         "decoded_within_one": float(np.mean(np.abs(decoded[at] - phase) <= 1))})
    rows.append({"phase": "all", "frames": int(len(truth)), "argmax_acc": float(np.mean(argmax == truth)),
                 "decoded_acc": float(np.mean(decoded == truth)),
                 "decoded_within_one": float(np.mean(np.abs(decoded - truth) <= 1))})
    return rows


def main() -> None:
    from aivf.annotate.cli import annotate
    from aivf.data import PHASES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder written by aivf run (e.g. outputs/s0)")
    parser.add_argument("--real", type=Path, help="real recordings to annotate (e.g. ../shared/data/gomez_sample)")
    parser.add_argument("--out", type=Path, default=Path("outputs/sim_to_real"))
    parser.add_argument("--split", default="test", help="part of kfold/0 the embryos come from (default: test)")
    parser.add_argument("--embryos", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--checkpoint", type=Path, help="the model to score (default: the run's own)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    held = held_out_frames(args.run, args.split, args.embryos, args.seed, args.batch_size, args.checkpoint)
    rows = per_phase(held["truth"], held["argmax"], held["decoded"], PHASES)
    with (args.out / "per_phase.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = {"run": str(args.run), "checkpoint": held["checkpoint"], "split": f"kfold/0/{args.split}",
               "embryos": len(held["embryos"]), "per_phase": rows}
    if args.real:
        result = annotate(args.real, held["checkpoint"], out=args.out / "real", progress=False)
        summary["real"] = [{k: r[k] for k in ("embryo_id", "frames", "phases")} for r in result["done"]]
        summary["real_failed"] = result["failed"]
        summary["real_stages"] = real_stage_agreement({r["embryo_id"]: Path(r["phases"]) for r in result["done"]})
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"{args.run}: kfold/0/{args.split}, {len(held['embryos'])} simulated embryos, {rows[-1]['frames']} "
          "annotated frames\n")
    print("| phase | frames | argmax acc. | decoded acc. | decoded within 1 phase |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['phase']} | {r['frames']:,} | {r['argmax_acc']:.3f} | {r['decoded_acc']:.3f} | "
              f"{r['decoded_within_one']:.3f} |")
    for r in summary.get("real", []):
        print(f"real: {r['embryo_id']}: {r['frames']} frames -> {r['phases']}")
    if summary.get("real_stages"):
        print("\n| real video | frames in eye-read windows | stage acc. | within 1 stage | rank corr. |\n"
              "|---|---|---|---|---|")
        for r in summary["real_stages"]:
            print(f"| {r['video']} | {r['frames']} | {r['stage_acc']:.3f} | {r['within_one_stage']:.3f} | "
                  f"{r['rank_corr']:.2f} |")
    for r in summary.get("real_failed", []):
        print(f"real FAILED: {r['recording']}: {r['error']}")


if __name__ == "__main__":
    main()
