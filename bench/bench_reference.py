"""CPU ratio benchmark: the project's backbones against their reference implementations (issue 17, item 4).

Times forward + backward of

* aivf's ``VideoSwinModel`` (Swin-T) against torchvision's ``swin3d_t`` (same config, same weights,
  same input), and
* aivf's ``VideoMAEBackbone`` (VideoMAE-B, ``features``) against transformers' ``VideoMAEModel``,

in ONE interpreter and torch build, and prints ``project / reference`` per pair (target: <= 1.1).
torchvision cannot be installed beside the main environment's CPU torch, so run it from a side
environment that reuses the main environment's other packages (transformers, accelerate, ...)::

    python3.11 -m venv /tmp/tvenv && /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    # the main venv's packages AFTER the side venv's own (a PYTHONPATH entry would shadow its torch):
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/tvenv/lib/python3.11/site-packages/main.pth
    PYTHONPATH=$PWD nice -n 10 /tmp/tvenv/bin/python bench/bench_reference.py

Without torchvision (the main venv) only the VideoMAE pair runs. Steps alternate A, B, A, B and the
medians are compared (minima printed too), because the CPU is shared with other work; the weights of each pair are the
same (the Swin pair is checked for equal outputs first), so the two models do the same arithmetic.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def timed(step: Callable[[], torch.Tensor]) -> float:
    start = time.perf_counter()
    step().backward()
    return time.perf_counter() - start


def interleaved(steps: dict[str, Callable[[], torch.Tensor]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of forward + backward per name and round, the names taking turns every round."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(warmup + rounds):
        for name, step in steps.items():
            seconds = timed(step)
            if r >= warmup:
                times[name].append(seconds)
    return times


def swin_pair(batch: int, frames: int, size: int, attn: str):
    """(project step, reference step) for Swin-T with torchvision's weights copied into the project's model."""
    from torchvision.models.video.swin_transformer import SwinTransformer3d

    from aivf.model.convert import torchvision_to_aivf
    from aivf.model.video_swin.configuration import VideoSwinConfig
    from aivf.model.video_swin.modeling import VideoSwinModel

    torch.manual_seed(0)
    # No stochastic depth in either: random per-step work would only add noise to the timing.
    # swin3d_t's own arguments, less stochastic depth (swin3d_t fixes it at 0.1).
    reference = SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                                  window_size=[8, 7, 7], stochastic_depth_prob=0.0).train()
    # exact_clipped_bias=False: torchvision's index for windows clipped to a small token grid.
    config = VideoSwinConfig(num_channels=3, drop_path_rate=0.0, exact_clipped_bias=False)
    config._attn_implementation = attn
    project = VideoSwinModel(config).train()
    missing, unexpected = project.load_state_dict(torchvision_to_aivf(reference.state_dict()), strict=False)
    if missing or unexpected:
        raise RuntimeError(f"torchvision -> aivf weights: missing {missing[:3]}, unexpected {unexpected[:3]}")
    x = torch.randn(batch, 3, frames, size, size)  # torchvision layout [B, C, T, H, W]

    def ref_step() -> torch.Tensor:
        return reference.norm(reference.features(reference.patch_embed(x))).mean()

    def project_step() -> torch.Tensor:
        return project(x.transpose(1, 2)).last_hidden_state.mean()  # [B, T, C, H, W]

    with torch.no_grad():
        gap = (project_step() - ref_step()).abs().item()
    if gap > 1e-4:
        raise RuntimeError(f"Swin pair disagrees by {gap:.2e}: not the same network, timing would be meaningless")
    return project_step, ref_step


def videomae_pair(batch: int, frames: int, size: int, attn: str, width: str = "base"):
    """(project step, reference step) for VideoMAE-B: aivf's VideoMAEBackbone.features vs VideoMAEModel."""
    from transformers import VideoMAEModel

    from aivf.model.sizes import backbone_size
    from aivf.model.videomae import VideoMAEBackbone, videomae_config

    config = videomae_config(backbone_size("videomae", width), frames, size, 3, attn)
    torch.manual_seed(0)
    reference = VideoMAEModel(config).train()
    project = VideoMAEBackbone(videomae_config(backbone_size("videomae", width), frames, size, 3, attn)).train()
    project.load_state_dict(reference.state_dict())
    x = torch.randn(batch, frames, 3, size, size)  # both take [B, K, C, H, W]

    def ref_step() -> torch.Tensor:
        return reference(x).last_hidden_state.mean()

    def project_step() -> torch.Tensor:
        return project.features(x).mean()

    return project_step, ref_step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed A, B rounds per pair (medians are compared)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (oneDNN kernel choice)")
    parser.add_argument("--swin", default="2x8x112", help="batch x frames x size of the Swin-T input")
    parser.add_argument("--videomae", default="1x8x112", help="batch x frames x size of the VideoMAE-B input")
    parser.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"], help="attention of both models")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default); 1 is steadier on a CPU shared with other jobs")
    parser.add_argument("--rounds-out", action="store_true", help="also print every round's seconds")
    parser.add_argument("--target", type=float, default=1.1, help="largest acceptable project / reference ratio")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pairs: dict[str, tuple[str, Callable]] = {"VideoMAE-B vs transformers VideoMAEModel": (args.videomae, videomae_pair)}
    try:
        import torchvision  # noqa: F401
        pairs = {"Swin-T vs torchvision swin3d_t": (args.swin, swin_pair), **pairs}
    except ImportError:
        print("torchvision is not installed here: the Swin-T pair is skipped (see this file's docstring)")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, attention {args.attn}, "
          f"{args.rounds} interleaved rounds after {args.warmup} warm-up\n")
    print("| pair | input (B x T x H) | project s (median, min) | reference s (median, min) | ratio of medians "
          "| ratio of minima |")
    print("|---|---|---|---|---|---|")
    ok = True
    for name, (shape, make) in pairs.items():
        batch, frames, size = (int(v) for v in shape.split("x"))
        project, reference = make(batch, frames, size, args.attn)
        times = interleaved({"project": project, "reference": reference}, args.rounds, args.warmup)
        med = {k: statistics.median(v) for k, v in times.items()}
        low = {k: min(v) for k, v in times.items()}
        ratio = med["project"] / med["reference"]
        ok &= ratio <= args.target
        print(f"| {name} | {shape} | {med['project']:.3f}, {low['project']:.3f} | {med['reference']:.3f}, "
              f"{low['reference']:.3f} | {ratio:.3f} | {low['project'] / low['reference']:.3f} |", flush=True)
        if args.rounds_out:
            print("  rounds:", {k: [round(t, 3) for t in v] for k, v in times.items()})
    print(f"\n{'all within' if ok else 'NOT all within'} {args.target}x of the references")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
