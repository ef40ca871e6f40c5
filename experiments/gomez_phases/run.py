"""Train and evaluate a per-frame phase model on the Gomez dataset with the published protocol (protocol.py).

    python experiments/gomez_phases/run.py --gomez /data/gomez --out outputs/gomez_phases \\
        -c experiments/gomez_phases/config.yaml [key=value ...]

Three steps, each the project's own code (no second training loop):

1. **build** (``aivf.dataset.build_dataset`` on the table of ``aivf.dataset.gomez_table``): shards with the
   keyframes, their phase labels and the per-frame labels of every frame; splits by couple into
   ``dataset.splits.num_folds`` folds (an embryo's frames never sit in two parts).
2. **train** (``aivf.train.loop.train``): the phase head on the keyframe clips of ``<train.split>/train``.
   The dataset has no outcomes, so the task heads get no loss; no checkpoint is picked on validation, and
   the final weights are evaluated.
3. **evaluate** every frame of every embryo of ``<train.split>/test``: ``aivf.annotate``'s per-frame
   prediction and monotone decoding, scored against the per-frame labels of the shards. Writes
   ``metrics.json``, ``per_event.csv``, ``per_embryo.csv`` and ``aivf annotate``'s files (``annotations/``).

``--skip-build`` / ``--skip-train`` reuse what an earlier run of the same ``--out`` left.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # protocol.py beside this file

from protocol import event_errors, frame_scores, summarise_events  # noqa: E402


def build(cfg, gomez: Path, out: Path) -> Path:
    """Write the clinical table and build the shards into ``out/dataset``; exits on an unusable build."""
    from aivf.dataset.build import build_dataset, nothing_usable
    from aivf.dataset.gomez_table import write_gomez_clinical

    clinical = write_gomez_clinical(gomez, out / "gomez_clinical.csv")
    report = build_dataset(cfg.dataset, clinical, str(out / "dataset"), cfg.data)
    print(f"build: {report.num_built} embryos, {report.num_failed} not built ({report.failures}), "
          f"{report.seconds:.0f} s; {out / 'dataset' / 'build_report.csv'}")
    problem = nothing_usable(report)
    if problem:
        raise SystemExit(f"build: {problem}")
    return out / "dataset"


def test_frames(dataset: Path, split: str) -> list[dict]:
    """The per-frame labels of ``<split>/test``: embryo_id, recording, frame_phases, frame_hpi, frame_number."""
    import pyarrow.parquet as pq

    ids = json.loads((dataset / "splits.json").read_text())
    scheme, fold = split.split("/", 1)
    wanted = set(ids[scheme][fold]["test"]["embryo_ids"])
    manifest = json.loads((dataset / "manifest.json").read_text())
    columns = ["embryo_id", "recording", "frame_phases", "frame_hpi", "frame_number"]
    rows = []
    for shard in manifest["shards"]:
        if shard.get("file"):
            table = pq.read_table(dataset / shard["file"], columns=columns).to_pylist()
            rows += [r for r in table if r["embryo_id"] in wanted]
    return sorted(rows, key=lambda r: r["embryo_id"])


class OnDevice:
    """The model on ``device`` behind the CPU interface ``predict_frames`` calls (tensors in, phase_logits out)."""

    def __init__(self, model, device: str) -> None:
        self.model, self.device, self.config = model.to(device), device, model.config

    def __call__(self, **inputs):
        import torch

        with torch.no_grad():
            out = self.model(**{k: v.to(self.device) for k, v in inputs.items()})
        return SimpleNamespace(phase_logits=out.phase_logits.float().cpu())


def evaluate(cfg, checkpoint: Path, dataset: Path, out: Path, layout: str, batch_size: int) -> dict:
    """Score every frame of the test embryos (module docstring, step 3)."""
    import torch

    from aivf.annotate.decode import monotone_viterbi
    from aivf.annotate.predict import predict_frames
    from aivf.annotate.write import write_annotation
    from aivf.data import PHASES, open_recording
    from aivf.eval.scoring import load_model

    model = load_model(checkpoint)  # on CPU; on a GPU machine the clips run there (frames are decoded on CPU)
    if torch.cuda.is_available():
        model = OnDevice(model, "cuda")
    names = PHASES[: model.config.num_phases]
    truth_all, argmax_all, decoded_all, errors, per_embryo = [], [], [], [], []
    rows = test_frames(dataset, cfg.train.split)
    if not rows:
        raise SystemExit(f"evaluate: {cfg.train.split}/test holds no embryo of {dataset}")
    for row in rows:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reader's repairs were reported by the build
            with open_recording(row["recording"], cfg.data) as rec:
                numbers = getattr(rec, "runs", None)
                if numbers is None or list(numbers) != row["frame_number"]:
                    raise SystemExit(f"{row['recording']}: its frames differ from the ones the build read "
                                     "(another data config?); rebuild without --skip-build")
                phases = predict_frames(model, rec, cfg.data.keyframes, cfg.dataset.loader.pixel_mean,
                                        cfg.dataset.loader.pixel_std, batch_size, False, layout)
                decoded = monotone_viterbi(phases.log_probs)
                write_annotation(out / "annotations", row["embryo_id"], rec, decoded, phases.log_probs,
                                 phases.thumbnails, names)
        truth = np.asarray(row["frame_phases"], dtype=np.int64)
        argmax = phases.log_probs.argmax(1)
        errors.append(event_errors(truth, decoded, np.asarray(row["frame_hpi"])))
        found = [e for e in errors[-1].values() if not np.isnan(e)]
        per_embryo.append({"embryo_id": row["embryo_id"], **frame_scores(truth, decoded),
                           "argmax_accuracy": frame_scores(truth, argmax)["accuracy"],
                           "event_median_abs_h": float(np.median(found)) if found else float("nan"),
                           "events_missed": int(sum(np.isnan(e) for e in errors[-1].values())),
                           "seconds": round(time.perf_counter() - start, 1)})
        truth_all.append(truth), argmax_all.append(argmax), decoded_all.append(decoded)
        print(f"  {row['embryo_id']}: {per_embryo[-1]['frames']} labelled frames, decoded accuracy "
              f"{per_embryo[-1]['accuracy']:.3f}, {per_embryo[-1]['seconds']} s")
    truth, argmax, decoded = (np.concatenate(x) for x in (truth_all, argmax_all, decoded_all))
    events = summarise_events(errors, names)
    found = np.array([e for embryo in errors for e in embryo.values()], dtype=np.float64)
    metrics = {
        "split": f"{cfg.train.split}/test", "embryos": len(rows), "checkpoint": str(checkpoint), "layout": layout,
        "decoded": frame_scores(truth, decoded), "argmax": frame_scores(truth, argmax),
        "events": {"annotated": int(len(found)), "missed": int(np.isnan(found).sum()),
                   "median_abs_h": float(np.nanmedian(found)) if (~np.isnan(found)).any() else float("nan"),
                   "mean_abs_h": float(np.nanmean(found)) if (~np.isnan(found)).any() else float("nan")},
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    for name, table in (("per_event.csv", events), ("per_embryo.csv", per_embryo)):
        with (out / name).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    return metrics


def main(argv: list[str] | None = None) -> dict:
    from aivf.config import load_config, save_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gomez", type=Path, required=True, help="dataset root as distributed (holds embryo_dataset/)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("-c", "--config", action="append", default=[], help="config YAML (repeatable)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides")
    parser.add_argument("--layout", choices=["swap", "shifted"], default="swap", help="as aivf annotate --layout")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per forward pass in the evaluation")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_intermixed_args(argv)
    cfg = load_config(args.config or [Path(__file__).with_name("config.yaml")], args.overrides)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    cfg.output_dir, cfg.name = str(out), "train"
    cfg.train.dataset_path = str(out / "dataset")
    if not cfg.model.phase_head:
        raise SystemExit("model.phase_head must be true: the experiment trains a phase model")
    save_config(cfg, out)
    start = time.perf_counter()
    dataset = out / "dataset" if args.skip_build else build(cfg, args.gomez, out)
    built = time.perf_counter()
    if not args.skip_train:
        from aivf.train.loop import train

        result = train(cfg)
        print(f"train: {result['step']} steps in {time.perf_counter() - built:.0f} s -> {result['run_dir']}/final")
    trained = time.perf_counter()
    metrics = evaluate(cfg, out / "train" / "final", dataset, out, args.layout, args.batch_size)
    metrics["seconds"] = {"build": round(built - start, 1), "train": round(trained - built, 1),
                          "evaluate": round(time.perf_counter() - trained, 1)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    d, a, e = metrics["decoded"], metrics["argmax"], metrics["events"]
    print(f"{metrics['split']}: {metrics['embryos']} embryos, {d['frames']} labelled frames | decoded: accuracy "
          f"{d['accuracy']:.3f}, macro-F1 {d['macro_f1']:.3f}, +-1 stage {d['within_one']:.3f} | argmax accuracy "
          f"{a['accuracy']:.3f} | events: median |error| {e['median_abs_h']:.1f} h, {e['missed']} of "
          f"{e['annotated']} missed | {out / 'metrics.json'}")
    return metrics


if __name__ == "__main__":
    main()
