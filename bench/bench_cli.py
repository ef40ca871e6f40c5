"""Start-up time of the command line: ``aivf --help`` and each sub-command's ``--help`` (target < 1 s).

    .venv/bin/python bench/bench_cli.py                # median of 5 fresh processes per command
    .venv/bin/python bench/bench_cli.py --runs 9 --root /tmp/older-checkout

Each run is a new ``python -m aivf ... --help`` process (wall clock, interpreter start included),
run from ``--root`` with it first on ``PYTHONPATH``, so another checkout of aivf can be timed with
the same script. Also says whether the process imported torch or transformers (it should not:
tests/test_cli_help.py asserts it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import runpy, sys
try:
    runpy.run_module("aivf", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write("HEAVY:" + ",".join(m for m in ("torch", "transformers") if m in sys.modules) + "\\n")
"""


def time_help(argv: list[str], root: Path, runs: int) -> tuple[float, str]:
    """Median wall seconds of ``runs`` fresh ``python -m aivf <argv>`` processes, and the heavy modules loaded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "aivf", *argv], cwd=root, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=root, env=env, capture_output=True, text=True)
    heavy = probe.stderr.rsplit("HEAVY:", 1)[-1].strip()
    return statistics.median(seconds), heavy or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per command (the median is reported)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose aivf is timed (default: this one)")
    parser.add_argument("--top-only", action="store_true", help="time only `aivf --help`")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    from aivf.cli import COMMANDS

    commands = [[]] if args.top_only else [[], *([name] for name in COMMANDS)]
    print(f"{'command':<22} {'median s':>9}  torch/transformers imported")
    for command in commands:
        argv = [*command, "--help"]
        median, heavy = time_help(argv, args.root, args.runs)
        print(f"{'aivf ' + ' '.join(argv):<22} {median:9.2f}  {heavy}", flush=True)


if __name__ == "__main__":
    main()
