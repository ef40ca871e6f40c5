"""The whole journey in one readable function: simulate -> build -> train -> evaluate -> rank.

``run_pipeline(cfg)`` calls each stage's public Python API in order, with the paths of
docs/architecture.md, and writes everything under ``<output_dir>/<name>/``::

    sim/            the simulated cohort (clinical.csv, truth.csv, videos/)        aivf.sim.simulate
    dataset/        parquet shards, splits.json, dataset card                      aivf.dataset.build_dataset
    best/ final/    trained checkpoints (+ metrics.jsonl, config.yaml)             aivf.train.loop.train
    eval/           metrics.json, predictions.csv, report.html                     aivf.eval.evaluate_cli.evaluate_run
    rank/           ranked.csv, ranked.html: the held-out patients' ranked embryos aivf.eval.rank_cli.rank_cohort
    pipeline.json   wall-clock seconds of every stage and where each output is

It is what ``aivf run -c configs/default.yaml`` does, and what notebooks/walkthrough.ipynb does
step by step. Training reads only clinical.csv labels; truth.csv is read by evaluation alone (and, in simulation
only, by training with ``train.labels.fraction=1.0``: every embryo's potential outcome, docs/training.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aivf.config import ConfigError, ExperimentConfig, save_config

STAGES = ("simulate", "build", "train", "evaluate", "rank")


@dataclass
class PipelineResult:
    """Where one run of the pipeline put its outputs and how long each stage took."""

    run_dir: Path  # <output_dir>/<name>
    report: Path | None = None  # eval/report.html
    metrics: Path | None = None  # eval/metrics.json
    ranked_csv: Path | None = None  # rank/ranked.csv
    ranked_html: Path | None = None  # rank/ranked.html
    checkpoint: Path | None = None  # the weights evaluated and used for ranking (best/ or final/)
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall-clock seconds
    summary: dict[str, Any] = field(default_factory=dict)  # headline numbers of the report


def check_consistent(cfg: ExperimentConfig) -> None:
    """Fail before any work if the dataset's keyframes cannot feed the model (a mismatch would fail in train).

    Raises:
        ConfigError: naming both keys and the value to set.
    """
    kf, model = cfg.data.keyframes, cfg.model
    pairs = [("data.keyframes.num_keyframes", kf.num_keyframes, "model.num_frames", model.num_frames),
             ("data.keyframes.size", kf.size, "model.image_size", model.image_size),
             ("dataset.num_planes", cfg.dataset.num_planes, "model.channels", model.channels)]
    for key_a, a, key_b, b in pairs:
        if a != b:
            raise ConfigError(f"{key_a}={a} but {key_b}={b}: the model reads what the dataset stores; set both "
                              f"to the same value (e.g. {key_b}={a})")
    if cfg.train.dataset_path or cfg.dataset.clinical_csv:
        raise ConfigError("train.dataset_path / dataset.clinical_csv are set, but aivf run trains on the cohort it "
                          "simulates; leave them empty (use aivf build / aivf train for other data)")
    if cfg.sim.format == "none":
        raise ConfigError("sim.format=none writes no recordings, so there is nothing to train on; use mp4 or gomez")


def _stage(index: int, name: str, what: str) -> float:
    print(f"\n[{index}/{len(STAGES)}] {name}: {what}", flush=True)
    return time.perf_counter()


def _done(result: PipelineResult, name: str, start: float, line: str) -> None:
    result.seconds[name] = round(time.perf_counter() - start, 1)
    print(f"[{name}] {line} ({result.seconds[name]:.0f} s)", flush=True)


def run_pipeline(cfg: ExperimentConfig, progress: bool = True) -> Path:
    """Simulate a cohort, build its dataset, train a model, evaluate it and rank the held-out cohorts.

    Args:
        cfg: the resolved experiment config (``aivf.config.load_config``); every section is used.
        progress: show the stages' progress bars.

    Returns:
        The path of report.html. Everything else (ranked cohort, checkpoint, per-stage seconds,
        headline numbers) is in ``<run>/pipeline.json``; read it back with :func:`read_result`.
    """
    from aivf.dataset.build import BuildError, build_dataset, nothing_usable
    from aivf.dataset.cli import resolve_paths
    from aivf.eval.evaluate_cli import evaluate_run
    from aivf.eval.rank_cli import rank_cohort
    from aivf.eval.scoring import eval_split
    from aivf.sim.cli import cohort_dir
    from aivf.sim.simulate import simulate
    from aivf.train.loop import train

    check_consistent(cfg)
    run_dir = Path(cfg.output_dir) / cfg.name
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir)
    result = PipelineResult(run_dir=run_dir)
    total = time.perf_counter()

    start = _stage(1, "simulate", f"{cfg.sim.num_patients} patients in {cfg.sim.num_clinics} clinics, "
                   f"{cfg.sim.imaging.image_size} px {cfg.sim.format} recordings")
    sim_dir = cohort_dir(cfg.output_dir, cfg.name, cfg.sim.output)
    simulate(cfg.sim, sim_dir, cfg.seed, experiment=cfg, progress=progress)
    _done(result, "simulate", start, f"cohort in {sim_dir}")

    start = _stage(2, "build", f"{cfg.data.keyframes.num_keyframes} keyframes of {cfg.data.keyframes.size} px "
                   f"per embryo -> parquet shards + patient-grouped splits")
    clinical_csv, dataset_path = resolve_paths(cfg, None, None)
    try:
        built = build_dataset(cfg.dataset, clinical_csv, dataset_path, cfg.data)
    except BuildError as err:  # e.g. a dataset of another config in the way: the message says what to do
        raise ConfigError(f"build: {err}") from None
    failed = f", {built.num_failed} not built (see {dataset_path}/build_report.csv)" if built.num_failed else ""
    _done(result, "build", start, f"{built.num_built} embryos in {dataset_path}{failed}")
    problem = nothing_usable(built)  # the same check as aivf build's exit status: train would have nothing
    if problem:
        raise BuildError(problem)

    start = _stage(3, "train", f"{cfg.model.backbone}-{cfg.model.size} for {cfg.train.max_steps} steps on "
                   f"'{cfg.train.split}/train', best by {cfg.train.best_metric} on '{cfg.train.split}/val'")
    trained = train(cfg)
    # best/ exists only if some evaluation gave a finite best_metric; a stale best/ of an earlier run must not win.
    result.checkpoint = run_dir / ("best" if trained["best"] is not None else "final")
    _done(result, "train", start, f"{trained['step']} steps, best {cfg.train.best_metric} = "
          f"{_fmt(trained['best'])}; evaluating {result.checkpoint}")

    split = eval_split(cfg)
    start = _stage(4, "evaluate", f"held-out split '{split}': clinical metrics with patient-bootstrap CIs, "
                   "transfers per pregnancy, report")
    evaluated = evaluate_run(result.checkpoint, split=split, out=run_dir / "eval")
    result.report, result.metrics = Path(evaluated["report"]), Path(evaluated["metrics"])
    result.summary = summarize(evaluated["result"])
    _done(result, "evaluate", start, f"report in {result.report}")

    start = _stage(5, "rank", f"rank each held-out patient's embryos by calibrated P({cfg.eval.rank_by})")
    ranked = rank_cohort(result.checkpoint, dataset_path, split=split, out=run_dir / "rank")
    result.ranked_csv, result.ranked_html = Path(ranked["csv"]), Path(ranked["html"])
    _done(result, "rank", start, f"{len(ranked['table'])} embryos ranked")

    result.seconds["total"] = round(time.perf_counter() - total, 1)
    (run_dir / "pipeline.json").write_text(json.dumps({
        "seconds": result.seconds, "summary": result.summary, "checkpoint": str(result.checkpoint),
        "report": str(result.report), "metrics": str(result.metrics), "ranked_csv": str(result.ranked_csv),
        "ranked_html": str(result.ranked_html)}, indent=1))
    print_summary(result)
    return result.report


def read_result(run_dir: str | Path) -> dict[str, Any]:
    """The ``pipeline.json`` of a finished run: stage seconds, headline numbers and output paths."""
    path = Path(run_dir) / "pipeline.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; run the pipeline first (aivf run -c configs/default.yaml)")
    return json.loads(path.read_text())


def summarize(evaluated: dict) -> dict[str, Any]:
    """Headline numbers of an ``analyze`` result: per-task AUC [95% CI] and transfers per pregnancy."""
    out: dict[str, Any] = {"n_embryos": evaluated.get("n_embryos"), "n_patients": evaluated.get("n_patients"),
                           "auc": {}, "transfers_per_pregnancy": {}}
    for task, entry in evaluated.get("tasks", {}).items():
        auc = entry["metrics"]["auc"]
        out["auc"][task] = {"n": entry["n"], "n_pos": entry["n_pos"], "value": auc["value"], "low": auc["low"],
                            "high": auc["high"]}
    for name, row in evaluated.get("transfers", {}).get("orderings", {}).items():
        out["transfers_per_pregnancy"][name] = {k: row.get(k) for k in ("value", "low", "high", "diff", "diff_low",
                                                                        "diff_high", "vs_model", "rank_agreement",
                                                                        "potential_auc")}
    every = evaluated.get("all_embryos")
    if every:
        out["all_embryos"] = {
            "tasks": {task: {k: t[k] for k in ("auc", "bayes_auc", "ece", "bayes_ece", "n_excluded_shown_high",
                                               "n_excluded", "mean_shown_non_transferable")}
                      for task, t in every["tasks"].items()},
            "top1_usable": {name: o["top1_usable"] for name, o in every["orderings"].items()},
            "top1_usable_day5": {name: o.get("top1_usable_day5") for name, o in every["orderings"].items()},
        }
    return out


def _fmt(x: Any, digits: int = 3) -> str:
    return "n/a" if x is None or x != x else f"{x:.{digits}f}"  # x != x: NaN


def print_summary(result: PipelineResult) -> None:
    """The closing printout: what the model achieved and where the report and ranked cohort are."""
    s = result.summary
    print(f"\n=== aivf run: done in {result.seconds.get('total', 0):.0f} s "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in result.seconds.items() if k != 'total')})")
    print(f"held-out test split: {s.get('n_embryos')} embryos of {s.get('n_patients')} patients")
    every = s.get("all_embryos")
    if every:
        top1 = every["top1_usable"]
        print("  every embryo (simulated truth): top-1 usable rate "
              + ", ".join(f"{name} {_fmt(v)}" for name, v in top1.items())
              + "; among day-5 candidates (recording reaches day 5): "
              + ", ".join(f"{name} {_fmt(v)}" for name, v in every.get("top1_usable_day5", {}).items()))
        for task, t in every["tasks"].items():
            print(f"  every embryo {task:8s} AUC {_fmt(t['auc']['value'])} [{_fmt(t['auc']['low'])}, "
                  f"{_fmt(t['auc']['high'])}] (Bayes {_fmt(t['bayes_auc'])})  ECE {_fmt(t['ece'])} (Bayes "
                  f"{_fmt(t['bayes_ece'])})  Bayes<0.05 shown>0.5: {t['n_excluded_shown_high']}/{t['n_excluded']}")
    for task, a in s.get("auc", {}).items():
        print(f"  AUC {task:8s} {_fmt(a['value'])} [{_fmt(a['low'])}, {_fmt(a['high'])}]  "
              f"(n={a['n']} known outcomes, {a['n_pos']} positive; chance = 0.5)")
    for name, t in s.get("transfers_per_pregnancy", {}).items():
        line = f"  transfers per pregnancy, {name:10s} {_fmt(t['value'], 2)} [{_fmt(t['low'], 2)}, {_fmt(t['high'], 2)}]"
        if name != "random" and t.get("diff") is not None:
            line += f"  minus random {t['diff']:+.2f} [{_fmt(t['diff_low'], 2)}, {_fmt(t['diff_high'], 2)}]"
        agree = t.get("rank_agreement") or {}
        if name not in ("random", "bayes") and agree.get("value") is not None:
            line += f"  rank agreement with Bayes {_fmt(agree['value'], 2)} [{_fmt(agree['low'], 2)}, {_fmt(agree['high'], 2)}]"
        pauc = t.get("potential_auc") or {}
        if name not in ("random", "hindsight") and pauc.get("value") is not None:
            line += f"  potential-outcome AUC {_fmt(pauc['value'])} [{_fmt(pauc['low'])}, {_fmt(pauc['high'])}]"
        print(line)
    print(f"report:         {result.report}")
    print(f"ranked cohort:  {result.ranked_csv}  (page: {result.ranked_html})")
    print(f"checkpoint:     {result.checkpoint}")
