"""The ``aivf`` command line: one sub-command per stage of the data's journey.

Each sub-command lives beside its stage as a module with ``add_arguments(parser)`` and
``run(args) -> int``; this file only lists them, so importing the CLI stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from aivf.config import ConfigError

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("aivf.sim.cli", "simulate a cohort of embryo time-lapse recordings with known truth"),
    "build": ("aivf.dataset.cli", "build Hugging Face parquet shards, splits and a card from recordings"),
    "train": ("aivf.train.cli", "train a model (also: accelerate launch -m aivf.train ...)"),
    "sweep": ("aivf.train.sweep", "run a hyper-parameter sweep locally (--local) from a W&B sweep file"),
    "push": ("aivf.hub.cli", "push a trained run to the Hugging Face Hub with a model card"),
    "evaluate": ("aivf.eval.evaluate_cli", "clinical metrics + HTML report of a checkpoint on a dataset split"),
    "rank": ("aivf.eval.rank_cli", "rank a cohort's embryos (recordings or dataset) with calibrated probabilities"),
    "run": ("aivf.run_cli", "the whole journey: simulate -> build -> train -> evaluate -> report + ranked cohort"),
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The config options every config-driven command shares: ``-c FILE`` (repeatable) and ``key=value``."""
    parser.add_argument(
        "-c", "--config", action="append", default=[], metavar="FILE",
        help="YAML config merged over the schema defaults (repeatable; later files win)",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides, e.g. sim.num_patients=20")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aivf", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except ConfigError as err:
        print(f"aivf {args.command}: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
