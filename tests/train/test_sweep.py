"""Sweep files: W&B agent command lines reach every rank; the local grid/random runner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aivf.train.sweep import agent_command, load_sweep, run_local, trials

ROOT = Path(__file__).resolve().parents[2]
SWEEPS = sorted((ROOT / "configs" / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_shipped_sweep_files_are_valid(path):
    spec = load_sweep(path)
    assert spec["metric"]["name"].startswith("val/") and "${args}" in spec["command"]
    command = agent_command(spec, trials(spec, count=1)[0])
    assert command[:2] == ["/usr/bin/env", "accelerate"] and "aivf.train" in command
    from aivf.config import load_config

    # Every parameter is a real config key (a typo would make each trial fail at start).
    load_config(None, [f"{k}={trials(spec, count=1)[0][k]}" for k in spec["parameters"]])


def test_agent_args_become_overrides():
    from aivf.train.cli import sweep_args_to_overrides

    assert sweep_args_to_overrides(["-c", "x.yaml", "--train.lr=0.1", "--dry-run", "seed=2"]) == [
        "-c", "x.yaml", "train.lr=0.1", "--dry-run", "seed=2"]


def test_local_runner_grid_and_random(tmp_path):
    record = tmp_path / "calls.txt"
    script = tmp_path / "trial.py"
    script.write_text(f"import sys\nopen({str(record)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n")
    sweep = {"program": str(script), "method": "grid", "metric": {"name": "val/auc_mean"},
             "parameters": {"train.lr": {"values": [0.1, 0.2]}, "seed": {"values": [1, 2, 3]}},
             "command": ["${env}", sys.executable, "${program}", "${args}"]}
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(sweep))
    results = run_local(path)
    calls = record.read_text().splitlines()
    assert len(results) == len(calls) == 6 and all(r["returncode"] == 0 for r in results)
    assert {"--train.lr=0.2", "--seed=3"} <= set(calls[-1].split()) and calls[0].startswith("--name=grid-000")
    assert len(set(calls)) == 6  # every combination once

    sweep.update(method="random", parameters={"train.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                                             "train.grad_accum_steps": {"distribution": "int_uniform", "min": 1, "max": 4}})
    path.write_text(yaml.safe_dump(sweep))
    drawn = trials(load_sweep(path), count=20, seed=1)
    assert len(drawn) == 20 and all(1e-4 <= d["train.lr"] <= 1e-2 and 1 <= d["train.grad_accum_steps"] <= 4 for d in drawn)
    assert len({d["train.lr"] for d in drawn}) == 20


@pytest.mark.slow
def test_agent_command_reaches_both_ranks_for_two_trials(tmp_path):
    spec = load_sweep(ROOT / "configs" / "sweeps" / "tiny_lr_accum.yaml")
    env = dict(os.environ, WANDB_MODE="offline", PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
               WANDB_SWEEP_ID="localtest")
    env.pop("ACCELERATE_USE_CPU", None)
    for trial, params in enumerate(trials(spec)[1:3]):  # (3e-4, 2) and (1e-3, 1)
        command = [*agent_command(spec, params), "--dry-run", f"output_dir={tmp_path}"]
        run_env = dict(env, WANDB_RUN_ID=f"trial{trial}")
        proc = subprocess.run(command, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-3000:]
        lines = re.findall(r"\[rank \d/\d\][^\n\[]*", proc.stdout)
        assert sorted(line[:10] for line in lines) == ["[rank 0/2]", "[rank 1/2]"], proc.stdout
        for line in lines:
            assert f"train.lr={params['train.lr']} " in line
            assert f"train.grad_accum_steps={params['train.grad_accum_steps']} " in line
            assert f"name=tiny-trial{trial} " in line  # one run folder per agent trial
        assert lines[0].split()[3] == lines[1].split()[3]  # identical resolved-config digest on both ranks
