"""A convolutional stem in front of the video transformer: early convolutions for training from scratch.

A ViT's patch embedding is one linear map of a 16x16 patch. Trained from scratch on a few thousand
videos it learned little more than "which phase is usual at this hour" here (phase accuracy at the
majority-class rate on days 3-5); a few stride-2 convolutions first give it locality and
translation equivariance, which is what counting cells and seeing a cavity need (Xiao et al., 2021,
"Early convolutions help transformers see better"). ``aivf pretrain`` can pretrain a stem together with the
VideoMAE behind it (aivf/model/pretraining.py); a downloaded VideoMAE checkpoint is used without one.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvStem(nn.Module):
    """``layers`` x (3x3 conv, stride 2, GroupNorm, GELU) applied to every keyframe.

    GroupNorm, not BatchNorm: statistics must not depend on the batch (zeroed missing keyframes,
    DDP ranks of different content, batch size 1 at ranking time).

    Args:
        in_channels: focal planes per keyframe.
        channels: output channels (the transformer's patch embedding reads these).
        layers: stride-2 layers; the frame side shrinks by ``2 ** layers``.
    """

    def __init__(self, in_channels: int, channels: int, layers: int):
        super().__init__()
        blocks, width = [], in_channels
        for i in range(layers):
            out = channels if i == layers - 1 else max(channels // 2 ** (layers - 1 - i), 8)
            blocks += [nn.Conv2d(width, out, 3, stride=2, padding=1), nn.GroupNorm(1, out), nn.GELU()]
            width = out
        self.net = nn.Sequential(*blocks)
        self.in_channels, self.out_channels, self.factor = in_channels, channels, 2 ** layers

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[B, K, C, H, W] -> [B, K, channels, H / 2**layers, W / 2**layers]."""
        if pixel_values.shape[2] != self.in_channels:
            raise ValueError(f"pixel_values has {pixel_values.shape[2]} channels (focal planes) but the conv stem "
                             f"was built for {self.in_channels}: set model.channels accordingly")
        b, k = pixel_values.shape[:2]
        x = self.net(pixel_values.flatten(0, 1))
        return x.view(b, k, *x.shape[1:])


def stem_geometry(layers: int, channels: int, image_size: int, patch_size: int) -> dict[str, int]:
    """What the VideoMAE patch embedding reads behind a ``layers``-deep stem: its image_size, patch_size and
    num_channels. The frame and the patch shrink by the same ``2 ** layers``, so the token grid is unchanged."""
    factor = 2**layers
    if image_size % factor or patch_size % factor:
        raise ValueError(f"model.conv_stem={layers} shrinks frames by {factor}: model.image_size={image_size} and "
                         f"the patch size {patch_size} must divide by it")
    return dict(image_size=image_size // factor, patch_size=patch_size // factor, num_channels=channels)
