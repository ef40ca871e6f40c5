"""VideoSwinConfig: architecture of the Video Swin Transformer (Liu et al., CVPR 2022)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class VideoSwinConfig(PretrainedConfig):
    """Video Swin architecture. Defaults are Swin-T (torchvision ``swin3d_t``; official ``swin_tiny_patch244_window877``).

    Args:
        num_channels: input channels (focal planes for embryos; 3 for RGB checkpoints).
        patch_size: (t, h, w) of the 3-D patch embedding.
        embed_dim: channels after the patch embedding; doubles at every patch merging.
        depths: blocks per stage.
        num_heads: attention heads per stage.
        window_size: (t, h, w) attention window; clipped to the token grid where that is smaller.
        mlp_ratio: MLP hidden size / channels.
        qkv_bias: bias in the qkv projection.
        drop_rate: dropout after the patch embedding, in the MLP and after attention projections.
        attn_drop_rate: dropout on attention probabilities.
        drop_path_rate: stochastic depth, rising linearly to this value over all blocks.
        patch_norm: LayerNorm after the patch embedding.
        layer_norm_eps: LayerNorm epsilon.
        exact_clipped_bias: when a window is clipped to a small grid, index the bias table with the clipped
            window's true offsets. False reproduces torchvision / the official code, which take the first
            rows of the full window's index (offsets that do not match the clipped window).
    """

    model_type = "aivf_video_swin"

    def __init__(
        self,
        num_channels: int = 3,
        patch_size: list[int] | None = None,
        embed_dim: int = 96,
        depths: list[int] | None = None,
        num_heads: list[int] | None = None,
        window_size: list[int] | None = None,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        patch_norm: bool = True,
        layer_norm_eps: float = 1e-5,
        exact_clipped_bias: bool = True,
        **kwargs: Any,
    ):
        self.num_channels = num_channels
        self.patch_size = list(patch_size or [2, 4, 4])
        self.embed_dim = embed_dim
        self.depths = list(depths or [2, 2, 6, 2])
        self.num_heads = list(num_heads or [3, 6, 12, 24])
        self.window_size = list(window_size or [8, 7, 7])
        if len(self.depths) != len(self.num_heads):
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} must have one entry per stage")
        self.mlp_ratio = mlp_ratio
        self.qkv_bias = qkv_bias
        self.drop_rate = drop_rate
        self.attn_drop_rate = attn_drop_rate
        self.drop_path_rate = drop_path_rate
        self.patch_norm = patch_norm
        self.layer_norm_eps = layer_norm_eps
        self.exact_clipped_bias = exact_clipped_bias
        self.num_features = embed_dim * 2 ** (len(self.depths) - 1)
        super().__init__(**kwargs)
