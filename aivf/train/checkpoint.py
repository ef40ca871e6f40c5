"""Resumable checkpoints without pickles: safetensors for tensors, JSON for everything else.

A checkpoint is a folder ``<run>/checkpoints/step-0000120/`` holding
``model.safetensors``, ``optimizer.safetensors`` (+ its param groups in the metadata),
``scheduler.json``, ``ema.safetensors`` (if EMA is on), ``rng-<rank>.safetensors`` per process
and ``state.json`` (step, epoch, micro-batches done in the epoch, best metric, tracker run id).
It is written to a ``.tmp`` folder and renamed when complete, so a run killed while saving
leaves the previous checkpoint as the latest. Loading never unpickles (``accelerate.save_state``
would write ``.pkl`` RNG files that ``load_state`` unpickles); the one exception is DeepSpeed,
whose engine checkpoint format is its own (pickles written by this run, read from this run's
folder only: ``load_checkpoint`` refuses any other folder under DeepSpeed, since a pickle is code).

A checkpoint that cannot be read (a truncated ``model.safetensors``, a garbage ``state.json``) is a
``CheckpointError`` naming the file and the previous complete checkpoint to resume from instead;
every file is read before anything is applied, so a failed resume leaves the model untouched.
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

from aivf.config import ConfigError

STATE_FILE = "state.json"
STATE_KEYS = ("step", "epoch", "batches_in_epoch")  # a state.json without these cannot place the loop


class CheckpointError(ConfigError):
    """``train.resume`` names a checkpoint that cannot (or must not) be loaded; the message says what to do."""


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


def _previous(folder: Path) -> str:
    """The advice for a bad checkpoint: the newest complete checkpoint before it, or a fresh start."""
    earlier = [p for p in sorted(folder.parent.glob("step-*[0-9]")) if p.name < folder.name and (p / STATE_FILE).is_file()]
    if earlier:
        return f"resume from the previous checkpoint with train.resume={earlier[-1]} (or delete {folder})"
    return f"no earlier checkpoint exists beside it: delete {folder} or start fresh with train.resume=''"


def _read(folder: Path, path: Path, read):
    """``read(path)``, a CheckpointError naming the file and the previous checkpoint if it fails."""
    try:
        return read(path)
    except Exception as err:  # safetensors, json, OSError ... : the file is truncated, garbage or missing
        raise CheckpointError(f"{path}: cannot read this checkpoint file ({type(err).__name__}: {err}); the "
                              f"checkpoint {folder} is damaged: {_previous(folder)}") from None


def _read_state(path: Path) -> dict:
    state = json.loads(path.read_text())
    if not isinstance(state, dict) or not all(isinstance(state.get(k), int) for k in STATE_KEYS):
        raise ValueError(f"expected a JSON object with whole numbers {list(STATE_KEYS)}")
    return state


def _rng(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(path, "pt") as f:
        meta = json.loads(f.metadata()["meta"])
    return load_file(path), meta


def _optimizer(path: Path) -> dict:
    with safe_open(path, "pt") as f:
        opt_meta = f.metadata()
    return _optimizer_from_flat(load_file(path), opt_meta)


def check_deepspeed_source(folder: Path, run_dir: Path | None) -> None:
    """Under DeepSpeed only this run's own checkpoints are loaded: the engine's files are pickles (code)."""
    own = (Path(run_dir) / "checkpoints").resolve() if run_dir is not None else None
    if own is None or folder.resolve().parent != own:
        raise CheckpointError(
            f"train.resume={folder}: under DeepSpeed only this run's own checkpoints ({own}/step-*) are resumed. "
            "A DeepSpeed checkpoint holds pickles, and loading a pickle runs code from whoever wrote it, so one "
            "from elsewhere is code, not data. Resume it without DeepSpeed (its model.safetensors), or copy it "
            "into this run's checkpoints/ only if you trust its author")


def load_checkpoint(folder: Path, accelerator, model, optimizer, scheduler, ema, run_dir: Path | None = None) -> dict:
    """Restore what :func:`save_checkpoint` wrote into already-prepared objects; returns the state dict.

    Args:
        run_dir: the run's folder; under DeepSpeed ``folder`` must be one of its ``checkpoints/step-*``.

    Raises:
        CheckpointError: a file missing, truncated or garbage (naming it and the previous checkpoint),
            or, under DeepSpeed, a checkpoint from outside the run.
    """
    folder = Path(folder)
    if not (folder / STATE_FILE).is_file():
        raise CheckpointError(f"{folder}: not a complete checkpoint ({STATE_FILE} missing); "
                              "pass another folder as train.resume or train.resume='' to start fresh")
    deepspeed = accelerator.distributed_type.name == "DEEPSPEED"
    if deepspeed:
        check_deepspeed_source(folder, run_dir)
    # Read everything first: a damaged file is found before the model or optimizer is half restored.
    state = _read(folder, folder / STATE_FILE, _read_state)
    schedule = _read(folder, folder / "scheduler.json", lambda p: json.loads(p.read_text()))
    ema_state = _read(folder, folder / "ema.safetensors", load_file) if ema is not None else None
    rng = _read(folder, folder / f"rng-{accelerator.process_index}.safetensors", _rng)
    if deepspeed:
        accelerator.load_state(str(folder / "deepspeed"))
    else:
        weights = _read(folder, folder / "model.safetensors", load_file)
        opt_state = _read(folder, folder / "optimizer.safetensors", _optimizer)
        try:
            accelerator.unwrap_model(model).load_state_dict(weights)
            optimizer.optimizer.load_state_dict(opt_state)
        except (RuntimeError, ValueError, KeyError) as err:  # another model's checkpoint: names/shapes differ
            raise CheckpointError(f"{folder}: does not fit this model/optimizer ({str(err)[:300]}); resume a "
                                  "checkpoint of this config, or train.resume='' to start fresh") from None
    scheduler.load_state_dict(schedule)  # after the optimizer: sets lr
    if ema is not None:
        ema.load_state_dict(ema_state)
    set_rng_state(*rng)
    return state


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
