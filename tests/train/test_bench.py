"""bench/bench_gpu_train.py runs end to end in --cpu-smoke mode (the GPU run itself is the lead's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_flop_count_includes_attention():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import torch
        from bench_gpu_train import forward_flops, synthetic_batch

        from aivf.model import ModelConfig, build_model
    finally:
        sys.path.pop(0)
    cfg = ModelConfig(backbone="videomae", size="micro", num_frames=4, image_size=32, channels=1)
    model = build_model(cfg).eval()
    flops = forward_flops(model, synthetic_batch(1, 4, 32, torch.device("cpu")))
    # micro VideoMAE: 2 layers, hidden 64, tubelet 2 x patch 16 -> 2 x 2 x 2 = 8 tokens; attention 2 N^2 d per layer
    attention = 2 * 2 * (2 * 8 * 8 * 64)
    assert flops > attention and torch.nn.functional.scaled_dot_product_attention.__name__ == "scaled_dot_product_attention"


@pytest.mark.slow
def test_smoke_runs_every_code_path(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "bench/bench_gpu_train.py", "--smoke", "--no-loader", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    import json

    results = json.loads(out.read_text())["cases"]
    assert {(r["model"], r["compile"], r["fused"], r["zero2"], r["gc"]) for r in results} == {
        ("videomae", False, True, False, False), ("video_swin", True, True, False, False),
        ("videomae", False, False, False, False), ("video_swin", False, True, True, True)}
    assert all(r["clips_per_s"] > 0 and r["fwd_gflop_per_clip"] > 0 and not r["fused_used"] for r in results)
    assert "| video_swin-micro | synthetic | 2 | yes | no | no | no |" in proc.stdout
