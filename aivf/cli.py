"""The ``aivf`` command line: one sub-command per stage of the data's journey.

Each sub-command lives beside its stage as a module with ``add_arguments(parser)`` and
``run(args) -> int``; this file only lists them, so importing the CLI stays cheap. ``main`` imports
the module of the command being run and no other, so ``aivf --help`` imports none of them and
``aivf COMMAND --help`` only that command's (which keep torch and transformers inside ``run``).
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("aivf.sim.cli", "simulate a cohort of embryo time-lapse recordings with known truth"),
    "build": ("aivf.dataset.cli", "build Hugging Face parquet shards, splits and a card from recordings"),
    "train": ("aivf.train.cli", "train a model (also: accelerate launch -m aivf.train ...)"),
    "pretrain": ("aivf.train.pretrain", "VideoMAE masked-autoencoder pretraining on built datasets (no labels used)"),
    "sweep": ("aivf.train.sweep", "run a hyper-parameter sweep locally (--local) from a W&B sweep file"),
    "push": ("aivf.hub.cli", "push a trained run to the Hugging Face Hub with a model card"),
    "evaluate": ("aivf.eval.evaluate_cli", "clinical metrics + HTML report of a checkpoint on a dataset split"),
    "rank": ("aivf.eval.rank_cli", "rank a cohort's embryos (recordings or dataset) with calibrated probabilities"),
    "annotate": ("aivf.annotate.cli", "annotate every frame of recordings with morphokinetic phases (Gomez format)"),
    "run": ("aivf.run_cli", "the whole journey: simulate -> build -> train -> evaluate -> report + ranked cohort"),
}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The config options every config-driven command shares: ``-c FILE`` (repeatable) and ``key=value``."""
    parser.add_argument(
        "-c", "--config", action="append", default=[], metavar="FILE",
        help="YAML config merged over the schema defaults (repeatable; later files win)",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides, e.g. sim.num_patients=20")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``aivf`` parser; with ``only``, only that command's module is imported and adds its arguments.

    The other commands still get a (bare) sub-parser, so the top-level ``--help`` and the error for
    an unknown command read the same either way.
    """
    parser = argparse.ArgumentParser(prog="aivf", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        command_parser.set_defaults(_module=module)
        if only is None or name == only:
            importlib.import_module(module).add_arguments(command_parser)
    return parser


def _command_in(argv: list[str]) -> str:
    """The command named in ``argv``: its first token that is not an option (the top level has only -h)."""
    return next((token for token in argv if not token.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_command_in(argv)).parse_args(argv)
    from aivf.config import ConfigError  # already imported by the command's module

    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except ConfigError as err:
        print(f"aivf {args.command}: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
