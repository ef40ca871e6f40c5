"""Hyper-parameter sweeps from W&B sweep files (configs/sweeps/*.yaml).

Two ways to run the same file:

- ``wandb sweep configs/sweeps/x.yaml`` then ``wandb agent ORG/PROJECT/ID`` (needs the W&B server):
  the agent runs the file's ``command`` with ``--name=value`` arguments; ``aivf.train`` turns them into
  config overrides on every rank of an ``accelerate launch`` (docs/training.md).
- ``aivf sweep --local configs/sweeps/x.yaml``: no server; grid or random search here, each trial the
  same command line the agent would run, W&B offline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml


def load_sweep(path: str | Path) -> dict:
    """Read and check a sweep file (method, metric, parameters, command)."""
    spec = yaml.safe_load(Path(path).read_text())
    for key in ("method", "parameters", "command"):
        if key not in spec:
            raise ValueError(f"{path}: sweep file lacks '{key}' (W&B sweep format: method, metric, parameters, command)")
    if spec["method"] not in ("grid", "random", "bayes"):
        raise ValueError(f"{path}: method must be grid, random or bayes, got {spec['method']!r}")
    return spec


def agent_command(spec: dict, params: dict) -> list[str]:
    """The command line ``wandb agent`` would run for one trial (wandb's own macro expansion)."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

    sweep_vars = create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    sweep_vars["interpreter"] = ["python"]
    sweep_vars["program"] = [spec.get("program", "")]
    sweep_vars["env"] = ["/usr/bin/env"]
    command = []
    for chunk in create_sweep_command(list(spec["command"])):
        chunk = str(chunk)
        command += (sweep_vars.get(chunk[2:-1]) or []) if chunk.startswith("${") and chunk.endswith("}") else [chunk]
    return command


def _sample(rule: dict, rng: np.random.Generator):
    if "value" in rule:
        return rule["value"]
    if "values" in rule:
        return rule["values"][int(rng.integers(len(rule["values"])))]
    dist = rule.get("distribution", "uniform")
    lo, hi = rule["min"], rule["max"]
    if dist == "int_uniform":
        return int(rng.integers(lo, hi + 1))
    if dist in ("log_uniform_values",):
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if dist == "uniform":
        return float(rng.uniform(lo, hi))
    raise ValueError(f"distribution {dist!r} is not supported by the local runner (use values, uniform, "
                     "int_uniform or log_uniform_values)")


def trials(spec: dict, count: int | None = None, seed: int = 0) -> list[dict]:
    """Parameter sets: every grid combination, or ``count`` random draws (bayes runs as random here)."""
    params = spec["parameters"]
    if spec["method"] == "grid":
        names = list(params)
        choices = [p["values"] if "values" in p else [p["value"]] for p in params.values()]
        combos = [dict(zip(names, combo)) for combo in itertools.product(*choices)]
        return combos[:count] if count else combos
    rng = np.random.default_rng(seed)
    return [{k: _sample(rule, rng) for k, rule in params.items()} for _ in range(count or 10)]


def _read_metric(run_dir: Path, metric: str) -> float | None:
    best = run_dir / "best" / "metrics.json"
    if best.is_file():
        value = json.loads(best.read_text()).get(metric.removeprefix("val/"))
        return None if value is None else float(value)
    return None


def run_local(path: str | Path, count: int | None = None, seed: int = 0, extra: list[str] = (),
              dry: bool = False) -> list[dict]:
    """Run a sweep file's trials one after another here, W&B offline; returns one record per trial."""
    spec = load_sweep(path)
    metric = (spec.get("metric") or {}).get("name", "val/auc_mean")
    results = []
    for i, params in enumerate(trials(spec, count, seed)):
        name = f"{Path(path).stem}-{i:03d}"
        command = [*agent_command(spec, {"name": name, **params}), *extra]
        print(f"[sweep {i + 1}] {shlex.join(command)}", flush=True)
        if dry:
            results.append({"trial": i, "params": params, "command": command})
            continue
        env = dict(os.environ, WANDB_MODE=os.environ.get("WANDB_MODE", "offline"))
        code = subprocess.run(command, env=env).returncode
        record = {"trial": i, "params": params, "returncode": code, "name": name}
        results.append(record)
    for record in results:
        if "name" in record:
            from aivf.config import load_config

            cfg = load_config(None, [])
            record[metric] = _read_metric(Path(cfg.output_dir) / record["name"], metric)
        print(json.dumps(record))
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="W&B sweep file, e.g. configs/sweeps/lr_accum.yaml")
    parser.add_argument("--local", action="store_true",
                        help="run the trials here (grid / random), W&B offline; without it, print the wandb commands")
    parser.add_argument("--count", type=int, default=None, help="number of trials (random search: default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random search")
    parser.add_argument("--dry-run", action="store_true", help="print each trial's command line without running it")


def run(args: argparse.Namespace) -> int:
    if not args.local:
        print(f"wandb sweep {args.file}    # prints SWEEP_ID (needs a W&B login)\n"
              "wandb agent ORG/PROJECT/SWEEP_ID    # on each machine; or: aivf sweep --local " + args.file)
        return 0
    results = run_local(args.file, args.count, args.seed, dry=args.dry_run)
    return 0 if all(r.get("returncode", 0) == 0 for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    sys.exit(run(parser.parse_args()))
