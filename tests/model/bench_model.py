"""Benchmark forward + backward of EmbryoModel backbones (not collected by pytest: run it by hand).

    .venv/bin/python tests/model/bench_model.py                      # CPU, micro sizes, asserts < 1 s
    python tests/model/bench_model.py --device cuda --sizes tiny base --frames 16 --image-size 224 --batch 4

On CPU the issue's target is "forward + backward of tiny Swin and VideoMAE well under a second";
the assertion lives here, not in a unit test, because timings on shared CI machines are noisy.
"""

from __future__ import annotations

import argparse
import time

import torch

from aivf.model import ModelConfig, build_model


def bench(backbone: str, size: str, device: str, batch: int, frames: int, image_size: int, channels: int,
          steps: int, checkpointing: bool, bf16: bool) -> dict[str, float]:
    torch.manual_seed(0)
    cfg = ModelConfig(backbone=backbone, size=size, num_frames=frames, image_size=image_size, channels=channels,
                      gradient_checkpointing=checkpointing, phase_head=True)
    model = build_model(cfg).to(device).train()
    x = torch.randn(batch, frames, channels, image_size, image_size, device=device)
    hpi = torch.linspace(10, 110, frames, device=device).repeat(batch, 1)
    labels = torch.randint(0, 2, (batch, 3), device=device).float()
    labels[0, 2] = float("nan")
    times = []
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warmup = 3  # the first steps pick oneDNN / cuDNN kernels and grow allocators: not timed
    for _ in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(x, keyframe_hpi=hpi, labels=labels).loss
        loss.backward()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        assert torch.isfinite(loss), f"{backbone}/{size}: loss {loss}"
        model.zero_grad(set_to_none=True)
    timed = sorted(times[warmup:])
    result = {"median_s": timed[len(timed) // 2],
              "params_M": sum(p.numel() for p in model.parameters()) / 1e6}
    if device == "cuda":
        result["peak_GiB"] = torch.cuda.max_memory_allocated() / 2**30
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbones", nargs="+", default=["videomae", "video_swin"])
    parser.add_argument("--sizes", nargs="+", default=["micro"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=None, help="fail if a median step is slower")
    args = parser.parse_args()
    limit = args.max_seconds if args.max_seconds is not None else (1.0 if args.device == "cpu" else None)
    for backbone in args.backbones:
        for size in args.sizes:
            if backbone == "video_swin" and size == "large":
                continue
            r = bench(backbone, size, args.device, args.batch, args.frames, args.image_size, args.channels,
                      args.steps, args.checkpointing, args.bf16)
            shape = f"{args.batch}x{args.frames}x{args.channels}x{args.image_size}x{args.image_size}"
            print(f"{backbone:10s} {size:6s} {shape:18s} params {r['params_M']:8.2f} M  fwd+bwd {r['median_s'] * 1e3:8.1f} ms"
                  + (f"  peak {r['peak_GiB']:.2f} GiB" if "peak_GiB" in r else ""), flush=True)
            if limit is not None and size == "micro":
                assert r["median_s"] < limit, f"{backbone} micro forward+backward {r['median_s']:.3f} s >= {limit} s"


if __name__ == "__main__":
    main()
