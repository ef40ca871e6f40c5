"""``aivf train`` and ``accelerate launch -m aivf.train``: parse config + overrides on EVERY rank, then train.

W&B sweep agents append ``--name=value`` arguments; under ``accelerate launch`` every rank gets the
same argv, so turning them into ``name=value`` overrides here gives every rank the trial's
parameters (upstream, only rank 0 would see them through ``wandb.config``).
"""

from __future__ import annotations

import argparse
import os
import sys

OWN_OPTIONS = ("--config", "--dry-run")


def sweep_args_to_overrides(argv: list[str]) -> list[str]:
    """``--train.lr=0.01`` (W&B agent style) -> ``train.lr=0.01``; everything else unchanged."""
    out = []
    for arg in argv:
        if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] not in OWN_OPTIONS:
            arg = arg[2:]
        out.append(arg)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aivf.cli import add_config_arguments

    add_config_arguments(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="resolve the config and start the processes, print what every rank got, and exit")


def run(args: argparse.Namespace) -> int:
    from aivf.config import load_config

    cfg = load_config(args.config, sweep_args_to_overrides(args.overrides))
    if os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        # A W&B agent trial: one run folder per trial, else trials would resume each other's checkpoints.
        cfg.name = f"{cfg.name}-{os.environ['WANDB_RUN_ID']}"
    if args.dry_run:
        return dry_run(cfg, args.overrides)
    from aivf.train.loop import train

    result = train(cfg)
    print(f"done: {result['step']} steps, best {cfg.train.best_metric} = {result['best']}, run {result['run_dir']}")
    return 0


def dry_run(cfg, overrides: list[str]) -> int:
    """Start the processes as a real run would and print each rank's view of the config."""
    from aivf.config import to_yaml
    from aivf.train.loop import build_accelerator

    accelerator = build_accelerator(cfg.train.grad_accum_steps, cfg.train.mixed_precision)
    tc = cfg.train
    if tc.expected_world_size and accelerator.num_processes != tc.expected_world_size:
        print(f"world size {accelerator.num_processes} != train.expected_world_size {tc.expected_world_size}",
              file=sys.stderr)
        return 3
    import hashlib

    digest = hashlib.sha1(to_yaml(cfg).encode()).hexdigest()[:12]
    # One write per line: two ranks share the terminal, and print() writes text and newline apart.
    sys.stdout.write(f"[rank {accelerator.process_index}/{accelerator.num_processes}] config {digest} "
                     f"train.lr={tc.lr} train.grad_accum_steps={tc.grad_accum_steps} "
                     f"train.per_device_batch_size={tc.per_device_batch_size} seed={cfg.seed} name={cfg.name} "
                     f"overrides={overrides} wandb_run_id={os.environ.get('WANDB_RUN_ID', '')}\n")
    sys.stdout.flush()
    accelerator.wait_for_everyone()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aivf.train", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_intermixed_args(sweep_args_to_overrides(sys.argv[1:] if argv is None else argv))
    from aivf.config import ConfigError

    try:
        return run(args)
    except ConfigError as err:
        print(f"aivf train: config error: {err}", file=sys.stderr)
        return 2
