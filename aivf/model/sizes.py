"""Backbone sizes: one explicit table per family, so that grep finds every variant.

``micro`` is for tests and CPU smoke runs (trains in milliseconds per step); the other rows are the
published architectures (VideoMAE ViT-S/B/L; Video Swin T/S/B of Liu et al., CVPR 2022).
"""

from __future__ import annotations

from typing import Any

# Keys are VideoMAEConfig arguments.
VIDEOMAE_SIZES: dict[str, dict[str, Any]] = {
    "micro": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                  patch_size=16, tubelet_size=2),
    "tiny": dict(hidden_size=192, num_hidden_layers=12, num_attention_heads=3, intermediate_size=768,
                 patch_size=16, tubelet_size=2),
    "small": dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                  patch_size=16, tubelet_size=2),
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                 patch_size=16, tubelet_size=2),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  patch_size=16, tubelet_size=2),
}

# Keys are VideoSwinConfig arguments. T/S/B as in the paper and torchvision's swin3d_t/s/b.
VIDEO_SWIN_SIZES: dict[str, dict[str, Any]] = {
    "micro": dict(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 2, 2, 4], window_size=[2, 4, 4]),
    "tiny": dict(embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24], window_size=[8, 7, 7]),
    "small": dict(embed_dim=96, depths=[2, 2, 18, 2], num_heads=[3, 6, 12, 24], window_size=[8, 7, 7]),
    "base": dict(embed_dim=128, depths=[2, 2, 18, 2], num_heads=[4, 8, 16, 32], window_size=[8, 7, 7]),
}


# Keys are FrameEncoder arguments (aivf/model/frame_encoder.py): a per-frame CNN, 4 x width features.
FRAME_SIZES: dict[str, dict[str, Any]] = {
    "micro": dict(width=16),
    "tiny": dict(width=32),
    "small": dict(width=64),
}


def backbone_size(backbone: str, size: str) -> dict[str, Any]:
    """The config arguments of one named size; a clear error lists the sizes that exist."""
    table = {"videomae": VIDEOMAE_SIZES, "video_swin": VIDEO_SWIN_SIZES, "frames": FRAME_SIZES}[backbone]
    if size not in table:
        raise ValueError(f"model.size={size!r} does not exist for model.backbone={backbone!r}; "
                         f"choose one of {sorted(table)} (aivf/model/sizes.py)")
    return dict(table[size])
