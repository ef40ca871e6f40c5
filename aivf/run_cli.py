"""``aivf run [-c FILE] [key=value ...]``: the whole journey, simulate -> build -> train -> evaluate -> rank.

The README's first command (``bash scripts/quickstart.sh``) ends here with ``-c configs/default.yaml``.
Each stage shows its progress; the last lines say where report.html and the ranked cohort are.
Exit status: 0 on success; 1 when the build produced nothing usable (the same check as ``aivf build``);
2 on a config error.
"""

from __future__ import annotations

import argparse
import os

from aivf.cli import add_config_arguments
from aivf.config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the stages' progress bars")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.overrides)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from aivf.dataset.build import BuildError
    from aivf.pipeline import run_pipeline  # heavy imports only when the command runs

    try:
        run_pipeline(cfg, progress=not args.no_progress)
    except BuildError as err:  # the build produced nothing usable: stop with its reason, exit 1 like aivf build
        print(f"aivf run: build: {err}")
        return 1
    return 0
