"""GPU check of aivf.model (run by hand on a CUDA machine; not collected by pytest).

    PYTHONPATH=. python tests/model/device_check.py

1. Full-size parity with torchvision's swin3d_t / swin3d_b (random init, fp32, TF32 off) where torchvision
   is installed: the converter + VideoSwinModel must reproduce its features at 16x224x224.
2. forward + backward of every backbone size at 16x224x224, bf16 autocast, with and without
   gradient checkpointing: time per step and peak memory.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import bench  # noqa: E402

from aivf.model.convert import torchvision_to_aivf  # noqa: E402
from aivf.model.sizes import VIDEO_SWIN_SIZES  # noqa: E402
from aivf.model.video_swin.configuration import VideoSwinConfig  # noqa: E402
from aivf.model.video_swin.modeling import VideoSwinModel  # noqa: E402


def parity(name: str, size: str) -> None:
    try:
        from torchvision.models import video as tv_video
    except ImportError:
        print("torchvision not installed: parity skipped")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    reference = getattr(tv_video, name)(weights=None).cuda().eval()
    ours = VideoSwinModel(VideoSwinConfig(**VIDEO_SWIN_SIZES[size], num_channels=3)).cuda().eval()
    missing = ours.load_state_dict(torchvision_to_aivf(reference.state_dict()), strict=False)
    assert not missing.missing_keys and not missing.unexpected_keys, missing
    x = torch.randn(2, 3, 16, 224, 224, device="cuda")
    with torch.no_grad():
        ref = reference.norm(reference.features(reference.patch_embed(x)))
        out = ours(x.transpose(1, 2)).last_hidden_state
        logits = out.mean(dim=(1, 2, 3)) @ reference.head.weight.T + reference.head.bias
        diff = (out - ref).abs().max().item()
        logit_diff = (logits - reference(x)).abs().max().item()
    print(f"parity {name}: features {tuple(out.shape)} max|diff| {diff:.2e}; logits max|diff| {logit_diff:.2e}",
          flush=True)
    assert diff < 1e-3 and logit_diff < 1e-3


def main() -> None:
    print(torch.__version__, torch.cuda.get_device_name(), flush=True)
    import transformers

    print("transformers", transformers.__version__, flush=True)
    parity("swin3d_t", "tiny")
    parity("swin3d_b", "base")
    torch.backends.cuda.matmul.allow_tf32 = True
    for backbone, sizes in (("videomae", ["micro", "small", "base", "large"]), ("video_swin", ["tiny", "base"])):
        for size in sizes:
            for ckpt in (False, True):
                start = time.perf_counter()
                r = bench(backbone, size, "cuda", batch=4, frames=16, image_size=224, channels=1, steps=5,
                          checkpointing=ckpt, bf16=True)
                print(f"{backbone:10s} {size:6s} 4x16x1x224x224 bf16 ckpt={ckpt!s:5s} params {r['params_M']:7.1f} M "
                      f"fwd+bwd {r['median_s'] * 1e3:7.1f} ms peak {r['peak_GiB']:6.2f} GiB "
                      f"(total {time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
