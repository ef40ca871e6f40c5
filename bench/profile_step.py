"""Where one training step's time goes (issue 17, item 1): torch.profiler over one optimizer step.

    nice -n 10 .venv/bin/python bench/profile_step.py                       # VideoMAE-B and Swin-T, CPU
    .venv/bin/python bench/profile_step.py --models video_swin --size 4x8x112   # one model, another input
    .venv/bin/python bench/profile_step.py --device cuda --size 16x16x224       # on a GPU (kernel time)

The step is the loop's (aivf.train.loop.train_step): EmbryoModel forward with its loss, backward,
gradient clipping, AdamW step, each under a record_function label so that every op is charged to
its phase. Prints two Markdown tables per model, for docs/gpu.md: the phases, and the ops by self
time grouped as attention / matmul+conv / copies / layout / norm / elementwise / optimizer. No
trace file is written unless --trace DIR is given (traces are not committed).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

PHASES = ("forward", "backward", "clip_grad_norm", "optimizer")
# Ops by name, first match wins; everything under the optimizer or clipping labels is "optimizer".
CATEGORIES = {
    "attention": ("scaled_dot_product", "flash_attention", "efficient_attention", "softmax"),
    "matmul / conv": ("mm", "addmm", "bmm", "baddbmm", "matmul", "linear", "conv", "cudnn_convolution", "mkldnn_conv"),
    "copies": ("copy_", "clone", "contiguous", "_to_copy", "to", "cat", "stack", "fill_", "zero_", "zeros",
               "empty", "new_zeros", "index_select", "gather"),
    "layout": ("permute", "transpose", "view", "reshape", "_reshape_alias", "as_strided", "roll", "constant_pad_nd",
               "pad", "expand", "unsqueeze", "squeeze", "t", "flatten", "slice", "select", "index", "narrow",
               "split", "chunk", "unbind", "unflatten", "alias", "detach", "masked_fill", "_unsafe_view"),
    "norm": ("native_layer_norm", "layer_norm", "native_layer_norm_backward"),
}


def category(op: str) -> str:
    """The group of an op: exact names, except attention (any name containing one) and matmul / conv (prefixes)."""
    base = op.removeprefix("aten::").lstrip("_")
    for name, ops in CATEGORIES.items():
        if base in ops or (name == "attention" and any(o in base for o in ops)) or \
                (name == "matmul / conv" and base.startswith(ops)):
            return name
    return "elementwise / other"


def phase_of(event) -> str:
    """The record_function label above an op (ops of autograd's engine outside a label count as backward)."""
    node = event
    while node is not None:
        if node.name in PHASES:
            return node.name
        node = node.cpu_parent
    return "backward"


def synthetic_batch(batch: int, frames: int, size: int, device: torch.device) -> dict:
    labels = torch.randint(0, 2, (batch, 3)).float()
    labels[torch.rand(batch, 3) < 0.3] = float("nan")  # missing labels, as in the real data
    return {"pixel_values": torch.randn(batch, frames, 1, size, size, device=device),
            "keyframe_hpi": torch.linspace(12, 116, frames, device=device).repeat(batch, 1),
            "keyframe_mask": torch.ones(batch, frames, dtype=torch.bool, device=device),
            "covariates": torch.randn(batch, 2, device=device), "labels": labels.to(device)}


def step(model, batch: dict, optimizer, accelerator, grad_clip: float) -> None:
    """aivf.train.loop.train_step without accumulation, each phase labelled."""
    with record_function("forward"):
        loss = model(**batch).loss
    with record_function("backward"):
        accelerator.backward(loss)
    with record_function("clip_grad_norm"):
        accelerator.clip_grad_norm_(model.parameters(), grad_clip)
    with record_function("optimizer"):
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def profile_model(backbone: str, size: str, shape: str, device: torch.device, warmup: int, trace: str | None,
                  steps: int = 1) -> str:
    """The Markdown tables of ``steps`` profiled training steps (times per step: averaged over them)."""
    from aivf.model import ModelConfig, build_model
    from aivf.train.loop import build_accelerator, param_groups

    batch, frames, pixels = (int(v) for v in shape.split("x"))
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=backbone, size=size, num_frames=frames, image_size=pixels, channels=1,
                                    attn_implementation="sdpa")).to(device).train()
    accelerator = build_accelerator(1, "bf16" if device.type == "cuda" else "no")
    optimizer = torch.optim.AdamW(param_groups(model, 0.05, lr=1e-4), lr=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    data = synthetic_batch(batch, frames, pixels, device)
    for _ in range(warmup):  # kernel choice and allocator growth are not the step
        step(model, data, optimizer, accelerator, 1.0)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    tick = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step(model, data, optimizer, accelerator, 1.0)
        sync()
    wall = (time.perf_counter() - tick) / steps
    if trace:
        prof.export_chrome_trace(f"{trace}/{backbone}_{shape}.json")

    events = [e for e in prof.events() if e.name not in PHASES and not e.name.startswith(("Optimizer.", "autograd::"))]
    by_phase: dict[str, float] = defaultdict(float)
    by_category: dict[str, float] = defaultdict(float)
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for e in events:
        self_us = e.self_cpu_time_total / steps
        ph = phase_of(e)
        by_phase[ph] += self_us
        by_category["optimizer (AdamW + clipping)" if ph in ("optimizer", "clip_grad_norm") else category(e.name)] += self_us
        by_op[e.name][0] += self_us
        by_op[e.name][1] += 1 / steps
    total = sum(by_phase.values())
    lines = [f"### {backbone}-{size}, input {shape} (B x T x H), {device.type}: per step (mean of {steps}) "
             f"{1000 * wall:.0f} ms wall under the profiler, {total / 1000:.0f} ms of op self time, "
             f"{len(events) / steps:.0f} op calls", "",
             "| phase | self ms | share |", "|---|---|---|"]
    lines += [f"| {p} | {by_phase[p] / 1000:.0f} | {100 * by_phase[p] / total:.1f}% |" for p in PHASES]
    lines += ["", "| category | self ms | share |", "|---|---|---|"]
    lines += [f"| {c} | {v / 1000:.0f} | {100 * v / total:.1f}% |"
              for c, v in sorted(by_category.items(), key=lambda kv: -kv[1])]
    lines += ["", "| top ops by self time | calls | self ms | share |", "|---|---|---|---|"]
    for name, (us, calls) in sorted(by_op.items(), key=lambda kv: -kv[1][0])[:12]:
        lines.append(f"| `{name}` | {calls:.0f} | {us / 1000:.1f} | {100 * us / total:.1f}% |")
    if device.type == "cuda":  # kernel time vs CPU time shows launch gaps
        kernel_us = sum(e.self_device_time_total for e in prof.events()) / steps
        lines += ["", f"GPU kernel time {kernel_us / 1000:.1f} ms of {1000 * wall:.1f} ms wall "
                      f"({100 * kernel_us / 1000 / (1000 * wall):.0f}% busy)"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["videomae", "video_swin"], choices=["videomae", "video_swin"])
    parser.add_argument("--size", default=None, help="B x T x H of the input (default: 1x8x112 VideoMAE, 2x8x112 Swin)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3, help="profiled steps (the tables give their mean)")
    parser.add_argument("--trace", default=None, help="also write Chrome traces into this folder (not committed)")
    args = parser.parse_args()
    device = torch.device(args.device)
    sizes = {"videomae": ("base", "1x8x112"), "video_swin": ("tiny", "2x8x112")}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    for backbone in args.models:
        size, shape = sizes[backbone]
        # bf16 on a GPU comes from the Accelerator (mixed_precision="bf16"), as in `aivf train`
        print(profile_model(backbone, size, args.size or shape, device, args.warmup, args.trace, args.steps), "\n",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
