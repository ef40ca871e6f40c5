"""GPU training benchmark: VideoMAE-B and Video Swin-T at 16 x 224 x 224, bf16, SDPA (issue 17).

One command on one H100/H200 runs every measurement of the issue within --time-limit-s (default
540 s = 9 min: a case that would start too late is skipped, a case that runs past it is killed):

    .venv/bin/python bench/bench_gpu_train.py            # all cases, prints a Markdown table
    .venv/bin/python bench/bench_gpu_train.py --smoke    # tiny models on CPU, 4 x 32 x 32 (tests, dry run)

Each case runs in its own process (clean peak-memory counter and accelerate/DeepSpeed state) and
uses the training loop's own pieces (aivf.train.loop.build_accelerator / configure_deepspeed /
use_fused_adamw / train_step, and ``model.compile()`` as ``train.compile``), so the numbers are
those of `aivf train`. Cases, most important first (the time limit cuts from the end):
each model eager vs compiled (fused AdamW), compiled with the default AdamW (what fusing buys),
compiled under DeepSpeed ZeRO-2 (vs plain DDP on one card), compiled through the real loader
(decode of uint8 shards in the loop's prefetch thread, augmentation on the device; the step's wait
for data is timed: "starved" when it exceeds 5% of the step), then gradient checkpointing and a
doubled batch. Separately, the loader alone: clips/s of N parallel loader processes (default 16,
the GPU machine's cores), compared with the fastest model rate (issue target: >= 1.2x).

FLOPs are counted, not assumed: torch.utils.flop_counter on one forward (SDPA included). For
VideoMAE-B the published figure is 180 G multiply-adds = 361 GFLOP per 16x224x224 clip; training
counts 3x forward (forward + backward of activations and weights; recomputation under gradient
checkpointing is extra work and NOT counted as useful). MFU = 3 x forward FLOPs x clips/s / peak,
with the peak dense bf16 throughput of the card (H100 SXM / H200: 989 TFLOPS; --peak-tflops).
The first steps of a compiled case compile (inductor caches on disk, so later cases of the same
model compile faster); they are untimed warm-up, and their time is reported as "warm-up s".
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


def cases(smoke: bool, with_loader: bool, batch: int) -> list[dict]:
    """Every setting to measure, most important first (the time limit drops cases from the end)."""
    def case(model, compile=True, fused=True, zero2=False, gc=False, source="synthetic", batch_size=batch):
        return dict(model=model, compile=compile, fused=fused, zero2=zero2, gc=gc, source=source, batch=batch_size)

    models = ["videomae", "video_swin"]
    out = [case(m, compile=c) for m in models for c in (False, True)]  # compile on/off
    out += [case(m, fused=False) for m in models]  # fused AdamW on/off (compiled)
    out += [case(m, zero2=True) for m in models]  # ZeRO-2 vs plain DDP (compiled)
    if with_loader:
        out += [case(m, source="loader") for m in models]
    out += [case(m, gc=True) for m in models] + [case(m, batch_size=2 * batch) for m in models]
    if smoke:  # every code path once, compile only where it is the point (inductor on CPU is slow)
        keep = [out[0], out[3], dict(out[4], compile=False), dict(out[7], compile=False, gc=True)]
        out = keep + [dict(c, compile=False) for c in out if c["source"] == "loader"][:1]
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
    from aivf.train import loop

    cuda = torch.cuda.is_available()
    size = "micro" if args.smoke else ("base" if case["model"] == "videomae" else "tiny")
    batch = case["batch"]
    mcfg = ModelConfig(backbone=case["model"], size=size, num_frames=args.frames, image_size=args.size, channels=1,
                       attn_implementation="sdpa", gradient_checkpointing=case["gc"])
    torch.manual_seed(0)
    model = build_model(mcfg)
    device = torch.device("cuda" if cuda else "cpu")
    one = synthetic_batch(1, args.frames, args.size, device)
    flops_fwd = forward_flops(model.to(device), one)
    accelerator = loop.build_accelerator(1, "bf16" if cuda else "no")
    fused = loop.use_fused_adamw(case["fused"], device.type, case["zero2"])
    optimizer = torch.optim.AdamW(loop.param_groups(model, 0.05, lr=1e-4), lr=1e-4, fused=fused)
    if case["compile"]:  # as train.compile
        model.compile()
    loop.configure_deepspeed(accelerator, batch, 1, 1.0)
    model, optimizer = accelerator.prepare(model, optimizer)

    if case["source"] == "synthetic":
        fixed = synthetic_batch(batch, args.frames, args.size, device)
        batches = iter(lambda: fixed, None)
    else:
        from aivf.dataset.config import LoaderConfig
        from aivf.train.data import ShardTrainData

        data = ShardTrainData(args.dataset, "kfold/0", LoaderConfig(augment_on="device"), batch, seed=0, rank=0,
                              world_size=1, prefetch_batches=args.prefetch)

        def forever():
            epoch = 0
            while True:  # decode in the prefetch thread, augment on the device (LoaderConfig.augment_on="device")
                for index, b in enumerate(data.train_batches(epoch, 0)):
                    yield data.train_loader.augment(send_to_device(b, device, non_blocking=True), epoch, index)
                epoch += 1
        batches = forever()

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tick = time.perf_counter()
    for _ in range(args.warmup):
        loop.train_step(model, next(batches), optimizer, accelerator, 1.0)
    sync()
    warmup_s = time.perf_counter() - tick
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    wait = 0.0  # time the step spent waiting for its batch (0 for synthetic data)
    tick = time.perf_counter()
    for _ in range(args.steps):
        before = time.perf_counter()
        batch_data = next(batches)
        wait += time.perf_counter() - before
        loss, _, _ = loop.train_step(model, batch_data, optimizer, accelerator, 1.0)
    loss = float(loss)  # waits for the GPU
    sync()
    seconds = time.perf_counter() - tick
    clips_per_s = args.steps * batch / seconds
    name = torch.cuda.get_device_name() if cuda else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), float("nan"))
    return dict(case, size=size, device=name, fused_used=fused, clips_per_s=clips_per_s,
                step_ms=1000 * seconds / args.steps, fwd_gflop_per_clip=flops_fwd / 1e9,
                mfu=3 * flops_fwd * clips_per_s / (peak * 1e12), warmup_s=warmup_s, data_wait=wait / seconds,
                starved=wait / seconds > 0.05 if case["source"] == "loader" else None,
                peak_mem_gib=torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"), loss=loss)


def _loader_worker(dataset: str, batch: int, rank: int, seconds: float, queue) -> None:
    """One loader process: decode + collate batches (no augmentation: that runs on the device) for ``seconds``."""
    import torch

    from aivf.dataset.config import LoaderConfig
    from aivf.dataset.loader import ShardLoader

    torch.set_num_threads(1)
    loader = ShardLoader(dataset, "kfold/0/train", LoaderConfig(batch_size=batch, augment_on="device"), seed=rank,
                         train=True, rank=0, world_size=1)
    clips, epoch, start = 0, 0, None
    while start is None or time.perf_counter() - start < seconds:
        for b in loader.iter_epoch(epoch):
            if start is None:  # the first batch opens the Arrow cache: not timed
                start = time.perf_counter()
                continue
            clips += len(b["pixel_values"])
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    queue.put((clips, time.perf_counter() - start))


def loader_rate(dataset: str, batch: int, workers: int, seconds: float) -> dict:
    """Clips/s of ``workers`` loader processes together (each reads the whole split with its own seed)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_loader_worker, args=(dataset, batch, r, seconds, queue)) for r in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    return dict(workers=workers, clips_per_s=sum(c / s for c, s in results))


def ensure_dataset(args) -> str:
    """A 224 px, 16-keyframe dataset for the loader cases (simulated + built once, reused after; tiny in --smoke)."""
    path = Path(args.dataset)
    if (path / "manifest.json").is_file():
        return str(path)
    patients, folds = (6, 3) if args.smoke else (16, 5)
    run = [f"name={path.parent.name}", f"output_dir={path.parent.parent}", f"sim.num_patients={patients}",
           "sim.contact_sheet=false",
           f"sim.imaging.image_size={args.size}", "sim.imaging.frame_interval_h=1.0", f"sim.workers={os.cpu_count()}",
           f"data.keyframes.size={args.size}", f"data.keyframes.num_keyframes={args.frames}",
           f"dataset.workers={os.cpu_count()}", "dataset.embryos_per_shard=16", f"dataset.splits.num_folds={folds}",
           f"dataset.output={path.resolve()}"]
    aivf = [sys.executable, "-m", "aivf"]
    for command in (["simulate"], ["build"]):
        subprocess.run([*aivf, *command, *run], cwd=ROOT, check=True)
    return str(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed optimizer steps per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation, cuDNN autotune)")
    parser.add_argument("--batch", type=int, default=16, help="clips per step")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--prefetch", type=int, default=4, help="loader batches read ahead (train.prefetch_batches)")
    parser.add_argument("--dataset", default=None, help="built dataset for the loader cases (default: "
                        "outputs/bench_gpu_data/dataset, or outputs/bench_gpu_smoke/dataset with --smoke)")
    parser.add_argument("--no-loader", action="store_true", help="skip the real-loader cases and the loader alone")
    parser.add_argument("--loader-workers", type=int, default=16, help="parallel loader processes for the loader alone")
    parser.add_argument("--loader-seconds", type=float, default=20.0, help="how long the loader alone is timed")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="peak dense bf16 TFLOPS (default: by card name)")
    parser.add_argument("--time-limit-s", type=float, default=540.0,
                        help="the whole run ends by then: no case starts with under 45 s left, a running one is killed")
    parser.add_argument("--smoke", "--cpu-smoke", action="store_true", dest="smoke",
                        help="micro models, 4 x 32 x 32, batch 2, 1 step, on CPU: every code path once")
    parser.add_argument("--one-case", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", default=None, help="also write all results to this JSON file")
    args = parser.parse_args()
    if args.smoke:
        explicit = {a.split("=")[0] for a in sys.argv[1:]}
        for key, value in (("batch", 2), ("warmup", 1), ("steps", 1), ("loader_workers", 2), ("loader_seconds", 2.0)):
            if f"--{key.replace('_', '-')}" not in explicit:
                setattr(args, key, value)
        if "--frames" not in explicit and "--size" not in explicit:
            args.frames, args.size = 4, 32
    args.dataset = args.dataset or f"outputs/bench_gpu_{'smoke' if args.smoke else 'data'}/dataset"
    if args.one_case:
        print("RESULT " + json.dumps(run_case(json.loads(args.one_case), args)), flush=True)
        return 0

    start, results, loader = time.perf_counter(), [], None
    left = lambda: args.time_limit_s - (time.perf_counter() - start)  # noqa: E731
    with_loader = not args.no_loader
    if with_loader:
        args.dataset = ensure_dataset(args)
        frames, _, size, _ = json.loads(Path(args.dataset, "manifest.json").read_text())["keyframe_shape"]
        if (frames, size) != (args.frames, args.size):
            if not args.smoke:
                raise SystemExit(f"{args.dataset} holds {frames}x{size}x{size} keyframes, not "
                                 f"{args.frames}x{args.size}x{args.size}: pass another --dataset or delete it")
            args.frames, args.size = frames, size  # smoke: follow whatever tiny dataset was given
        loader = loader_rate(args.dataset, args.batch, args.loader_workers, args.loader_seconds)
        print(f"loader alone: {loader['clips_per_s']:.0f} clips/s with {loader['workers']} processes", flush=True)
    forwarded = [f"--steps={args.steps}", f"--warmup={args.warmup}", f"--frames={args.frames}", f"--size={args.size}",
                 f"--prefetch={args.prefetch}", f"--peak-tflops={args.peak_tflops}"] + (["--smoke"] * args.smoke)
    for case in cases(args.smoke, with_loader, args.batch):
        if left() < 45:
            print(f"time limit: skipping {case}", flush=True)
            results.append(dict(case, error="skipped: time limit"))
            continue
        try:
            proc = subprocess.run([sys.executable, __file__, *forwarded, "--dataset", args.dataset, "--one-case",
                                   json.dumps(case)], cwd=ROOT, capture_output=True, text=True, timeout=left() - 10)
        except subprocess.TimeoutExpired:
            print(f"time limit: killed {case}", flush=True)
            results.append(dict(case, error="killed: time limit"))
            continue
        lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        if proc.returncode or not lines:
            tail = (proc.stderr or proc.stdout)[-1500:]
            print(f"FAILED {case}: exit {proc.returncode}\n{tail}", flush=True)
            errors = [line for line in tail.splitlines() if "Error" in line] or tail.splitlines() or ["no output"]
            results.append(dict(case, error=errors[-1]))
            continue
        results.append(json.loads(lines[-1][7:]))
        print(json.dumps(results[-1]), flush=True)
    print_table(results, loader, args, time.perf_counter() - start)
    if args.json:
        Path(args.json).write_text(json.dumps({"cases": results, "loader_alone": loader}, indent=1))
    return 0 if results and all("error" not in r for r in results) else 1


def print_table(results: list[dict], loader: dict | None, args, seconds: float) -> None:
    device = next((r["device"] for r in results if "device" in r), "?")
    print(f"\n{device}, {'fp32 (CPU smoke)' if device == 'cpu' else 'bf16'}, SDPA, "
          f"{args.frames}x{args.size}x{args.size}, {args.steps} timed steps ({seconds:.0f} s total)\n")
    print("| model | data | batch | compile | fused AdamW | ZeRO-2 | grad ckpt | clips/s | step ms | fwd GFLOP/clip "
          "| MFU | peak GiB | warm-up s | data wait | starved |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    yes = lambda v: "yes" if v else "no"  # noqa: E731
    for r in results:
        head = (f"| {r['model']}-{r.get('size', '?')} | {r['source']} | {r['batch']} | {yes(r['compile'])} "
                f"| {yes(r.get('fused_used', r['fused']))} | {yes(r['zero2'])} | {yes(r['gc'])} ")
        if "error" in r:
            print(head + f"| {r['error'][:70]} ||||||||")
            continue
        starved = "-" if r["starved"] is None else yes(r["starved"])
        print(head + f"| {r['clips_per_s']:.1f} | {r['step_ms']:.0f} | {r['fwd_gflop_per_clip']:.4g} "
              f"| {100 * r['mfu']:.1f}% | {r['peak_mem_gib']:.1f} | {r['warmup_s']:.0f} | {100 * r['data_wait']:.0f}% "
              f"| {starved} |")
    if loader:
        done = [r for r in results if "error" not in r]
        fastest = {m: max((r["clips_per_s"] for r in done if r["model"] == m), default=float("nan"))
                   for m in ("videomae", "video_swin")}
        ratios = ", ".join(f"{m} {loader['clips_per_s'] / v:.2f}x its fastest {v:.0f} clips/s"
                           for m, v in fastest.items())
        print(f"\nloader alone ({loader['workers']} processes, decode + collate, augmentation on the device): "
              f"{loader['clips_per_s']:.0f} clips/s = {ratios} (target >= 1.2x)")


if __name__ == "__main__":
    sys.exit(main())
