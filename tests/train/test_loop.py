"""The loop's pieces (schedule, groups, EMA, checkpoint files, eval) and an in-process end-to-end toy run."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from train_toy import ToyData, ToyModel

from aivf.config import ConfigError, load_config
from aivf.train.checkpoint import _optimizer_from_flat, _optimizer_to_flat, rng_state, set_rng_state
from aivf.train.ema import EMA
from aivf.train.loop import build_accelerator, evaluate, param_groups, train, train_step, warmup_cosine
from aivf.train.tracking import resolve_wandb_mode


def test_warmup_then_cosine_to_min():
    f = warmup_cosine(warmup_steps=4, max_steps=14, min_lr_ratio=0.1)
    assert [round(f(s), 3) for s in range(4)] == [0.2, 0.4, 0.6, 0.8]
    assert f(4) == pytest.approx(1.0) and f(9) == pytest.approx(0.55) and f(14) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(4, 20))


def test_no_weight_decay_on_biases():
    groups = param_groups(ToyModel(), 0.05, lr=1e-3)
    assert groups[0]["weight_decay"] == 0.05 and all(p.ndim == 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim == 1 for p in groups[1]["params"])
    assert {g["lr"] for g in groups} == {1e-3}


def test_heads_get_their_own_learning_rate():
    from aivf.model import EmbryoModel
    from aivf.model.build import embryo_config
    from aivf.model.config import ModelConfig

    model = EmbryoModel(embryo_config(ModelConfig(image_size=32, num_frames=4, task_head="shared_score")))
    groups = param_groups(model, 0.05, lr=1e-3, head_lr_scale=10.0)
    head_ids = {id(p) for name, p in model.named_parameters() if name.startswith("heads.")}
    for group in groups:
        is_head = {id(p) in head_ids for p in group["params"]}
        assert len(is_head) == 1, "a group mixes head and backbone parameters"
        assert group["lr"] == pytest.approx(1e-2 if is_head.pop() else 1e-3)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_ema_moves_towards_weights_and_swaps_back():
    model = torch.nn.Linear(2, 1)
    ema = EMA(model, decay=0.5)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(2.0)
    ema.update(model)
    assert torch.allclose(ema.shadow["weight"], start + 1.0)
    with ema.applied(model):
        assert torch.allclose(model.weight, start + 1.0)
    assert torch.allclose(model.weight, start + 2.0)


def test_optimizer_state_round_trips_without_pickle():
    model = ToyModel()
    opt = torch.optim.AdamW(param_groups(model, 0.1, 1e-3), lr=1e-3)
    model(**{k: v for k, v in next(ToyData(n_train=8).train_batches(0, 0)).items() if k != "embryo_id"}).loss.backward()
    opt.step()
    tensors, meta = _optimizer_to_flat(opt.state_dict())
    restored = _optimizer_from_flat(tensors, meta)
    for idx, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(restored["state"][idx][key]), torch.as_tensor(value))
    assert restored["param_groups"] == json.loads(json.dumps(opt.state_dict()["param_groups"]))


def test_rng_state_round_trip():
    tensors, meta = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    set_rng_state(tensors, meta)
    assert torch.equal(torch.rand(3), expected[0]) and np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_evaluate_skips_tasks_without_both_classes():
    accelerator = build_accelerator(1, "no")
    model = ToyModel()
    data = ToyData(n_eval=12)
    data.eval["labels"][:, 2] = torch.where(torch.isnan(data.eval["labels"][:, 2]), float("nan"), 1.0)
    metrics, preds = evaluate(model, data.eval_batches(), accelerator)
    assert "auc_euploid" not in metrics and "auc_d3_fhb" in metrics and metrics["n_d3_fhb"] > 0
    assert metrics["auc_mean"] == pytest.approx((metrics["auc_d3_fhb"] + metrics["auc_d5_fhb"]) / 2)
    assert preds["probs"].shape == (12, 3) and len(preds["embryo_id"]) == 12


def test_phase_labels_reach_the_model_in_training_but_not_in_evaluation():
    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.seen = torch.nn.Parameter(torch.zeros(3)), []

        def forward(self, pixel_values, **kwargs):
            self.seen.append(sorted(kwargs))
            logits = self.w.expand(len(pixel_values), 3)
            return type("Out", (), {"loss": logits.sum(), "logits": logits})()

    accelerator, model = build_accelerator(1, "no"), Recorder()
    batch = {"pixel_values": torch.zeros(2, 4, 1, 8, 8), "labels": torch.zeros(2, 3), "embryo_id": ["a", "b"],
             "phase_labels": torch.full((2, 4), -100)}
    train_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.1), accelerator, grad_clip=0.0)
    evaluate(model, iter([batch]), accelerator)
    assert "phase_labels" in model.seen[0] and "phase_labels" not in model.seen[1]


def test_wandb_mode_auto_is_offline_without_login(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    assert resolve_wandb_mode("auto") == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert resolve_wandb_mode("auto") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_wandb_mode("auto") == "disabled" and resolve_wandb_mode("offline") == "offline"


def test_expected_world_size_is_enforced(tmp_path):
    cfg = load_config(None, [f"output_dir={tmp_path}", "train.expected_world_size=2"])
    with pytest.raises(RuntimeError, match="expected_world_size=2 but 1 process"):
        train(cfg, model=ToyModel(), data=ToyData())


def test_unknown_train_key_is_a_config_error():
    with pytest.raises(ConfigError, match="train.learning_rate"):
        load_config(None, ["train.learning_rate=1"])


def test_end_to_end_toy_run_trains_evaluates_checkpoints_and_logs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = load_config(None, [f"output_dir={tmp_path}", "name=toy", "train.max_steps=8", "train.per_device_batch_size=4",
                             "train.grad_accum_steps=2", "train.lr=0.01", "train.warmup_steps=1", "train.eval_every=4",
                             "train.save_every=4", "train.log_every=2", "train.ema_decay=0.5",
                             "train.early_stop_patience=5"])
    torch.manual_seed(0)
    model = ToyModel()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = train(cfg, model=model, data=ToyData())
    run = tmp_path / "toy"
    assert result["step"] == 8 and not math.isnan(result["final"]["auc_mean"])
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["effective_batch_size"] == 8
    assert [r["step"] for r in records if "train/loss" in r] == [2, 4, 6, 8]
    assert [r["step"] for r in records if "val/auc_mean" in r] == [4, 8]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-0000004", "step-0000008"]
    state = json.loads((run / "checkpoints" / "step-0000008" / "state.json").read_text())
    assert (state["step"], state["batches_in_epoch"]) == (8, 16) and state["best"] is not None
    assert not list(run.rglob("*.pkl")) and not list(run.rglob("*.bin"))  # nothing to unpickle
    final = load_file(run / "final" / "model.safetensors")
    assert any(not torch.equal(final[k], start[k]) for k in final)
    assert (run / "best" / "eval_predictions.csv").is_file() and (run / "config.yaml").is_file()
    assert load_config(run / "config.yaml").train.max_steps == 8  # the saved config reproduces the run
    offline = list((run / "wandb").glob("offline-run-*"))
    assert offline and list(offline[0].glob("*.wandb"))


def test_early_stopping_after_patience_evaluations_without_gain(tmp_path):
    cfg = load_config(None, [f"output_dir={tmp_path}", "name=stop", "train.max_steps=20", "train.per_device_batch_size=4",
                             "train.lr=0.0", "train.warmup_steps=0", "train.eval_every=2", "train.save_every=0",
                             "train.early_stop_patience=2", "train.tracker=none", "train.log_images=false"])
    result = train(cfg, model=ToyModel(), data=ToyData())
    assert result["step"] == 6  # eval at 2 sets the best; 4 and 6 bring no gain (lr 0) -> stop
    assert (tmp_path / "stop" / "checkpoints" / "step-0000006" / "state.json").is_file()  # saved on stop


def test_warmup_cosine_scheduler_matches_torch_lambdalr():
    from aivf.train.loop import WarmupCosine

    factor = warmup_cosine(3, 10, 0.1)
    ours = torch.optim.AdamW(param_groups(ToyModel(), 0.1, 0.5), lr=0.5)
    ref = torch.optim.AdamW(param_groups(ToyModel(), 0.1, 0.5), lr=0.5)
    sched, ref_sched = WarmupCosine(ours, factor), torch.optim.lr_scheduler.LambdaLR(ref, factor)
    for _ in range(12):
        assert sched.get_last_lr() == pytest.approx(ref_sched.get_last_lr())
        ref.step()
        sched.step(), ref_sched.step()
    resumed = WarmupCosine(torch.optim.AdamW(param_groups(ToyModel(), 0.1, 0.5), lr=0.5), factor)
    resumed.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert resumed.get_last_lr() == pytest.approx(sched.get_last_lr())


def test_refit_without_an_l2_strength_is_refused(tmp_path):
    cfg = load_config(None, [f"output_dir={tmp_path}", "train.refit_heads=true", "train.refit_l2=[]", "train.tracker=none"])
    with pytest.raises(ValueError, match="train.refit_l2"):
        train(cfg, model=ToyModel(), data=ToyData())


def test_metrics_jsonl_is_strict_json_with_nan_as_null(tmp_path):
    import json

    from aivf.train.tracking import Tracker

    tracker = Tracker(tmp_path, {}, enabled=True, use_wandb=False, project="aivf", name="t")
    tracker.log({"loss": float("nan"), "auc": 0.5, "lr": float("inf")}, step=3)
    tracker.finish()
    line = (tmp_path / "metrics.jsonl").read_text().splitlines()[0]
    assert json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c))) == {
        "step": 3, "loss": None, "auc": 0.5, "lr": None}
