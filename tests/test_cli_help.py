"""``aivf --help`` and every sub-command's ``--help`` import neither torch nor transformers.

Each case is a fresh interpreter (this test process has long imported both), which runs the CLI as
``python -m aivf`` does and then reports what is in ``sys.modules``. Timing is in bench/bench_cli.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aivf.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers")

PROBE = """
import runpy, sys
try:
    runpy.run_module({module!r}, run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = None
print("EXIT:", code)
print("HEAVY:", ",".join(m for m in {heavy!r} if m in sys.modules))
"""


def run_help(module: str, argv: list[str]) -> tuple[str, str, str]:
    """stdout of ``python -m <module> <argv>`` in a fresh process, its exit code and the heavy modules loaded."""
    probe = PROBE.format(module=module, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    out = done.stdout
    exit_code = out.rsplit("EXIT:", 1)[1].split("\n", 1)[0].strip()
    heavy = out.rsplit("HEAVY:", 1)[1].strip()
    return out, exit_code, heavy


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_neither_torch_nor_transformers(command):
    argv = [command, "--help"] if command else ["--help"]
    out, exit_code, heavy = run_help("aivf", argv)
    assert exit_code == "0", out
    assert out.startswith(f"usage: aivf {command}".rstrip()), out
    assert heavy == "", f"`aivf {' '.join(argv)}` imported {heavy}"


def test_train_module_help_is_light():
    """``accelerate launch -m aivf.train --help`` goes through aivf/train/__main__.py, not aivf.cli."""
    out, exit_code, heavy = run_help("aivf.train", ["--help"])
    assert exit_code == "0", out
    assert "usage:" in out
    assert heavy == "", f"`python -m aivf.train --help` imported {heavy}"


def test_top_level_help_lists_every_command():
    out, _, _ = run_help("aivf", ["--help"])
    for name in COMMANDS:
        assert f"    {name} " in out


def test_import_aivf_model_still_registers_the_auto_classes():
    """The light config module must not change what ``import aivf.model`` does (eager registration)."""
    code = ("import aivf.model\nfrom transformers import AutoConfig\nfrom aivf.model.config import ModelConfig\n"
            "from aivf.model_config import ModelConfig as Light\nassert ModelConfig is Light\n"
            "print(type(AutoConfig.for_model('aivf_embryo')).__name__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "EmbryoConfig"
