"""Gradient accumulation gives the same update however the effective batch is split across processes.

1 process x accumulation 2 == 2 processes x accumulation 1 on the same micro-batches, under DDP (gloo)
and under DeepSpeed ZeRO-2, via real ``accelerate launch`` subprocesses. Upstream bugs this catches:
the loss divided by the accumulation count twice (or not at all), DeepSpeed's accumulation count
silently reset to the launch file's value, the scheduler stepped once per process.
"""

from __future__ import annotations

import pytest
import torch
from launch import run_toy
from safetensors.torch import load_file

COMMON = ["train.max_steps=4", "train.per_device_batch_size=2", "train.lr=0.01", "train.warmup_steps=1",
          "train.grad_clip=0.5", "train.eval_every=0", "train.save_every=0", "train.tracker=none",
          "train.log_images=false", "train.log_every=1"]


def trained(tmp_path, kind: str, processes: int, accum: int) -> dict[str, torch.Tensor]:
    name = f"{kind}-{processes}x{accum}"
    out = run_toy(kind, processes, [*COMMON, f"output_dir={tmp_path}", f"name={name}",
                                    f"train.grad_accum_steps={accum}"])
    assert f"x {accum} accumulation x {processes} processes = {2 * accum * processes} clips" in out
    return load_file(tmp_path / name / "final" / "model.safetensors")


def assert_same(a: dict, b: dict, what: str) -> None:
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6, rtol=1e-5), f"{what}: {key} differs by {(a[key] - b[key]).abs().max()}"


def assert_differs(a: dict, b: dict) -> None:
    assert any(not torch.allclose(a[k], b[k], atol=1e-4) for k in a), "the comparison cannot fail: runs too similar"


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process_with_accumulation(tmp_path):
    one_by_two = trained(tmp_path, "plain", 1, 2)
    two_by_one = trained(tmp_path, "ddp", 2, 1)
    assert_same(one_by_two, two_by_one, "DDP 2x1 vs 1 process x accumulation 2")
    assert_differs(one_by_two, trained(tmp_path, "plain", 1, 1))  # half the batch: the test can tell


@pytest.mark.slow
def test_deepspeed_zero2_matches_both_ways(tmp_path):
    reference = trained(tmp_path, "plain", 1, 2)
    assert_same(reference, trained(tmp_path, "deepspeed", 2, 1), "DeepSpeed ZeRO-2 2x1 vs plain 1x2")
    assert_same(reference, trained(tmp_path, "deepspeed", 1, 2), "DeepSpeed ZeRO-2 1x2 (accumulating) vs plain 1x2")
