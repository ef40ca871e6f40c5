"""``aivf simulate [-c FILE] [key=value ...]``: write a simulated cohort folder and say where."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aivf.cli import add_config_arguments
from aivf.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def cohort_dir(output_dir: str, name: str, output: str) -> Path:
    """``<output_dir>/<name>/<output>``, or ``output`` itself when it is absolute."""
    out = Path(output)
    return out if out.is_absolute() else Path(output_dir) / name / out


def run(args: argparse.Namespace) -> int:
    from aivf.sim.simulate import simulate  # heavy imports only when the command runs

    cfg = load_config(args.config, args.overrides)
    out = cohort_dir(cfg.output_dir, cfg.name, cfg.sim.output)
    start = time.perf_counter()
    simulate(cfg.sim, out, cfg.seed, experiment=cfg, progress=not args.no_progress)
    print(f"aivf simulate: cohort written to {out} ({time.perf_counter() - start:.1f} s)")
    for name in ("clinical.csv", "truth.csv", "contact_sheet.png"):
        if (out / name).exists():
            print(f"  {out / name}")
    return 0
