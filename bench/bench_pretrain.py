"""A pretraining step vs a supervised step of the same VideoMAE backbone and batch, side by side (issue 13: <= 0.5x).

    .venv/bin/python bench/bench_pretrain.py                          # CPU, ViT-Ti, 16 x 64 x 64, patch 8, batch 4
    .venv/bin/python bench/bench_pretrain.py --size base --image-size 224 --patch-size 16 --batch 16 --device cuda

Both steps are forward + backward + AdamW on synthetic tensors of the loader's batch contract: the supervised
one is EmbryoModel (backbone + heads, labels with NaNs), the pretraining one aivf's VideoMAEForPreTraining with
tube masking at ``--mask-ratio`` and a ``--decoder-layers`` decoder. Steps alternate (one of each, repeated),
so load on a shared machine hits both alike; the median of ``--steps`` timed pairs after ``--warmup`` is kept.
Prints step times, clips/s and the ratio pretrain / supervised.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build(args):
    from aivf.model import build_model
    from aivf.model.pretraining import EmbryoPretrainModel, pretraining_config
    from aivf.model_config import ModelConfig

    model_cfg = ModelConfig(size=args.size, num_frames=args.frames, image_size=args.image_size, channels=1,
                            backbone_overrides={"patch_size": args.patch_size})
    supervised = build_model(model_cfg)
    pretrain_cfg = SimpleNamespace(decoder_hidden_size=0, decoder_heads=0, decoder_layers=args.decoder_layers,
                                   norm_pix_loss=True)
    pretrain = EmbryoPretrainModel(pretraining_config(model_cfg, pretrain_cfg))
    return supervised, pretrain


def batches(args, device):
    from aivf.model.pretraining import tube_mask

    b, k, s = args.batch, args.frames, args.image_size
    grid = (k // 2, s // args.patch_size, s // args.patch_size)
    labels = torch.randint(0, 2, (b, 3)).float()
    labels[torch.rand(b, 3) < 0.75] = float("nan")
    common = {"pixel_values": torch.randn(b, k, 1, s, s), "keyframe_mask": torch.ones(b, k, dtype=torch.bool),
              "keyframe_hpi": torch.linspace(10, 116, k).repeat(b, 1)}
    supervised = {**common, "covariates": torch.randn(b, 2), "labels": labels}
    pretrain = {**common, "bool_masked_pos": tube_mask(b, grid, args.mask_ratio, torch.Generator().manual_seed(0))}
    pretrain.pop("keyframe_hpi")
    move = lambda d: {k: v.to(device) for k, v in d.items()}  # noqa: E731
    return move(supervised), move(pretrain)


def timed_step(model, optimizer, batch, device, autocast: bool) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny", help="row of aivf/model/sizes.py (micro, tiny, small, base, large)")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--mask-ratio", type=float, default=0.9)
    parser.add_argument("--decoder-layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed (supervised, pretrain) pairs")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (default on cuda)")
    parser.add_argument("--json", default="", help="also write the result here")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    autocast = args.bf16 or device.type == "cuda"
    torch.manual_seed(0)
    supervised, pretrain = (m.to(device).train() for m in build(args))
    sup_batch, pre_batch = batches(args, device)
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-4) for m in (supervised, pretrain)]
    times: dict[str, list[float]] = {"supervised": [], "pretrain": []}
    for i in range(args.warmup + args.steps):
        for name, model, opt, batch in (("supervised", supervised, opts[0], sup_batch),
                                        ("pretrain", pretrain, opts[1], pre_batch)):
            seconds = timed_step(model, opt, batch, device, autocast)
            if i >= args.warmup:
                times[name].append(seconds)
    sup, pre = statistics.median(times["supervised"]), statistics.median(times["pretrain"])
    tokens = (args.frames // 2) * (args.image_size // args.patch_size) ** 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    result = {"device": name, "size": args.size, "batch": args.batch, "clip": f"{args.frames}x{args.image_size}^2",
              "patch": args.patch_size, "tokens": tokens, "mask_ratio": args.mask_ratio,
              "decoder_layers": args.decoder_layers, "bf16": autocast,
              "supervised_step_s": sup, "pretrain_step_s": pre, "ratio": pre / sup,
              "supervised_clips_per_s": args.batch / sup, "pretrain_clips_per_s": args.batch / pre}
    print(f"{name}: VideoMAE-{args.size}, batch {args.batch} x {args.frames} x {args.image_size}^2, patch "
          f"{args.patch_size} ({tokens} tokens), mask {args.mask_ratio}, decoder {args.decoder_layers} layers, "
          f"bf16={autocast}")
    print(f"supervised step {sup * 1e3:8.1f} ms  ({args.batch / sup:7.1f} clips/s)")
    print(f"pretrain   step {pre * 1e3:8.1f} ms  ({args.batch / pre:7.1f} clips/s)")
    print(f"ratio pretrain / supervised = {pre / sup:.2f} (target <= 0.5)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
