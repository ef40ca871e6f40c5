"""The training loop: one file, read top to bottom. ``train(cfg)`` builds everything; ``train_step`` and
``evaluate`` take explicit arguments.

The same code runs on 1 CPU process, ``accelerate launch`` with 2 gloo processes, N GPUs with DDP and
DeepSpeed ZeRO-2/3; what differs is the launch config (configs/accelerate/, docs/training.md).
Each optimizer step sees ``per_device_batch_size x grad_accum_steps x num_processes`` clips, and the
update is the same however that product is split (tests/train/test_accumulation.py proves it).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import GradientAccumulationPlugin, InitProcessGroupKwargs, send_to_device, set_seed
from scipy.special import expit
from tqdm.auto import tqdm

from aivf.config import save_config
from aivf.train.checkpoint import latest_checkpoint, load_checkpoint, prune_checkpoints, save_checkpoint
from aivf.train.ema import EMA
from aivf.train.tracking import Tracker, keyframe_strip_figure, roc_and_calibration_figure

TASKS = ("d3_fhb", "d5_fhb", "euploid")  # label columns (docs/architecture.md, training batch)
MODEL_INPUTS = ("pixel_values", "keyframe_hpi", "keyframe_mask", "covariates", "labels", "phase_labels", "aux_labels")


class TrainData(Protocol):
    """What the loop needs from the data: deterministic, per-rank, resumable micro-batch streams."""

    def train_batches(self, epoch: int, skip: int):
        """This rank's micro-batches of ``epoch`` (same order for the same seed), after the first ``skip``."""

    def eval_batches(self):
        """This rank's share of the validation micro-batches."""


def build_accelerator(grad_accum_steps: int, mixed_precision: str) -> Accelerator:
    """An Accelerator whose accumulation count cannot be silently changed by the launcher.

    Passing a GradientAccumulationPlugin (instead of ``gradient_accumulation_steps=``) stops
    ``ACCELERATE_GRADIENT_ACCUMULATION_STEPS`` from a launch config overriding ours. On CPU the
    process group must be gloo and ``cpu=True``, else a 2-process launch runs unsynchronised
    copies or DeepSpeed believes it has one process (../shared/docs/stack-notes.md).
    """
    cuda = torch.cuda.is_available()
    # Forcing a backend outside a distributed launch makes accelerate query a missing process group.
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    launched = "WORLD_SIZE" in os.environ or deepspeed
    if mixed_precision == "auto":
        mixed_precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    return Accelerator(
        cpu=not cuda and not deepspeed,  # cpu=True would silently switch DeepSpeed off
        mixed_precision=mixed_precision,
        gradient_accumulation_plugin=GradientAccumulationPlugin(num_steps=grad_accum_steps, sync_with_dataloader=False),
        kwargs_handlers=[InitProcessGroupKwargs(backend="gloo")] if not cuda and launched else [],
    )


def configure_deepspeed(accelerator: Accelerator, batch_size: int, grad_accum_steps: int, grad_clip: float) -> None:
    """Write our batch size, accumulation and clipping into the DeepSpeed config before ``prepare``.

    accelerate otherwise takes DeepSpeed's ``gradient_accumulation_steps`` (often 1 in a launch
    file) over ours with only a log warning: the upstream "accumulation silently reset" bug.
    """
    plugin = accelerator.state.deepspeed_plugin
    if plugin is None:
        return
    plugin.deepspeed_config.update({
        "gradient_accumulation_steps": grad_accum_steps,
        "train_micro_batch_size_per_gpu": batch_size,
        "train_batch_size": batch_size * grad_accum_steps * accelerator.num_processes,
        "gradient_clipping": grad_clip,
    })
    accelerator.gradient_accumulation_steps = grad_accum_steps


def param_groups(model: torch.nn.Module, weight_decay: float, lr: float,
                 head_lr_scale: float = 1.0) -> list[dict]:
    """AdamW groups: no weight decay on biases, norms and embeddings-like 1-D parameters; the task heads
    (``heads.*``) at ``lr * head_lr_scale``."""
    groups = {(decay, head): [] for decay in (True, False) for head in (True, False)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            groups[(p.ndim >= 2, name.startswith("heads."))].append(p)
    return [{"params": params, "weight_decay": weight_decay if decay else 0.0, "lr": lr * (head_lr_scale if head else 1.0)}
            for (decay, head), params in groups.items() if params]


def use_fused_adamw(requested: bool, device_type: str, deepspeed: bool) -> bool:
    """Whether to ask torch for its fused AdamW kernel: on CUDA and outside DeepSpeed only.

    torch also has a fused CPU kernel, but CPU runs keep the default implementation that every CPU
    test and result so far was made with; DeepSpeed ZeRO steps the optimizer on its own flat fp32
    partitions, so the bench measures it with the default implementation.
    """
    return requested and device_type == "cuda" and not deepspeed


def warmup_cosine(warmup_steps: int, max_steps: int, min_lr_ratio: float):
    """LR multiplier per optimizer step: linear 0->1 over warmup, then cosine 1->min_lr_ratio."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = min((step - warmup_steps) / max(max_steps - warmup_steps, 1), 1.0)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return factor


class WarmupCosine:
    """Sets every group's lr to ``base_lr x factor(step)`` on the optimizer that really steps.

    Not a torch LambdaLR on our AdamW: under ZeRO offload accelerate swaps in DeepSpeedCPUAdam (not a
    torch Optimizer), and a scheduler holding our original AdamW would silently stop changing the LR.
    Same values as LambdaLR: factor(0) before the first step, factor(n) after n steps.
    """

    def __init__(self, optimizer, factor):
        self.optimizer, self.factor, self.step_count = optimizer, factor, 0
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self._apply()

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * self.factor(self.step_count)

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"step_count": self.step_count, "base_lrs": self.base_lrs}

    def load_state_dict(self, state: dict) -> None:
        self.step_count, self.base_lrs = state["step_count"], state["base_lrs"]
        self._apply()


def train_step(model, batch: dict, optimizer, accelerator: Accelerator, grad_clip: float,
               inputs: tuple[str, ...] = MODEL_INPUTS):
    """One micro-batch: forward, backward, and on the last micro-batch of a window clip + step.

    ``inputs`` are the batch keys the model's training forward takes (the objective's ``inputs``).

    Returns:
        (loss: 0-d tensor of this micro-batch, stepped: whether the optimizer stepped, grad_norm or None).
    """
    with accelerator.accumulate(model):
        output = model(**{k: batch[k] for k in inputs if k in batch})
        # accelerate divides by the accumulation count here (DDP) or lets DeepSpeed do it (never both).
        accelerator.backward(output.loss)
        grad_norm = None
        if accelerator.sync_gradients:
            if grad_clip > 0:  # under DeepSpeed the engine already clipped; this only reads the norm
                grad_norm = accelerator.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return output.loss.detach(), accelerator.sync_gradients, grad_norm


@torch.no_grad()
def evaluate(model, batches, accelerator: Accelerator, tasks: tuple[str, ...] = TASKS) -> tuple[dict, dict]:
    """Per-task AUC (tasks lacking both classes are skipped) and masked BCE over every rank's share.

    Returns:
        (metrics, predictions) where predictions = {"embryo_id": [N], "probs": (N, T), "labels": (N, T)}.
    """
    from sklearn.metrics import roc_auc_score

    model.eval()
    plugin = accelerator.state.deepspeed_plugin
    lockstep = plugin is not None and plugin.zero_stage == 3  # every forward gathers weights from all ranks
    local: list[tuple[list, np.ndarray, np.ndarray]] = []
    stream, last = iter(batches), None
    while True:
        batch = next(stream, None)
        if lockstep:  # ranks with fewer batches repeat their last one (output dropped) until all are done
            more = accelerator.reduce(torch.tensor([float(batch is not None)], device=accelerator.device), "sum")
            if more.item() == 0:
                break
            if batch is None and last is None:
                raise RuntimeError("ZeRO-3 evaluation: this rank got no validation batch; use fewer processes")
        elif batch is None:
            break
        inputs = send_to_device(batch if batch is not None else last, accelerator.device)
        logits = model(**{k: inputs[k] for k in MODEL_INPUTS if k in inputs and k not in ("labels", "phase_labels", "aux_labels")}).logits
        if batch is not None:
            last = batch
            ids = inputs.get("embryo_id", [""] * len(logits))
            local.append((list(ids), logits.float().cpu().numpy(), inputs["labels"].float().cpu().numpy()))
    model.train()
    # Ranks may hold different numbers of batches: gather Python objects once, not tensors per batch.
    gathered = accelerator.gather_for_metrics(local, use_gather_object=True)
    ids = [i for part in gathered for i in part[0]]
    logits = np.concatenate([part[1] for part in gathered]) if gathered else np.zeros((0, len(tasks)))
    labels = np.concatenate([part[2] for part in gathered]) if gathered else np.zeros((0, len(tasks)))
    probs = expit(logits)
    metrics: dict[str, float] = {}
    aucs, losses = [], []
    for t, task in enumerate(tasks):
        seen = ~np.isnan(labels[:, t])
        y, z = labels[seen, t], logits[seen, t]
        metrics[f"n_{task}"] = int(seen.sum())
        if seen.any():  # numerically stable BCE with logits
            losses.append(float(np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))))
        if len(np.unique(y)) == 2:
            metrics[f"auc_{task}"] = float(roc_auc_score(y, z))
            aucs.append(metrics[f"auc_{task}"])
    metrics["auc_mean"] = float(np.mean(aucs)) if aucs else float("nan")
    metrics["loss"] = float(np.mean(losses)) if losses else float("nan")
    return metrics, {"embryo_id": ids, "probs": probs, "labels": labels}


def save_weights(folder: Path, accelerator: Accelerator, model, ema: EMA | None, extra: dict[str, Any]) -> None:
    """Export loadable weights (safetensors; ``save_pretrained`` when the model has it). Collective."""
    unwrapped = accelerator.unwrap_model(model)
    if ema is not None:
        with ema.applied(unwrapped):
            state_dict = {k: v.clone() for k, v in accelerator.get_state_dict(model).items()}
    else:
        state_dict = accelerator.get_state_dict(model)  # gathers ZeRO-3 shards on every rank
    if accelerator.is_main_process:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if hasattr(unwrapped, "save_pretrained"):
            unwrapped.save_pretrained(folder, state_dict=state_dict, safe_serialization=True)
        else:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in state_dict.items()}, folder / "model.safetensors")
        for name, write in extra.items():
            write(folder / name)
    accelerator.wait_for_everyone()


def _write_predictions(preds: dict, tasks: tuple[str, ...]):
    def write(path: Path) -> None:
        import pandas as pd

        table = pd.DataFrame({"embryo_id": preds["embryo_id"]})
        for t, task in enumerate(tasks):
            table[f"prob_{task}"], table[f"label_{task}"] = preds["probs"][:, t], preds["labels"][:, t]
        table.to_csv(path, index=False)
    return write


def refit_final_heads(accelerator: Accelerator, model, data: TrainData, tracker: Tracker, step: int, tc) -> None:
    """``train.refit_heads``: solve the task heads on frozen features, the same on every rank (aivf/train/refit.py)."""
    from aivf.train.refit import refit_heads

    plugin = accelerator.state.deepspeed_plugin
    if plugin is not None and plugin.zero_stage == 3:
        raise ValueError("train.refit_heads is not supported under ZeRO-3 (the heads are partitioned across ranks)")
    if not hasattr(data, "split_batches"):
        raise ValueError(f"train.refit_heads: {type(data).__name__} cannot list a split's batches (split_batches)")
    unwrapped = accelerator.unwrap_model(model)
    batches = {part: (send_to_device(b, accelerator.device) for b in data.split_batches(part)) for part in ("train", "val")}
    report = refit_heads(unwrapped, batches["train"], batches["val"], grid=list(tc.refit_l2), bags=tc.refit_bags,
                         scale_on_val=tc.refit_scale_on_val)
    tasks = list(unwrapped.config.tasks)
    refused = [tasks[t] for t in report.get("refused", [])]
    if "skipped" in report:
        accelerator.print(f"train.refit_heads skipped: {report['skipped']} ({report['train_labels_per_task']} "
                          "training labels per task); the heads stay as trained")
        return
    if refused:
        accelerator.print(f"train.refit_heads: too few training labels to refit {refused}; they keep the loop's terms")
    if accelerator.num_processes > 1:  # identical already on CPU; rank 0's copy wins against GPU nondeterminism
        for p in unwrapped.heads.parameters():
            torch.distributed.broadcast(p.data, src=0)
    model.train()
    accelerator.print(f"refitted the task heads on frozen features ({tc.refit_bags or 1} fit(s)): l2 = {report['l2']}, validation loss "
                      f"{report['val_loss_before']:.4f} -> {report['val_loss_after']:.4f} "
                      f"({report['train_labels_per_task']} training labels per task)")
    tracker.log({"refit/l2": report["l2"] if report["l2"] is not None else float("nan"),
                 "refit/val_loss_before": report["val_loss_before"],
                 "refit/val_loss_after": report["val_loss_after"]}, step=step)


def build_model_and_data(cfg, accelerator: Accelerator) -> tuple[torch.nn.Module, TrainData]:
    """The real EmbryoModel and dataset streams (aivf.model, aivf.dataset)."""
    from aivf.model import build_model
    from aivf.train.data import build_train_data

    return build_model(cfg.model), build_train_data(cfg, accelerator)


class SupervisedObjective:
    """What the loop trains for: the embryo tasks (the default). ``aivf pretrain`` passes another objective
    (aivf/train/objectives.py) with the same members; everything else in the loop is shared."""

    inputs = MODEL_INPUTS  # batch keys the training forward takes
    supports_refit = True  # train.refit_heads applies

    def build(self, cfg, accelerator: Accelerator) -> tuple[torch.nn.Module, TrainData]:
        return build_model_and_data(cfg, accelerator)

    def evaluate(self, model, batches, accelerator: Accelerator) -> tuple[dict, dict]:
        return evaluate(model, batches, accelerator)

    def log_eval(self, outputs: dict, tracker: Tracker, step: int, run_dir: Path) -> None:
        """Figures of one evaluation (main process, ``train.log_images``)."""
        if len(outputs["probs"]):
            tracker.log_figures({"val/roc_calibration": roc_and_calibration_figure(
                outputs["probs"], outputs["labels"], TASKS)}, step=step)

    def best_files(self, outputs: dict) -> dict[str, Any]:
        """Extra files written into ``best/`` beside the weights: name -> writer(path)."""
        return {"eval_predictions.csv": _write_predictions(outputs, TASKS)}


def train(cfg, model: torch.nn.Module | None = None, data: TrainData | None = None,
          objective: Any = None) -> dict[str, Any]:
    """Train, evaluate, checkpoint and track one run described by an ExperimentConfig.

    Args:
        cfg: the resolved ExperimentConfig (sections ``train``, ``model``, dataset, ``seed``, ``name``).
        model, data: optional ready-made model and :class:`TrainData` (tests); default: built from cfg.
        objective: what is trained and evaluated (:class:`SupervisedObjective` by default; ``aivf pretrain``
            passes ``aivf.train.objectives.PretrainObjective``).

    Returns:
        {"step", "best", "final": last eval metrics, "run_dir"}.
    """
    tc = cfg.train
    objective = objective or SupervisedObjective()
    run_dir = Path(cfg.output_dir) / cfg.name
    accelerator = build_accelerator(tc.grad_accum_steps, tc.mixed_precision)
    world = accelerator.num_processes
    if tc.expected_world_size and world != tc.expected_world_size:
        raise RuntimeError(
            f"train.expected_world_size={tc.expected_world_size} but {world} process(es) are running: the "
            "launch did not start what was asked (see docs/training.md for the working CPU/GPU commands).")
    set_seed(cfg.seed)  # same initial weights on every rank; data order is seeded separately by epoch
    if model is None or data is None:
        built_model, built_data = objective.build(cfg, accelerator)
        model, data = model or built_model, data or built_data
    deepspeed = accelerator.distributed_type.name == "DEEPSPEED"
    fused = use_fused_adamw(tc.fused_adamw, accelerator.device.type, deepspeed)
    if tc.fused_adamw and not fused:
        accelerator.print(f"train.fused_adamw: fused AdamW is used on CUDA without DeepSpeed only; this run "
                          f"({accelerator.device.type}{', DeepSpeed' if deepspeed else ''}) uses torch's default AdamW")
    optimizer = torch.optim.AdamW(param_groups(model, tc.weight_decay, tc.lr, tc.head_lr_scale), lr=tc.lr,
                                  betas=(tc.beta1, tc.beta2), fused=fused)
    if tc.compile:  # in place (nn.Module.compile): no _orig_mod. prefix in state dicts and checkpoints
        model.compile()
    configure_deepspeed(accelerator, tc.per_device_batch_size, tc.grad_accum_steps, tc.grad_clip)
    model, optimizer = accelerator.prepare(model, optimizer)
    # Not prepared by accelerate, which would step it once per process per optimizer step.
    scheduler = WarmupCosine(optimizer, warmup_cosine(tc.warmup_steps, tc.max_steps, tc.min_lr_ratio))
    if deepspeed and model.gradient_accumulation_steps() != tc.grad_accum_steps:
        raise RuntimeError(f"DeepSpeed uses {model.gradient_accumulation_steps()} accumulation steps, config asks "
                           f"{tc.grad_accum_steps}: remove gradient_accumulation_steps from the DeepSpeed config")
    if deepspeed and tc.ema_decay > 0 and accelerator.state.deepspeed_plugin.zero_stage == 3:
        raise ValueError("train.ema_decay > 0 is not supported under ZeRO-3 (weights are partitioned across "
                         "ranks): set train.ema_decay=0 or use ZeRO-2 (configs/accelerate/deepspeed_zero2.yaml)")
    if tc.refit_heads and not objective.supports_refit:
        raise ValueError(f"train.refit_heads: {type(objective).__name__} has no task heads to refit; set it false")
    if tc.refit_heads and tc.ema_decay > 0:
        raise ValueError("train.refit_heads with train.ema_decay > 0: the refit would solve the live heads while "
                         "evaluation swaps in the averaged ones; set one of them off")
    if tc.refit_heads and (not tc.refit_l2 or min(tc.refit_l2) < 0):
        raise ValueError(f"train.refit_l2={list(tc.refit_l2)}: give one or more L2 strengths >= 0, e.g. [1e-4]")
    if tc.refit_bags < 0:
        raise ValueError(f"train.refit_bags={tc.refit_bags}: give 0 (one fit) or the number of bootstrap fits, e.g. 30")
    ema = EMA(accelerator.unwrap_model(model), tc.ema_decay) if tc.ema_decay > 0 else None
    effective = tc.per_device_batch_size * tc.grad_accum_steps * world
    accelerator.print(f"effective batch = {tc.per_device_batch_size} per device x {tc.grad_accum_steps} accumulation "
                      f"x {world} processes = {effective} clips per optimizer step "
                      f"({accelerator.distributed_type.name}, {accelerator.mixed_precision})")

    state = {"step": 0, "epoch": 0, "batches_in_epoch": 0, "best": None, "bad_evals": 0, "tracker_id": None}
    resume_from = latest_checkpoint(run_dir) if tc.resume == "auto" else (Path(tc.resume) if tc.resume else None)
    if resume_from is not None:
        state = load_checkpoint(resume_from, accelerator, model, optimizer, scheduler, ema, run_dir=run_dir)
        accelerator.print(f"resumed from {resume_from} at step {state['step']}")
    if accelerator.is_main_process:
        save_config(cfg, run_dir)
    config_dict = asdict(cfg) if is_dataclass(cfg) else dict(cfg)
    tracker = Tracker(run_dir, config_dict, enabled=accelerator.is_main_process, use_wandb=tc.tracker == "wandb",
                      project=tc.wandb_project, name=cfg.name, mode=tc.wandb_mode, run_id=state["tracker_id"])
    state["tracker_id"] = tracker.run_id
    tracker.log({"effective_batch_size": effective, "world_size": world}, step=state["step"])

    def run_eval_and_maybe_keep_best() -> dict:
        unwrapped = accelerator.unwrap_model(model)
        if ema is not None and tc.eval_with_ema:
            with ema.applied(unwrapped):
                metrics, preds = objective.evaluate(model, data.eval_batches(), accelerator)
        else:
            metrics, preds = objective.evaluate(model, data.eval_batches(), accelerator)
        tracker.log({f"val/{k}": v for k, v in metrics.items()}, step=state["step"])
        if tc.log_images and accelerator.is_main_process:
            objective.log_eval(preds, tracker, state["step"], run_dir)
        value, best = metrics.get(tc.best_metric, float("nan")), state["best"]
        better = not math.isnan(value) and (best is None or (value > best if tc.best_mode == "max" else value < best))
        if better:
            state["best"], state["bad_evals"] = value, 0
            save_weights(run_dir / "best", accelerator, model, ema if tc.eval_with_ema else None, {
                **objective.best_files(preds),
                "metrics.json": lambda p: p.write_text(_json({"step": state["step"], "best_metric": tc.best_metric,
                                                              **metrics})),
                "config.yaml": lambda p: shutil.copy(run_dir / "config.yaml", p)})
        else:
            state["bad_evals"] += 1
        return metrics

    model.train()
    progress = tqdm(total=tc.max_steps, initial=state["step"], disable=not accelerator.is_local_main_process,
                    desc="train", unit="step")
    losses, tick, metrics, stop = [], time.perf_counter(), {}, False
    while state["step"] < tc.max_steps and not stop:
        seen = 0
        batches = data.train_batches(state["epoch"], skip=state["batches_in_epoch"])
        for batch in batches:
            seen += 1
            batch = send_to_device(batch, accelerator.device)
            if state["step"] == 0 and state["batches_in_epoch"] == 0 and tc.log_images and accelerator.is_main_process:
                tracker.log_figures({"train/keyframes": keyframe_strip_figure(
                    batch["pixel_values"], batch["keyframe_hpi"], list(batch.get("embryo_id", "?" * 99)))}, step=0)
            loss, stepped, grad_norm = train_step(model, batch, optimizer, accelerator, tc.grad_clip, objective.inputs)
            state["batches_in_epoch"] += 1
            losses.append(loss)  # a device tensor: reading it (.item()) would wait for the GPU every step
            if not stepped:
                continue
            scheduler.step()
            if ema is not None:
                ema.update(accelerator.unwrap_model(model))
            state["step"] += 1
            step = state["step"]
            progress.update(1)
            if step % tc.log_every == 0 or step == tc.max_steps:
                mean_loss = accelerator.reduce(torch.stack(losses).mean(), reduction="mean").item()
                elapsed, tick = time.perf_counter() - tick, time.perf_counter()
                tracker.log({"train/loss": mean_loss, "train/lr": scheduler.get_last_lr()[0],
                             "train/grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
                             "train/clips_per_s": len(losses) * tc.per_device_batch_size * world / elapsed,
                             "train/epoch": state["epoch"]}, step=step)
                progress.set_postfix(loss=f"{mean_loss:.4f}")
                losses = []
            if step == tc.max_steps and tc.refit_heads:
                refit_final_heads(accelerator, model, data, tracker, step, tc)
            if (tc.eval_every and step % tc.eval_every == 0) or step == tc.max_steps:
                metrics = run_eval_and_maybe_keep_best()
                stop = bool(tc.early_stop_patience) and state["bad_evals"] >= tc.early_stop_patience
                if stop:
                    accelerator.print(f"early stop at step {step}: no {tc.best_metric} gain in "
                                      f"{tc.early_stop_patience} evaluations")
            if (tc.save_every and step % tc.save_every == 0) or step == tc.max_steps or stop:
                save_checkpoint(run_dir / "checkpoints" / f"step-{step:07d}", accelerator, model, optimizer,
                                scheduler, ema, state)
                if accelerator.is_main_process:
                    prune_checkpoints(run_dir, tc.keep_last)
            if tc.step_delay_s:
                time.sleep(tc.step_delay_s)
            if step >= tc.max_steps or stop:
                break
        else:  # the epoch's stream ran out: next epoch, from its first batch
            if seen == 0 and state["batches_in_epoch"] == 0:
                raise RuntimeError(f"epoch {state['epoch']} yielded no training batch: is the train split empty, "
                                   "or per_device_batch_size larger than it (drop_last)?")
            state["epoch"], state["batches_in_epoch"] = state["epoch"] + 1, 0
        if hasattr(batches, "close"):  # a generator left early (max_steps, early stop): stop its prefetch thread now
            batches.close()
    progress.close()
    save_weights(run_dir / "final", accelerator, model, None, {
        "config.yaml": lambda p: shutil.copy(run_dir / "config.yaml", p)})
    tracker.finish()
    return {"step": state["step"], "best": state["best"], "final": metrics, "run_dir": str(run_dir)}


def _json(obj: dict) -> str:
    import json

    return json.dumps(obj, indent=1, default=float)
