"""The CPU benchmarks of issue 17: bench/bench_reference.py compares like with like; bench/profile_step.py's tables."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
try:
    import bench_reference
    import profile_step
finally:
    sys.path.pop(0)


def test_videomae_pair_is_the_same_network():
    project, reference = bench_reference.videomae_pair(1, 4, 32, "sdpa", width="micro")
    with torch.no_grad():
        assert torch.equal(project(), reference())  # same weights, same input: timing compares like with like
    times = bench_reference.interleaved({"project": project, "reference": reference}, rounds=2, warmup=1)
    assert {k: len(v) for k, v in times.items()} == {"project": 2, "reference": 2}


def test_op_categories():
    assert profile_step.category("aten::_scaled_dot_product_flash_attention_for_cpu") == "attention"
    assert profile_step.category("aten::addmm") == "matmul / conv"
    assert profile_step.category("aten::copy_") == "copies"
    assert profile_step.category("aten::permute") == "layout"
    assert profile_step.category("aten::native_layer_norm_backward") == "norm"
    assert profile_step.category("aten::gelu") == "elementwise / other"


def test_profile_of_one_step_charges_every_phase():
    table = profile_step.profile_model("videomae", "micro", "2x4x32", torch.device("cpu"), warmup=1, trace=None)
    shares = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0] in profile_step.PHASES:
            shares[cells[0]] = float(cells[2].rstrip("%"))
    assert set(shares) == set(profile_step.PHASES)
    assert all(v > 0 for v in shares.values()) and sum(shares.values()) == pytest.approx(100, abs=0.5)
    assert "optimizer (AdamW + clipping)" in table and "| `aten::" in table
