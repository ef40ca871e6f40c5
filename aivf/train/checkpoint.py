"""Resumable checkpoints without pickles: safetensors for tensors, JSON for everything else.

A checkpoint is a folder ``<run>/checkpoints/step-0000120/`` holding
``model.safetensors``, ``optimizer.safetensors`` (+ its param groups in the metadata),
``scheduler.json``, ``ema.safetensors`` (if EMA is on), ``rng-<rank>.safetensors`` per process
and ``state.json`` (step, epoch, micro-batches done in the epoch, best metric, tracker run id).
It is written to a ``.tmp`` folder and renamed when complete, so a run killed while saving
leaves the previous checkpoint as the latest. Loading never unpickles (``accelerate.save_state``
would write ``.pkl`` RNG files that ``load_state`` unpickles); the one exception is DeepSpeed,
whose engine checkpoint format is its own (pickles written by this run, read from this run's
folder only).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

STATE_FILE = "state.json"


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """This process's RNG states as (tensors, JSON-able metadata): torch CPU/CUDA, NumPy, Python."""
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = state
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors["numpy_keys"] = torch.from_numpy(np_keys.astype(np.int64))
    py_version, py_state, py_gauss = random.getstate()
    meta = {"numpy": [np_kind, int(np_pos), int(np_has_gauss), float(np_gauss)],
            "python": [py_version, list(py_state), py_gauss]}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(tensors["torch_cpu"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("torch_cuda_"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, state, gauss_next = meta["python"]
    random.setstate((version, tuple(state), gauss_next))


def _optimizer_to_flat(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors, scalars = {}, {}
    for idx, per_param in state_dict["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    meta = {"param_groups": json.dumps(state_dict["param_groups"]), "scalars": json.dumps(scalars)}
    return tensors, meta


def _optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in [*tensors.items(), *json.loads(meta["scalars"]).items()]:
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    return {"state": state, "param_groups": json.loads(meta["param_groups"])}


def save_checkpoint(folder: Path, accelerator, model, optimizer, scheduler, ema, state: dict) -> Path:
    """Write a complete resumable checkpoint (collective: every process must call it).

    Args:
        folder: final checkpoint folder, e.g. ``<run>/checkpoints/step-0000120``.
        accelerator: the run's ``Accelerator``.
        model, optimizer: as returned by ``accelerator.prepare``; scheduler: the loop's WarmupCosine.
        ema: an :class:`aivf.train.ema.EMA` or None.
        state: JSON-able loop position (step, epoch, batches_in_epoch, best, ...).

    Returns:
        The checkpoint folder.
    """
    tmp = folder.with_name(folder.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    if accelerator.distributed_type.name == "DEEPSPEED":
        # Optimizer state is partitioned across ranks; only the engine knows how to save it.
        accelerator.save_state(str(tmp / "deepspeed"), safe_serialization=True)
    elif accelerator.is_main_process:
        # DDP keeps identical replicas, so rank 0's weights and optimizer state describe every rank.
        save_file({k: v.contiguous() for k, v in accelerator.unwrap_model(model).state_dict().items()},
                  tmp / "model.safetensors")
        opt_tensors, opt_meta = _optimizer_to_flat(optimizer.optimizer.state_dict())
        save_file(opt_tensors, tmp / "optimizer.safetensors", metadata=opt_meta)
    if accelerator.is_main_process:
        (tmp / "scheduler.json").write_text(json.dumps(scheduler.state_dict()))
        if ema is not None:
            save_file(ema.state_dict(), tmp / "ema.safetensors")
    tensors, meta = rng_state()
    save_file(tensors, tmp / f"rng-{accelerator.process_index}.safetensors", metadata={"meta": json.dumps(meta)})
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # atomic: a checkpoint folder without .tmp is complete
    accelerator.wait_for_everyone()
    return folder


def load_checkpoint(folder: Path, accelerator, model, optimizer, scheduler, ema) -> dict:
    """Restore what :func:`save_checkpoint` wrote into already-prepared objects; returns the state dict."""
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise FileNotFoundError(f"{folder}: not a complete checkpoint ({STATE_FILE} missing); "
                                "pass another folder as train.resume or train.resume='' to start fresh")
    if accelerator.distributed_type.name == "DEEPSPEED":
        accelerator.load_state(str(folder / "deepspeed"))
    else:
        accelerator.unwrap_model(model).load_state_dict(load_file(folder / "model.safetensors"))
        with safe_open(folder / "optimizer.safetensors", "pt") as f:
            opt_meta = f.metadata()
        optimizer.optimizer.load_state_dict(_optimizer_from_flat(load_file(folder / "optimizer.safetensors"), opt_meta))
    scheduler.load_state_dict(json.loads((folder / "scheduler.json").read_text()))  # after the optimizer: sets lr
    if ema is not None:
        ema.load_state_dict(load_file(folder / "ema.safetensors"))
    rng_file = folder / f"rng-{accelerator.process_index}.safetensors"
    with safe_open(rng_file, "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    set_rng_state(load_file(rng_file), meta)
    return json.loads((folder / STATE_FILE).read_text())


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run (highest step with a state file), or None."""
    found = sorted((run_dir / "checkpoints").glob("step-*[0-9]"))
    complete = [p for p in found if (p / STATE_FILE).is_file()]
    return complete[-1] if complete else None


def prune_checkpoints(run_dir: Path, keep_last: int) -> None:
    """Delete all but the ``keep_last`` newest complete checkpoints (main process only)."""
    complete = [p for p in sorted((run_dir / "checkpoints").glob("step-*[0-9]")) if (p / STATE_FILE).is_file()]
    for old in complete[: max(len(complete) - keep_last, 0)]:
        shutil.rmtree(old, ignore_errors=True)
