"""The label-efficiency benchmark (issue 13 section 2): one cohort, one pretraining, then the requested rows.

    python experiments/label_efficiency/run.py                                   # every row
    python experiments/label_efficiency/run.py --rows scratch-dense-25,pretrained-dense-25
    python experiments/label_efficiency/run.py --list                            # the row names
    python experiments/label_efficiency/table.py outputs/label_efficiency        # the README table

A row is ``<init>-<labels>-<fraction>``: init ``scratch`` or ``pretrained`` (``model.pretrained`` = this
benchmark's own ``aivf pretrain`` of the same model), labels ``outcome`` (OUTCOME_ONLY: no clinic records, no
phase supervision, heads on the video feature) or ``dense`` (the main job's settings), fraction ``10``, ``25``
or ``100`` (``train.labels.fraction`` 0.1, 0.25 = as recorded, 1.0 = truth.csv; aivf/dataset/labels.py).

Steps, each the project's own code (no second loop), under ``<output_dir>/<name>/``:

1. ``cohort/``: simulate + build ONCE (``cohort/cohort.json`` marks it done: seed, counts, seconds).
2. ``pretrain/``: ``aivf pretrain`` ONCE, only if a pretrained row is asked for, with ``--pretrain-config``
   (configs/pretrain.yaml) on the rows' model section (stem included); it reads the ``<train.split>/train`` embryos of the cohort's splits.json, so
   validation and test patients are never seen (``pretrain/done.json`` marks it done).
3. ``rows/<row>/``: ``aivf train`` then ``aivf evaluate`` on the held-out split (read once per row), on the same
   built dataset; ``rows/<row>/result.json`` holds status, seconds, machine, the labels used and, for a failed
   row, the error. A done row is skipped on a rerun; a failed or unfinished one is started again from scratch;
   one failed row is recorded and the others go on.

Nothing is tuned: every hyper-parameter is configs/default.yaml's (rows) or configs/pretrain.yaml's (pretraining).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path

from aivf.config import ExperimentConfig, load_config, save_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INITS, LABELS = ("scratch", "pretrained"), ("outcome", "dense")
FRACTIONS = {"10": 0.10, "25": 0.25, "100": 1.0}  # row suffix -> train.labels.fraction
ROWS = [f"{i}-{lab}-{f}" for i in INITS for lab in LABELS for f in FRACTIONS]
# Outcome labels only: no clinic-record heads, no phase supervision, and the outcome heads read the pooled video
# feature (+ covariates), not a phase summary that would need the phase annotation. "dense" keeps the main job's.
OUTCOME_ONLY = ["model.aux_tasks=[]", "model.phase_head=false", "model.phase_features=false",
                "model.phase_only_heads=false", "model.heads_read_aux=false"]


# The pretraining recipe (its model section is replaced by the rows') and what is always set on top of it.
PRETRAIN_CONFIG = "configs/pretrain.yaml"
PRETRAIN_OVERRIDES = ["train.tracker=none"]


def row_overrides(row: str, out: Path, cfg: ExperimentConfig) -> list[str]:
    """key=value of one row: where it runs and reads, its labels, its init and its label kind."""
    init, labels, fraction = parse_row(row)
    cohort = out / "cohort"
    keys = [f"output_dir={out / 'rows'}", f"name={row}", f"train.dataset_path={cohort / 'dataset'}",
            f"dataset.clinical_csv={cohort / 'sim' / 'clinical.csv'}", f"train.labels.fraction={FRACTIONS[fraction]}",
            f"train.labels.seed={cfg.seed}", f"train.labels.truth_csv={cohort / 'sim' / 'truth.csv'}"]
    if init == "pretrained":
        keys.append(f"model.pretrained={out / 'pretrain' / 'final'}")
    return keys + (OUTCOME_ONLY if labels == "outcome" else [])


def parse_row(row: str) -> tuple[str, str, str]:
    parts = row.split("-")
    if len(parts) != 3 or parts[0] not in INITS or parts[1] not in LABELS or parts[2] not in FRACTIONS:
        raise SystemExit(f"unknown row {row!r}: rows are <{'|'.join(INITS)}>-<{'|'.join(LABELS)}>-"
                         f"<{'|'.join(FRACTIONS)}>, e.g. pretrained-dense-25 (--list prints all)")
    return parts[0], parts[1], parts[2]


def machine() -> dict:
    """What the row ran on: CPU model and cores, torch threads, and the GPU's name where there is one."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):  # Linux: the model name, e.g. "AMD EPYC 7B13"
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    info = {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def fresh_accelerate_state() -> None:
    """accelerate keeps process-wide singletons; each run of the loop starts from none (as tests/train do)."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


def make_cohort(cfg: ExperimentConfig, out: Path) -> dict:
    """Simulate and build the benchmark cohort once; ``cohort/cohort.json`` says it is done."""
    marker = out / "cohort" / "cohort.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    from aivf.dataset.build import build_dataset, nothing_usable
    from aivf.sim.simulate import simulate

    start = time.perf_counter()
    sim_dir = simulate(cfg.sim, out / "cohort" / "sim", cfg.seed, experiment=cfg)
    simulated = time.perf_counter()
    built = build_dataset(cfg.dataset, sim_dir / "clinical.csv", str(out / "cohort" / "dataset"), cfg.data)
    problem = nothing_usable(built)
    if problem:
        raise SystemExit(f"build: {problem}")
    splits = json.loads((out / "cohort" / "dataset" / "splits.json").read_text())
    scheme, fold = cfg.train.split.split("/", 1)
    info = {"seed": cfg.seed, "num_patients": cfg.sim.num_patients, "num_clinics": cfg.sim.num_clinics,
            "embryos_built": built.num_built, "embryos_failed": built.num_failed,
            "split": cfg.train.split, "parts": {part: {"patients": len(v["patient_ids"]), "embryos": len(v["embryo_ids"])}
                                                for part, v in splits[scheme][fold].items()},
            "seconds": {"simulate": round(simulated - start, 1), "build": round(time.perf_counter() - simulated, 1)},
            "machine": machine()}
    marker.write_text(json.dumps(info, indent=1))
    return info


def pretrain_once(cfg: ExperimentConfig, out: Path, recipe: str = PRETRAIN_CONFIG,
                  overrides: list[str] | None = None) -> Path:
    """``aivf pretrain`` of the rows' model on the cohort's training patients, once; returns its final/ folder.

    Args:
        cfg: the rows' config (its model, seed and train.split are used); out: the benchmark folder.
        recipe: the pretraining config file (relative to the checkout unless it exists as given).
        overrides: key=value on top of it (after PRETRAIN_OVERRIDES), e.g. ``train.max_steps=2000``.
    """
    folder, marker = out / "pretrain", out / "pretrain" / "done.json"
    if marker.is_file():
        return folder / "final"
    from aivf.train.loop import train
    from aivf.train.objectives import PretrainObjective
    from aivf.train.pretrain import load_pretrain_config

    shutil.rmtree(folder, ignore_errors=True)  # an unfinished earlier attempt: start again
    path = Path(recipe) if Path(recipe).is_absolute() or Path(recipe).is_file() else ROOT / recipe
    pcfg = load_pretrain_config([path], [*PRETRAIN_OVERRIDES, *(overrides or [])])
    # The model pretrained is the rows' (stem, size, patch, frames), the data the cohort's training patients only.
    pcfg.model = dataclasses.replace(cfg.model, pretrained=None)
    pcfg.seed, pcfg.output_dir, pcfg.name = cfg.seed, str(out), "pretrain"
    pcfg.pretrain.datasets = [str(out / "cohort" / "dataset")]
    pcfg.train.split, pcfg.train.dataset_path = cfg.train.split, ""
    start = time.perf_counter()
    train(pcfg, objective=PretrainObjective())
    fresh_accelerate_state()
    marker.write_text(json.dumps({"seconds": round(time.perf_counter() - start, 1), "split": f"{cfg.train.split}/train",
                                  "recipe": str(path), "overrides": [*PRETRAIN_OVERRIDES, *(overrides or [])],
                                  "steps": pcfg.train.max_steps, "machine": machine()}, indent=1))
    return folder / "final"


def run_row(row: str, cfg_files: list[str], overrides: list[str], cfg: ExperimentConfig, out: Path) -> dict:
    """Train and evaluate one row; returns what goes into its result.json."""
    from aivf.dataset.labels import training_labels
    from aivf.eval.evaluate_cli import evaluate_run
    from aivf.eval.scoring import eval_split
    from aivf.train.loop import train

    row_cfg = load_config(cfg_files, [*overrides, *row_overrides(row, out, cfg)])
    run_dir = Path(row_cfg.output_dir) / row_cfg.name
    lc = row_cfg.train.labels
    labels = training_labels(row_cfg.train.dataset_path, row_cfg.train.split, lc.fraction, lc.seed, lc.truth_csv)
    start = time.perf_counter()
    trained = train(row_cfg)
    fresh_accelerate_state()
    trained_at = time.perf_counter()
    checkpoint = run_dir / ("best" if trained["best"] is not None else "final")
    split = eval_split(row_cfg)
    evaluated = evaluate_run(checkpoint, split=split, out=run_dir / "eval")
    return {"row": row, "status": "done", "labels": labels.summary, "checkpoint": str(checkpoint), "split": split,
            "metrics": str(evaluated["metrics"]), "machine": machine(),
            "seconds": {"train": round(trained_at - start, 1), "evaluate": round(time.perf_counter() - trained_at, 1)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", action="append", default=[], help="more YAML on top of config.yaml")
    parser.add_argument("--rows", help="comma-separated rows (default: all of ROWS)")
    parser.add_argument("--list", action="store_true", help="print the row names and exit")
    parser.add_argument("--pretrain-config", default=PRETRAIN_CONFIG, help="the pretraining recipe (its model "
                        f"section is replaced by the rows'; default {PRETRAIN_CONFIG})")
    parser.add_argument("--pretrain-set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override of the pretraining recipe (repeatable), e.g. train.max_steps=2000")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of every row (and the cohort)")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(ROWS))
        return 0
    cfg_files = [str(HERE / "config.yaml"), *args.config]
    cfg = load_config(cfg_files, args.overrides)
    rows = args.rows.split(",") if args.rows else list(ROWS)
    for row in rows:
        parse_row(row)
    out = Path(cfg.output_dir) / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out, "benchmark_config.yaml")
    cohort = make_cohort(cfg, out)
    print(f"cohort: {cohort['embryos_built']} embryos of {cohort['num_patients']} patients, seed {cohort['seed']}; "
          f"{out / 'cohort'}", flush=True)
    pretrain_error = None
    failed = []
    for row in rows:
        row_dir = out / "rows" / row
        result_path = row_dir / "result.json"
        if result_path.is_file() and json.loads(result_path.read_text()).get("status") == "done":
            print(f"[{row}] done already: {result_path}", flush=True)
            continue
        shutil.rmtree(row_dir, ignore_errors=True)  # a failed or unfinished row starts again (no stale best/)
        start = time.perf_counter()
        try:
            if parse_row(row)[0] == "pretrained":
                if pretrain_error:
                    raise RuntimeError(f"pretraining failed: {pretrain_error}")
                try:
                    pretrain_once(cfg, out, args.pretrain_config, args.pretrain_set)
                except Exception as err:
                    pretrain_error = f"{type(err).__name__}: {err}"
                    fresh_accelerate_state()
                    raise
            print(f"[{row}] training + evaluating", flush=True)
            start = time.perf_counter()  # the row's wall time; the one pretraining has its own (pretrain/done.json)
            result = run_row(row, cfg_files, args.overrides, cfg, out)
        except Exception as err:  # one failed row is recorded; the others go on
            fresh_accelerate_state()
            failed.append(row)
            result = {"row": row, "status": "failed", "error": f"{type(err).__name__}: {err}",
                      "traceback": traceback.format_exc()[-4000:], "machine": machine()}
            print(f"[{row}] FAILED: {result['error']}", file=sys.stderr, flush=True)
        result.setdefault("seconds", {})["total"] = round(time.perf_counter() - start, 1)
        row_dir.mkdir(parents=True, exist_ok=True)
        result_path.write_text(json.dumps(result, indent=1))
        print(f"[{row}] {result['status']} in {result['seconds']['total']:.0f} s: {result_path}", flush=True)
    print(f"table: python {HERE / 'table.py'} {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
