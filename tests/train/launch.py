"""Run the toy trainer (tests/train/train_toy.py) under real launchers, for the multi-process tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOY = Path(__file__).with_name("train_toy.py")
ACCELERATE = str(Path(sys.executable).with_name("accelerate"))


def launch_command(kind: str, processes: int) -> list[str]:
    """The command prefix for ``kind`` in plain | ddp | deepspeed (the recipes of docs/training.md)."""
    if kind == "plain":
        return [sys.executable]
    config = {"ddp": "cpu_2proc.yaml", "deepspeed": "deepspeed_zero2.yaml"}[kind]
    return [ACCELERATE, "launch", "--config_file", str(ROOT / "configs" / "accelerate" / config),
            "--num_processes", str(processes), "--mixed_precision", "no"]


def env() -> dict[str, str]:
    e = dict(os.environ, WANDB_MODE="offline", PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    e.pop("ACCELERATE_USE_CPU", None)  # it would switch DeepSpeed off (cpu=True)
    return e


def run_toy(kind: str, processes: int, overrides: list[str], timeout: int = 240, extra: list[str] = ()) -> str:
    """Train the toy under a launcher; returns stdout+stderr, raising with the output on failure."""
    cmd = [*launch_command(kind, processes), str(TOY), *extra, *overrides,
           f"train.expected_world_size={processes}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc.stdout + proc.stderr
