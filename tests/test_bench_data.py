"""bench/bench_data.py --loader-only runs and prints both loader baselines (numbers are not checked: CPU load varies)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_loader_rows_include_both_baselines(tmp_path):
    out = tmp_path / "rows.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "bench/bench_data.py", "--loader-only", "--patients", "1", "--copies", "2",
                           "--work", str(tmp_path / "work"), "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    methods = {r["method"]: r for r in json.loads(out.read_text())}
    for name in ("ShardLoader, shuffled (Arrow cache, memory-mapped)", "plain datasets streaming + .shuffle(buffer 64)",
                 "torch DataLoader, memory-mapped Dataset, 0 workers", "torch DataLoader, memory-mapped Dataset, 2 workers"):
        assert methods[name]["per_s"] > 0, name
    assert "vs DataLoader" in proc.stdout
