"""experiments/label_efficiency: its config and rows, and two rows end to end through run.py and table.py."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from aivf.config import load_config

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "label_efficiency"


def load(name: str):
    sys.path.insert(0, str(EXPERIMENT))  # table.py imports run.py beside it
    spec = importlib.util.spec_from_file_location(name, EXPERIMENT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


run = load("run")
table = load("table")
validate = load("validate")

# A few-patient cohort: every step runs, nothing is expected to be learned. Pretraining: 2 steps.
TINY = {
    "sim": {"num_patients": 10, "workers": 1, "imaging": {"image_size": 48, "frame_interval_h": 2.0}},
    "data": {"keyframes": {"num_keyframes": 8, "size": 32}},
    "dataset": {"workers": 0, "embryos_per_shard": 16, "splits": {"num_folds": 3}},
    "model": {"num_frames": 8, "image_size": 32},
    "train": {"max_steps": 4, "per_device_batch_size": 4, "warmup_steps": 1, "log_every": 2, "prefetch_batches": 0,
              "refit_bags": 2},
    "eval": {"n_bootstrap": 20, "attribution_embryos": 1},
}
PRETRAIN = ["--pretrain-config", "configs/pretrain_tiny.yaml"] + [
    a for k in ("train.max_steps=2", "train.eval_every=0", "train.save_every=0", "pretrain.eval_batches=1")
    for a in ("--pretrain-set", k)]


def test_the_benchmark_config_is_one_big_cohort_with_the_main_jobs_recipe():
    cfg = load_config([EXPERIMENT / "config.yaml"])
    main = load_config([ROOT / "configs" / "default.yaml"])
    assert cfg.sim.num_patients >= 600 and cfg.sim.num_clinics >= 3 and cfg.seed == 13
    assert cfg.train == main.train and cfg.data == main.data
    # the model it measured: the main job's of 7e720a1 (VideoMAE + conv stem), pinned since the main job moved on
    pinned = {"backbone": "videomae", "conv_stem": 2, "conv_stem_channels": 16, "time_embedding": True}
    model, main_model = asdict(cfg.model), asdict(main.model)
    assert {k: model[k] for k in pinned} == pinned and cfg.dataset.loader.augment.contrast == 0.1
    unpinned = [k for k in model if k not in pinned]
    assert {k: model[k] for k in unpinned} == {k: main_model[k] for k in unpinned}
    assert len(run.ROWS) == 12 and len(set(run.ROWS)) == 12
    header = (EXPERIMENT / "config.yaml").read_text().split("\ndefaults:")[0]
    assert "up to an hour of this 2-core machine" in header and "none tuned" in header


def test_rows_and_their_overrides():
    out = Path("/x")
    cfg = load_config([EXPERIMENT / "config.yaml"])
    keys = run.row_overrides("pretrained-outcome-10", out, cfg)
    assert "model.pretrained=/x/pretrain/final" in keys and "train.labels.fraction=0.1" in keys
    assert set(run.OUTCOME_ONLY) <= set(keys)
    dense = run.row_overrides("scratch-dense-100", out, cfg)
    assert not any(k.startswith("model.") for k in dense)  # dense = the main job's model section, unchanged
    assert "train.labels.truth_csv=/x/cohort/sim/truth.csv" in dense and "train.labels.fraction=1.0" in dense
    # outcome-only is a valid model: no record heads, no phase head, heads on the pooled video feature
    outcome = load_config([EXPERIMENT / "config.yaml"], keys)
    assert outcome.model.aux_tasks == [] and not outcome.model.phase_head and not outcome.model.phase_only_heads
    with pytest.raises(SystemExit, match="unknown row 'pretrained-dense-50'"):
        run.parse_row("pretrained-dense-50")


def test_the_outcome_only_model_at_the_benchmarks_size_trains_on_outcome_labels_alone():
    """Outcome-only at the rows' size (16 keyframes, 64 px, conv stem): a finite loss from outcome labels alone,
    whose gradient reaches the backbone, and no record or phase head."""
    import torch

    from aivf.model import build_model

    cfg = load_config([EXPERIMENT / "config.yaml"], run.OUTCOME_ONLY)
    model = build_model(cfg.model)
    assert model.aux_head is None and not model.config.phase_head and not model.config.phase_only_heads
    torch.manual_seed(0)
    b, k = 4, cfg.model.num_frames
    labels = torch.tensor([[float("nan"), 1.0, float("nan")], [0.0, float("nan"), 1.0], [float("nan")] * 3,
                           [float("nan"), 0.0, 0.0]])
    out = model(pixel_values=torch.randn(b, k, cfg.model.channels, cfg.model.image_size, cfg.model.image_size),
                keyframe_hpi=torch.linspace(10, 116, k).expand(b, k), covariates=torch.zeros(b, 2), labels=labels,
                keyframe_mask=torch.ones(b, k, dtype=torch.bool))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    stem = [p.grad for n, p in model.named_parameters() if "stem" in n and p.grad is not None]
    assert stem and any(g.abs().sum() > 0 for g in stem)  # the outcome labels alone train the backbone


@pytest.mark.slow
def test_two_rows_end_to_end_then_a_rerun_skips_them_and_a_failed_row_is_recorded(tmp_path, monkeypatch, capsys):
    """A 10-patient cohort, scratch+outcome 25% and pretrained+dense 100% through run.py and table.py (~60-90 s)."""
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(ROOT)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY))
    common = ["-c", str(tiny), *PRETRAIN, f"output_dir={tmp_path}"]
    assert run.main([*common, "--rows", "scratch-outcome-25,pretrained-dense-100"]) == 0
    out = tmp_path / "label_efficiency"
    cohort = json.loads((out / "cohort" / "cohort.json").read_text())
    assert cohort["seed"] == 13 and cohort["embryos_built"] > 30 and set(cohort["parts"]) == {"train", "val", "test"}

    # pretraining: once, on the cohort's training patients only (its loader reads <split>/train of splits.json)
    pretrain_cfg = yaml.safe_load((out / "pretrain" / "config.yaml").read_text())
    assert pretrain_cfg["pretrain"]["datasets"] == [str(out / "cohort" / "dataset")]
    assert pretrain_cfg["train"]["split"] == "kfold/0" and pretrain_cfg["model"]["conv_stem"] == 2
    assert (out / "pretrain" / "final" / "conv_stem.safetensors").is_file()

    results = {r: json.loads((out / "rows" / r / "result.json").read_text())
               for r in ("scratch-outcome-25", "pretrained-dense-100")}
    for result in results.values():
        assert result["status"] == "done", result.get("traceback")
        assert result["seconds"]["train"] > 0 and result["machine"]["cores"] >= 1 and result["split"] == "kfold/0/test"
    assert results["scratch-outcome-25"]["labels"]["mode"] == "recorded"
    assert results["pretrained-dense-100"]["labels"]["mode"] == "truth"
    assert results["pretrained-dense-100"]["labels"]["labelled_share"] == 1.0
    outcome_cfg = yaml.safe_load((out / "rows" / "scratch-outcome-25" / "config.yaml").read_text())
    assert outcome_cfg["model"]["aux_tasks"] == [] and outcome_cfg["model"]["phase_head"] is False
    assert outcome_cfg["model"]["pretrained"] is None
    logs = [json.loads(line) for line in (out / "rows" / "scratch-outcome-25" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in logs if "train/loss" in r]
    assert losses and all(math.isfinite(x) for x in losses)  # outcome-only trains
    dense_cfg = yaml.safe_load((out / "rows" / "pretrained-dense-100" / "config.yaml").read_text())
    assert dense_cfg["model"]["pretrained"] == str(out / "pretrain" / "final") and dense_cfg["model"]["aux_tasks"]

    assert table.main([str(out)]) == 0
    text = (out / "table.md").read_text()
    for needle in ("| scratch-outcome-25 | 25% (", "| pretrained-dense-100 | 100% (100.0%)", "| Bayes (same embryos) |",
                   "| morphology proxy (same embryos) |", "Target (pretrained-dense-25): not run yet", "none tuned",
                   "Not run: scratch-outcome-10"):
        assert needle in text, needle

    # choosing between variants: the rows' validation metrics side by side (validate.py); test is not read
    from aivf.eval.evaluate_cli import evaluate_run

    for row in ("scratch-outcome-25", "pretrained-dense-100"):
        evaluate_run(out / "rows" / row, split="kfold/0/val", out=tmp_path / "val" / row)
    capsys.readouterr()
    assert validate.main([f"a={tmp_path / 'val' / 'scratch-outcome-25'}", f"b={tmp_path / 'val' / 'pretrained-dense-100'}"]) == 0
    printed = capsys.readouterr().out
    assert "kfold/0/val" in printed and "WARNING" not in printed
    for needle in ("| a | ", "| b | ", "| Bayes (same embryos) |", "| morphology proxy (same embryos) |"):
        assert needle in printed, needle

    # rerun: the done row is skipped; a row that fails is recorded and the run goes on (exit status 1)
    capsys.readouterr()

    def broken(row, *args):
        raise RuntimeError(f"row {row} broke on purpose")

    monkeypatch.setattr(run, "run_row", broken)
    assert run.main([*common, "--rows", "scratch-dense-10,scratch-outcome-25"]) == 1
    printed = capsys.readouterr().out
    assert "[scratch-outcome-25] done already" in printed
    failed = json.loads((out / "rows" / "scratch-dense-10" / "result.json").read_text())
    assert failed["status"] == "failed" and "broke on purpose" in failed["error"]
    assert json.loads((out / "rows" / "scratch-outcome-25" / "result.json").read_text()) == results["scratch-outcome-25"]
    assert "Failed rows: scratch-dense-10: RuntimeError: row scratch-dense-10 broke on purpose" in table.render(out)


def test_validate_names_what_is_missing(tmp_path):
    with pytest.raises(SystemExit, match="no metrics.json; run aivf evaluate"):
        validate.load(f"mask0.75={tmp_path}")
    with pytest.raises(SystemExit, match="give label=folder"):
        validate.load(str(tmp_path))
