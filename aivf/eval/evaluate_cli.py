"""``aivf evaluate RUN_OR_CHECKPOINT [--split test] [-c FILE] [key=value ...]``: metrics.json + report.html.

Scores a dataset split with a trained checkpoint, fits the calibration on the validation split
(saved beside the checkpoint for ``aivf rank``), computes every clinical metric with patient-level
bootstrap CIs, transfers per pregnancy under every ordering (simulated data: truth.csv), and
writes a self-contained HTML report.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from aivf.cli import add_config_arguments
from aivf.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="run folder (uses best/, else final/) or a checkpoint folder")
    add_config_arguments(parser)
    parser.add_argument("--dataset", metavar="PATH", help="built dataset (default: the run's dataset.output)")
    parser.add_argument("--clinical", metavar="CSV", help="clinical table (default: the run's; truth.csv beside it)")
    parser.add_argument("--truth", metavar="CSV", help="simulator truth table (default: truth.csv beside clinical)")
    parser.add_argument("--split", help="split to evaluate (default: eval.split)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: <run>/<eval.output>)")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def _clean(obj):
    """NaN -> None so that metrics.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


def sibling_split(split: str, part: str) -> str:
    """``kfold/0/test`` -> ``kfold/0/<part>``: the other parts of the same fold."""
    return f"{split.rsplit('/', 1)[0]}/{part}" if "/" in split else part


def split_table(ds) -> pd.DataFrame:
    """The non-pixel columns of a loaded split (ids, clinic, age, labels) as a DataFrame."""
    keep = [c for c in ds.column_names if c not in ("keyframes", "keyframe_hpi", "keyframe_mask", "keyframe_index",
                                                  "phase_labels")]
    return ds.select_columns(keep).with_format(None).to_pandas()


def score_split(model, ds, cfg) -> pd.DataFrame:
    from aivf.dataset.loader import iter_eval_batches
    from aivf.eval.scoring import predict

    bs = cfg.eval.batch_size
    return predict(model, iter_eval_batches(ds, bs, cfg.dataset.loader), total=-(-len(ds) // bs),
                   desc=f"scoring {len(ds)} embryos")


def evaluate_run(checkpoint: str | Path, config: list[str] | None = None, overrides: list[str] | None = None,
                 dataset: str | None = None, clinical: str | None = None, truth: str | None = None,
                 split: str | None = None, out: str | Path | None = None) -> dict:
    """Python API of ``aivf evaluate``; returns ``{"metrics": path, "report": path, "result": dict}``."""
    from aivf.dataset.loader import load_split, read_splits
    from aivf.dataset.splits import split_ids
    from aivf.eval.analysis import analyze
    from aivf.eval.grade_gate import with_grades
    from aivf.eval.report import render_report
    from aivf.eval.scoring import (
        add_probabilities,
        anchor_to_run,
        config_files,
        eval_split,
        fit_calibrator,
        load_model,
        resolve_checkpoint,
        run_paths,
    )

    ckpt = resolve_checkpoint(checkpoint)
    cfg = load_config(config_files(ckpt, config), overrides)
    anchor_to_run(cfg, ckpt)
    ec = cfg.eval
    split = eval_split(cfg, split)
    clinical_csv, ds_path = run_paths(cfg, clinical, dataset)
    truth_csv = Path(truth) if truth else clinical_csv.parent / "truth.csv"
    run_dir = Path(cfg.output_dir) / cfg.name
    out = Path(out) if out else (Path(ec.output) if Path(ec.output).is_absolute() else run_dir / ec.output)
    out.mkdir(parents=True, exist_ok=True)

    model = load_model(ckpt)
    splits = read_splits(ds_path)
    calibrator, notes = None, []
    cal_split = ec.calibration_split or sibling_split(split, "val")
    if split_ids(splits, cal_split):
        val_ds = load_split(ds_path, cal_split)
        val = with_grades(score_split(model, val_ds, cfg), split_table(val_ds))
        calibrator = fit_calibrator(val, ec.calibration, val_ds["biopsied"] if "biopsied" in val_ds.column_names else None)
        path = calibrator.save(ckpt)
        notes.append(f"Probabilities calibrated ({ec.calibration}) on the '{cal_split}' split "
                     f"({len(val)} embryos); saved to {path}.")
    else:
        notes.append(f"Empty '{cal_split}' split: probabilities are the model's uncalibrated sigmoid outputs.")
    ds = load_split(ds_path, split)
    table = split_table(ds)
    pred = add_probabilities(with_grades(score_split(model, ds, cfg), table), calibrator)
    truth_df = pd.read_csv(truth_csv) if truth_csv.is_file() else None
    kid_train = None
    if truth_df is not None and clinical_csv.is_file():
        clin = pd.read_csv(clinical_csv)
        train = clin[clin["embryo_id"].isin(split_ids(splits, sibling_split(split, "train")))].merge(truth_df, on="embryo_id")
        if train["d5_fhb"].nunique() == 2:
            kid_train = (train, pd.to_numeric(train["d5_fhb"], errors="coerce").to_numpy())
    result = analyze(pred, table, truth_df, ec, cfg.seed, kid_train)
    result["notes"] = notes + result["notes"]
    result.update({"checkpoint": str(ckpt), "dataset": str(ds_path), "split": split})
    strips = collect_strips(model, ds, pred, cfg)
    pred.to_csv(out / "predictions.csv", index=False)
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(_clean(result), indent=1, default=_json_default))
    report_path = out / "report.html"
    report_path.write_text(render_report(result, subtitle=f"{ckpt} · split '{split}' of {ds_path}",
                                         strips=strips, simulated=True))
    return {"metrics": metrics_path, "report": report_path, "result": result}


def collect_strips(model, ds, pred: pd.DataFrame, cfg) -> dict[str, list[dict]]:
    """Keyframe strips with occlusion attribution for the top and bottom ``eval.attribution_embryos`` per task."""
    from aivf.dataset.loader import iter_eval_batches
    from aivf.eval.scoring import keyframe_strips

    n, loader = cfg.eval.attribution_embryos, cfg.dataset.loader
    if n <= 0:
        return {}
    row_of = {e: i for i, e in enumerate(ds["embryo_id"])}
    strips = {}
    for j, task in enumerate(("d3_fhb", "d5_fhb", "euploid")):
        order = pred[f"prob_{task}"].to_numpy().argsort()[::-1]
        chosen = list(order[:n]) + [k for k in order[-n:] if k not in order[:n]]
        ranks = [int(np.flatnonzero(order == k)[0]) + 1 for k in chosen]
        subset = ds.select([row_of[pred["embryo_id"].iloc[k]] for k in chosen])
        batch = next(iter_eval_batches(subset, len(chosen), loader))
        probs = pred[f"prob_{task}"].to_numpy()[chosen]
        strips[task] = keyframe_strips(model, batch, probs, batch["labels"][:, j].numpy(), ranks, j,
                                       loader.pixel_mean, loader.pixel_std)
    return strips


def run(args: argparse.Namespace) -> int:
    try:
        paths = evaluate_run(args.checkpoint, args.config, args.overrides, args.dataset, args.clinical, args.truth,
                             args.split, args.out)
    except FileNotFoundError as err:
        print(f"aivf evaluate: {err}")
        return 1
    result = paths["result"]
    for task, entry in result["tasks"].items():
        m = entry["metrics"]
        print(f"  {task:8s} n={entry['n']:4d}  AUC {m['auc']['value']:.3f} [{m['auc']['low']:.3f}, {m['auc']['high']:.3f}]"
              f"  within-cohort {m['within_cohort_auc']['value']:.3f}")
    if "transfers" in result:
        for name, o in result["transfers"]["orderings"].items():
            print(f"  transfers/pregnancy {name:10s} {o['value']:.2f} [{o['low']:.2f}, {o['high']:.2f}]")
    print(f"aivf evaluate: metrics in {paths['metrics']}\naivf evaluate: report in {paths['report']}")
    return 0
