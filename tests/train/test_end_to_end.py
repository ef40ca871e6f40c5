"""The real path: simulate -> build -> 2-process CPU training of the micro EmbryoModel -> resume, W&B offline."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from launch import ACCELERATE, ROOT, env

TINY = ["-c", "configs/train/tiny.yaml", "sim.num_patients=6", "sim.imaging.frame_interval_h=2.0"]


def aivf(*args: str, timeout: int = 240) -> str:
    proc = subprocess.run([sys.executable, "-m", "aivf", *args], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"aivf {args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def launch_two(*overrides: str) -> str:
    cmd = [ACCELERATE, "launch", "--config_file", "configs/accelerate/cpu_2proc.yaml", "-m", "aivf.train", *TINY,
           "train.expected_world_size=2", *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_two_process_run_trains_evaluates_checkpoints_resumes_and_logs(tmp_path):
    where = f"output_dir={tmp_path}"
    aivf("simulate", *TINY, where, "sim.workers=1")
    aivf("build", *TINY, where)
    out = launch_two(where, "train.max_steps=4", "train.eval_every=2", "train.save_every=2")
    assert "x 2 processes = 8 clips per optimizer step" in out
    run = tmp_path / "tiny"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val/loss" in r] == [2, 4]
    assert (run / "checkpoints" / "step-0000004" / "rng-1.safetensors").is_file()  # both ranks saved their RNG
    assert (run / "final" / "config.json").is_file() and (run / "final" / "model.safetensors").is_file()
    assert list((run / "wandb").glob("offline-run-*/*.wandb"))

    out = launch_two(where, "train.max_steps=6", "train.eval_every=2", "train.save_every=2", "train.resume=auto")
    assert f"resumed from {run / 'checkpoints' / 'step-0000004'} at step 4" in out
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val/loss" in r] == [2, 4, 6]  # appended, not restarted
    assert json.loads((run / "checkpoints" / "step-0000006" / "state.json").read_text())["step"] == 6
    assert len(list((run / "wandb").glob("offline-run-*"))) >= 1
