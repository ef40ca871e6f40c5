"""A run killed with SIGKILL and resumed with train.resume=auto ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import torch
from launch import ROOT, launch_command, run_toy
from safetensors.torch import load_file

RUN = ["train.max_steps=20", "train.per_device_batch_size=4", "train.grad_accum_steps=2", "train.lr=0.01",
       "train.warmup_steps=2", "train.ema_decay=0.9", "train.eval_every=4", "train.save_every=3",
       "train.keep_last=2", "train.tracker=none", "train.log_images=false", "train.log_every=1"]
# 20 steps x 2 micro-batches of 4 = 160 clips = 2.5 epochs of the 64-clip toy cohort: resume crosses epochs.


@pytest.mark.slow
def test_sigkill_then_resume_auto_gives_identical_weights(tmp_path):
    from launch import TOY, env

    run_toy("plain", 1, [*RUN, f"output_dir={tmp_path}", "name=straight"], extra=["--dropout", "0.2"])

    killed = tmp_path / "killed"
    cmd = [*launch_command("plain", 1), str(TOY), "--dropout", "0.2", *RUN, f"output_dir={tmp_path}",
           "name=killed", "train.step_delay_s=0.4", "train.expected_world_size=1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not list((killed / "checkpoints").glob("step-*[0-9]/state.json")):
        assert proc.poll() is None, f"run ended before any checkpoint: {proc.stderr.read().decode()[-3000:]}"
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup, no final save
    proc.wait()
    assert not (killed / "final").exists(), "the run finished before the kill; raise step_delay_s"
    saved = sorted(p.parent.name for p in (killed / "checkpoints").glob("step-*[0-9]/state.json"))
    assert saved and json.loads((killed / "checkpoints" / saved[-1] / "state.json").read_text())["step"] < 20

    out = run_toy("plain", 1, [*RUN, f"output_dir={tmp_path}", "name=killed", "train.resume=auto"],
                  extra=["--dropout", "0.2"])
    assert f"resumed from {killed / 'checkpoints' / saved[-1]}" in out
    straight = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    resumed = load_file(killed / "final" / "model.safetensors")
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), f"{key} differs after resume"
    best_a = json.loads((tmp_path / "straight" / "best" / "metrics.json").read_text())
    best_b = json.loads((killed / "best" / "metrics.json").read_text())
    assert best_a == best_b  # EMA weights, eval and best-checkpoint bookkeeping resumed too
