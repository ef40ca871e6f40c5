"""GPU training benchmark: VideoMAE-B and Video Swin-T at 16 x 224 x 224, bf16, SDPA.

One command on one H100/H200 (about 5 minutes; stops starting new cases after --budget-s):

    .venv/bin/python bench/bench_gpu_train.py            # all cases, prints a Markdown table
    .venv/bin/python bench/bench_gpu_train.py --cpu-smoke --steps 2   # tiny models on CPU (tests)

Each case runs in its own process (clean peak-memory counter and accelerate/DeepSpeed state) and
uses the training loop's own pieces (aivf.train.loop.build_accelerator / configure_deepspeed /
train_step), so the numbers are those of `aivf train`. Cases: each model x {plain, gradient
checkpointing, DeepSpeed ZeRO-2, both} on synthetic tensors, plus each model through the real
loader (aivf.dataset ShardLoader + the loop's prefetch thread) on a dataset simulated and built
at 224 px on first use (or --dataset PATH).

FLOPs are counted, not assumed: torch.utils.flop_counter on one forward (SDPA included). For
VideoMAE-B the published figure is 180 G multiply-adds = 361 GFLOP per 16x224x224 clip; training
counts 3x forward (forward + backward of activations and weights; recomputation under gradient
checkpointing is extra work and NOT counted as useful). MFU = 3 x forward FLOPs x clips/s / peak,
with the peak dense bf16 throughput of the card (H100 SXM / H200: 989 TFLOPS; --peak-tflops).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.4, "H200": 989.4, "A100": 312.0, "L40S": 362.0}


def cases(cpu_smoke: bool, with_loader: bool) -> list[dict]:
    models = ["videomae", "video_swin"]
    out = [dict(model=m, source="synthetic", zero2=z, gc=g) for m in models for z in (False, True) for g in (False, True)]
    if cpu_smoke:  # one case per code path, to keep the smoke short
        out = [c for c in out if (c["model"], c["zero2"], c["gc"]) in
               {("videomae", False, False), ("videomae", True, True), ("video_swin", False, True)}]
    if with_loader:
        out += [dict(model=m, source="loader", zero2=False, gc=False) for m in models]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def synthetic_batch(batch: int, frames: int, size: int, device):
    import torch

    labels = torch.randint(0, 2, (batch, 3)).float()
    labels[torch.rand(batch, 3) < 0.3] = float("nan")
    return {"pixel_values": torch.randn(batch, frames, 1, size, size, device=device),
            "keyframe_hpi": torch.linspace(12, 116, frames, device=device).repeat(batch, 1),
            "keyframe_mask": torch.ones(batch, frames, dtype=torch.bool, device=device),
            "covariates": torch.randn(batch, 2, device=device), "labels": labels.to(device)}


def _math_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    """Attention as plain matmuls, so the FLOP counter sees it on every device (no dropout, not causal)."""
    scores = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5 if scale is None else scale)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == bool else scores + attn_mask
    return scores.softmax(-1) @ v


def forward_flops(model, batch: dict) -> float:
    """FLOPs of one forward of ``batch`` (torch's counter: matmuls, convolutions, attention).

    torch's counter misses fused SDPA kernels on some devices (CPU: VideoMAE-B counted 268 instead of
    357 GFLOP), so attention is counted through an equivalent matmul version while measuring.
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    counter, fused = FlopCounterMode(display=False), F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _math_sdpa
    try:
        with torch.no_grad(), counter, torch.autocast(batch["pixel_values"].device.type, dtype=torch.bfloat16,
                                                       enabled=batch["pixel_values"].is_cuda):
            model(**{k: v for k, v in batch.items() if k != "labels"})
    finally:
        F.scaled_dot_product_attention = fused
    return float(counter.get_total_flops())


def run_case(case: dict, args) -> dict:
    """Train ``args.steps`` timed steps of one case in this process; returns its measurements."""
    if case["zero2"]:  # what `accelerate launch --config_file configs/accelerate/deepspeed_zero2.yaml` sets
        os.environ.update(ACCELERATE_USE_DEEPSPEED="true", ACCELERATE_DEEPSPEED_ZERO_STAGE="2",
                          ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE="none",
                          ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE="none", ACCELERATE_DEEPSPEED_ZERO3_INIT="false",
                          RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1",
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    import torch
    from accelerate.utils import send_to_device

    from aivf.model import ModelConfig, build_model
    from aivf.train.loop import build_accelerator, configure_deepspeed, param_groups, train_step

    cuda = torch.cuda.is_available()
    size = "micro" if args.cpu_smoke else ("base" if case["model"] == "videomae" else "tiny")
    mcfg = ModelConfig(backbone=case["model"], size=size, num_frames=args.frames, image_size=args.size, channels=1,
                       attn_implementation="sdpa", gradient_checkpointing=case["gc"])
    torch.manual_seed(0)
    model = build_model(mcfg)
    device = torch.device("cuda" if cuda else "cpu")
    one = synthetic_batch(1, args.frames, args.size, device)
    flops_fwd = forward_flops(model.to(device), one)
    accelerator = build_accelerator(1, "bf16" if cuda else "no")
    optimizer = torch.optim.AdamW(param_groups(model, 0.05, lr=1e-4), lr=1e-4, fused=cuda and not case["zero2"])
    configure_deepspeed(accelerator, args.batch, 1, 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)

    loader_rate = None
    if case["source"] == "synthetic":
        fixed = synthetic_batch(args.batch, args.frames, args.size, device)
        batches = iter(lambda: fixed, None)
    else:
        from aivf.dataset.config import LoaderConfig
        from aivf.train.data import ShardTrainData

        data = ShardTrainData(args.dataset, "kfold/0", LoaderConfig(), args.batch, seed=0, rank=0, world_size=1,
                              prefetch_batches=args.prefetch)
        tick, n = time.perf_counter(), 0
        for n, _ in enumerate(data.train_batches(0, 0), 1):  # the loader alone (decode + augment)
            if n == args.steps:
                break
        loader_rate = n * args.batch / (time.perf_counter() - tick)

        def forever():
            epoch = 0
            while True:
                yield from (send_to_device(b, device, non_blocking=True) for b in data.train_batches(epoch, 0))
                epoch += 1
        batches = forever()

    for _ in range(args.warmup):
        train_step(model, next(batches), optimizer, accelerator, 1.0)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    tick = time.perf_counter()
    for _ in range(args.steps):
        loss, _, _ = train_step(model, next(batches), optimizer, accelerator, 1.0)
    loss = float(loss)  # waits for the GPU
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - tick
    clips_per_s = args.steps * args.batch / seconds
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), float("nan"))
    return dict(case, size=size, batch=args.batch, device=name, clips_per_s=clips_per_s,
                step_ms=1000 * seconds / args.steps, fwd_gflop_per_clip=flops_fwd / 1e9,
                mfu=3 * flops_fwd * clips_per_s / (peak * 1e12),
                peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
                loader_clips_per_s=loader_rate, loss=loss)


def ensure_dataset(args) -> str:
    """A 224 px, 16-keyframe dataset for the loader cases (simulated + built once, reused after)."""
    path = Path(args.dataset)
    if (path / "manifest.json").is_file():
        return str(path)
    run = ["name=bench_gpu_data", f"output_dir={path.parent.parent}", "sim.num_patients=16", "sim.contact_sheet=false",
           f"sim.imaging.image_size={args.size}", "sim.imaging.frame_interval_h=1.0", f"sim.workers={os.cpu_count()}",
           f"data.keyframes.size={args.size}", f"data.keyframes.num_keyframes={args.frames}",
           f"dataset.workers={os.cpu_count()}", "dataset.embryos_per_shard=16", f"dataset.output={path.resolve()}"]
    aivf = [sys.executable, "-m", "aivf"]
    for command in (["simulate"], ["build"]):
        subprocess.run([*aivf, *command, *run], cwd=ROOT, check=True)
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (cuDNN autotune, allocator)")
    parser.add_argument("--batch", type=int, default=16, help="clips per step")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--prefetch", type=int, default=4, help="loader batches read ahead (train.prefetch_batches)")
    parser.add_argument("--dataset", default="outputs/bench_gpu_data/dataset", help="built dataset for the loader cases")
    parser.add_argument("--no-loader", action="store_true", help="skip the real-loader cases")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="peak dense bf16 TFLOPS (default: by card name)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no new case after this many seconds")
    parser.add_argument("--cpu-smoke", action="store_true", help="micro models, 4 x 32 x 32, batch 2, on CPU")
    parser.add_argument("--one-case", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write all results to this JSON file")
    args = parser.parse_args()
    if args.cpu_smoke:
        explicit = {a.split("=")[0] for a in sys.argv[1:]}
        args.batch = 2 if "--batch" not in explicit else args.batch
        args.warmup = 1 if "--warmup" not in explicit else args.warmup
        if "--frames" not in explicit and "--size" not in explicit:
            args.frames, args.size = 4, 32
    if args.one_case:
        print("RESULT " + json.dumps(run_case(json.loads(args.one_case), args)), flush=True)
        return 0

    start, results = time.perf_counter(), []
    with_loader = not args.no_loader and (not args.cpu_smoke or Path(args.dataset, "manifest.json").is_file())
    if with_loader:
        args.dataset = ensure_dataset(args)
        frames, _, size, _ = json.loads(Path(args.dataset, "manifest.json").read_text())["keyframe_shape"]
        if (frames, size) != (args.frames, args.size):
            if not args.cpu_smoke:
                raise SystemExit(f"{args.dataset} holds {frames}x{size}x{size} keyframes, not "
                                 f"{args.frames}x{args.size}x{args.size}: pass another --dataset or delete it")
            args.frames, args.size = frames, size  # smoke: follow whatever tiny dataset was given
    forwarded = [f"--steps={args.steps}", f"--warmup={args.warmup}", f"--batch={args.batch}",
                 f"--frames={args.frames}", f"--size={args.size}", f"--prefetch={args.prefetch}",
                 f"--peak-tflops={args.peak_tflops}"] + (["--cpu-smoke"] if args.cpu_smoke else [])
    for case in cases(args.cpu_smoke, with_loader):
        if time.perf_counter() - start > args.budget_s:
            print(f"budget of {args.budget_s:.0f} s spent: skipping {case}", flush=True)
            continue
        proc = subprocess.run([sys.executable, __file__, *forwarded, "--dataset", args.dataset, "--one-case",
                               json.dumps(case)], cwd=ROOT, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            tail = (proc.stderr or proc.stdout)[-1500:]
            print(f"FAILED {case}: exit {proc.returncode}\n{tail}", flush=True)
            results.append(dict(case, error=tail.splitlines()[-1] if tail else "no output"))
            continue
        results.append(json.loads(lines[-1][7:]))
        print(json.dumps(results[-1]), flush=True)

    device = next((r["device"] for r in results if "device" in r), "?")
    print(f"\n{device}, {'fp32 (CPU smoke)' if device == 'cpu' else 'bf16'}, SDPA, "
          f"{args.frames}x{args.size}x{args.size}, batch {args.batch}, {args.steps} timed steps "
          f"({time.perf_counter() - start:.0f} s total)\n")
    print("| model | data | ZeRO-2 | grad ckpt | clips/s | step ms | fwd GFLOP/clip | MFU | peak GiB | loader clips/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['model']} | {r['source']} | {r['zero2']} | {r['gc']} | failed: {r['error'][:60]} |||||")
            continue
        loader = f"{r['loader_clips_per_s']:.0f}" if r["loader_clips_per_s"] else "-"
        print(f"| {r['model']}-{r['size']} | {r['source']} | {'yes' if r['zero2'] else 'no'} | {'yes' if r['gc'] else 'no'} "
              f"| {r['clips_per_s']:.1f} | {r['step_ms']:.0f} | {r['fwd_gflop_per_clip']:.4g} | {100 * r['mfu']:.1f}% "
              f"| {r['peak_mem_gib']:.1f} | {loader} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0 if results and all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
