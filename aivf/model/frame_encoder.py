"""A per-frame image encoder: each keyframe is encoded on its own, nothing mixes keyframes.

Why a backbone that cannot see time: a phase model trained on simulated clips learned which phase is usual
in each keyframe slot (the slot's position gives its hour) and, on real video, named the slot's phase whatever
the frame showed (docs/annotate.md, constant-clip test). A frame encoder's phase call for keyframe k depends
only on frame k (and its hpi, if ``model.time_embedding`` is on), so an annotation made with it reads the
pixels by construction, as the per-frame CNNs of the Gomez and Misaghi papers do.

It plugs into :class:`~aivf.model.EmbryoModel` as ``model.backbone: frames`` with the interface of the video
backbones (``features`` -> [B, K, S, D], ``temporal_stride`` 1), so training, heads and checkpoints are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

# the backbone_config keys FrameEncoder takes
FRAME_KEYS = ("num_channels", "width", "standardise_frames", "stem_stride")


def _conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    """Two 3x3 convolutions (batch norm, GELU), then a 2x downsampling."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1), nn.BatchNorm2d(channels_out), nn.GELU(),
        nn.Conv2d(channels_out, channels_out, 3, padding=1), nn.BatchNorm2d(channels_out), nn.GELU(),
        nn.MaxPool2d(2),
    )


class FrameEncoder(nn.Module):
    """A small CNN applied to every keyframe alone: a strided stem, three conv blocks, a /(8 x stem_stride) map.

    Args:
        num_channels: focal planes per keyframe.
        width: channels after the stem; the blocks have width, 2 x width and 4 x width (= the feature size).
        standardise_frames: subtract each frame's mean and divide by its standard deviation first, so that a
            clinic's illumination and exposure (not the embryo) cannot set the call.
        stem_stride: 2 or 4 (``model.frame_stem_stride``). A stride-4 stem (kernel 7) runs the blocks on a
            quarter of the positions; an encoder step on 16 clips x 16 keyframes of 64 px took 34.5 ms instead of
            176 ms on the 2-core machine, which is what lets the main job train it in its CPU budget.
    """

    def __init__(self, num_channels: int = 1, width: int = 16, standardise_frames: bool = True, stem_stride: int = 2):
        super().__init__()
        self.standardise_frames = standardise_frames
        self.width = width
        if stem_stride not in (2, 4):
            raise ValueError(f"stem_stride={stem_stride}: the frame encoder's stem has stride 2 or 4")
        self.stem_stride = stem_stride
        kernel = 5 if stem_stride == 2 else 7
        self.stem = nn.Sequential(nn.Conv2d(num_channels, width, kernel, stride=stem_stride, padding=kernel // 2),
                                  nn.BatchNorm2d(width), nn.GELU())
        self.blocks = nn.Sequential(_conv_block(width, width), _conv_block(width, 2 * width),
                                    _conv_block(2 * width, 4 * width))
        self.in_channels = num_channels
        self.gradient_checkpointing = False  # set by EmbryoModel.gradient_checkpointing_enable (transformers)

    @property
    def embed_dim(self) -> int:
        return 4 * self.width

    @property
    def num_features(self) -> int:
        return 4 * self.width

    @property
    def temporal_stride(self) -> int:
        return 1

    def features(self, pixel_values: torch.Tensor, temporal_embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Encode every keyframe alone.

        Args:
            pixel_values: [B, K, C, H, W] (H and W divisible by 8 x stem_stride).
            temporal_embedding: [B, K, D] added to every spatial feature of keyframe k, or None.

        Returns:
            Features [B, K, S, D] (S positions of the final map, (H / 8 / stem_stride) x (W / 8 / stem_stride)).
        """
        b, k, c, h, w = pixel_values.shape
        if c != self.in_channels:
            raise ValueError(f"pixel_values has {c} channels (focal planes) but the frame encoder was built for "
                             f"{self.in_channels}: set model.channels accordingly")
        x = pixel_values.reshape(b * k, c, h, w)
        if self.standardise_frames:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            std = x.std(dim=(1, 2, 3), keepdim=True).clamp(min=1e-3)  # a masked (all-zero) frame stays 0
            x = (x - mean) / std
        x = self.stem(x)
        for block in self.blocks:
            if self.gradient_checkpointing and self.training:  # recompute in backward: memory for compute
                x = self._gradient_checkpointing_func(block, x)
            else:
                x = block(x)
        x = x.flatten(2).transpose(1, 2).reshape(b, k, -1, self.embed_dim)
        if temporal_embedding is not None:
            x = x + temporal_embedding[:, :, None, :].to(x.dtype)
        return x
