"""Video Swin Transformer (Liu et al., CVPR 2022), transformers-style, with SDPA inside 3-D windows.

Module names mirror the official implementation (``patch_embed``, ``layers.{i}.blocks.{j}.attn.qkv``,
``layers.{i}.downsample``, ``norm``) so its checkpoints load by stripping ``backbone.``; torchvision's
``swin3d_*`` names are converted in ``aivf.model.convert``. Tensors are channels-last inside:
[B, T, H, W, C]. The relative position index is computed on the fly (not a buffer) so that a window
clipped to a small token grid gets its own exact index.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import ModelOutput

from aivf.model.video_swin.configuration import VideoSwinConfig

MASK_VALUE = -100.0  # added to logits of token pairs from different shifted regions (as the reference code)


def clip_window(size: tuple[int, ...], window: list[int], shift: list[int]) -> tuple[list[int], list[int]]:
    """Where the token grid is no larger than the window, use the whole axis as window and do not shift."""
    window, shift = list(window), list(shift)
    for i in range(3):
        if size[i] <= window[i]:
            window[i], shift[i] = size[i], 0
    return window, shift


def window_partition(x: torch.Tensor, window: list[int]) -> torch.Tensor:
    """[B, T, H, W, C] (each axis a multiple of the window) -> [B * nW, Wt * Wh * Ww, C]."""
    b, t, h, w, c = x.shape
    x = x.view(b, t // window[0], window[0], h // window[1], window[1], w // window[2], window[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, window[0] * window[1] * window[2], c)


def window_reverse(windows: torch.Tensor, window: list[int], b: int, t: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: [B * nW, N, C] -> [B, T, H, W, C]."""
    x = windows.view(b, t // window[0], h // window[1], w // window[2], window[0], window[1], window[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, t, h, w, -1)


@functools.lru_cache(maxsize=64)
def relative_position_index(window: tuple[int, int, int], table_window: tuple[int, int, int],
                            exact: bool = True) -> torch.Tensor:
    """Row of the bias table for every (query, key) pair of a window: [N, N] long, N = Wt * Wh * Ww.

    ``table_window`` is the window the (2Wt-1)(2Wh-1)(2Ww-1)-row table was made for; ``window`` may be
    smaller (clipped). ``exact=False`` reproduces torchvision / official code: the first N rows and
    columns of the full window's index.
    """
    if not exact:
        n = window[0] * window[1] * window[2]
        return relative_position_index(table_window, table_window, True)[:n, :n].contiguous()
    coords = torch.stack(torch.meshgrid(*[torch.arange(s) for s in window], indexing="ij")).flatten(1)  # (3, N)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (N, N, 3) offsets in [-(W-1), W-1]
    rel = rel + torch.tensor([s - 1 for s in table_window])
    strides = torch.tensor([(2 * table_window[1] - 1) * (2 * table_window[2] - 1), 2 * table_window[2] - 1, 1])
    return (rel * strides).sum(-1)


@functools.lru_cache(maxsize=256)
def _index_on(window: tuple[int, int, int], table_window: tuple[int, int, int], exact: bool,
              device: torch.device) -> torch.Tensor:
    """The relative position index, cached on each device (no host-to-device copy per block and step).

    Built outside inference mode: a cached inference tensor could not be saved for a later backward.
    """
    with torch.inference_mode(False):
        return relative_position_index(window, table_window, exact).clone().to(device)


@functools.lru_cache(maxsize=64)
def _cached_shift_mask(padded: tuple[int, int, int], window: tuple[int, ...], shift: tuple[int, ...],
                       device: torch.device) -> torch.Tensor:
    with torch.inference_mode(False):  # see _index_on
        return shift_attention_mask(padded, list(window), list(shift), device)


def shift_attention_mask(padded: tuple[int, int, int], window: list[int], shift: list[int],
                         device: torch.device) -> torch.Tensor:
    """Additive mask [nW, N, N]: 0 within a region, MASK_VALUE across regions that the cyclic shift joined."""
    region = torch.zeros(padded, device=device)
    count = 0
    for ts in (slice(0, -window[0]), slice(-window[0], -shift[0]), slice(-shift[0], None)):
        for hs in (slice(0, -window[1]), slice(-window[1], -shift[1]), slice(-shift[1], None)):
            for ws in (slice(0, -window[2]), slice(-window[2], -shift[2]), slice(-shift[2], None)):
                region[ts, hs, ws] = count
                count += 1
    ids = window_partition(region[None, ..., None], window).squeeze(-1)  # (nW, N)
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, MASK_VALUE)


class DropPath(nn.Module):
    """Stochastic depth per sample (row mode)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention inside 3-D windows with a relative position bias."""

    def __init__(self, config: VideoSwinConfig, dim: int, num_heads: int):
        super().__init__()
        self.config, self.num_heads = config, num_heads
        w = config.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * w[0] - 1) * (2 * w[1] - 1) * (2 * w[2] - 1), num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.qkv = nn.Linear(dim, dim * 3, bias=config.qkv_bias)
        self.attn_drop = config.attn_drop_rate
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(config.drop_rate)

    def relative_bias(self, window: list[int]) -> torch.Tensor:
        """[nH, N, N] bias for a (possibly clipped) window."""
        table = self.relative_position_bias_table
        index = _index_on(tuple(window), tuple(self.config.window_size), self.config.exact_clipped_bias, table.device)
        n = index.shape[0]
        bias = table.index_select(0, index.flatten())  # backward: index_add_, not the slower index_put_ of table[i]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def forward(self, windows: torch.Tensor, window: list[int], mask: torch.Tensor | None) -> torch.Tensor:
        """Args: windows: [B * nW, N, C]; mask: [nW, N, N] shift mask or None. Returns [B * nW, N, C]."""
        bw, n, c = windows.shape
        q, k, v = self.qkv(windows).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_bias(window).to(q.dtype)[None]  # (1, nH, N, N)
        if mask is not None:
            # All windows of the batch in ONE 4-D attention call: windows x heads become the head axis, so the
            # (nW, nH, N, N) bias + shift mask broadcasts over the batch alone. A 5-D (B, nW, nH, N, d) call
            # would run SDPA's math fallback (no fused kernel takes 5-D inputs), materialising every score.
            num_windows = mask.shape[0]
            bias = (bias + mask.to(q.dtype)[:, None]).reshape(1, num_windows * self.num_heads, n, n)
            q, k, v = (z.reshape(bw // num_windows, num_windows * self.num_heads, n, -1) for z in (q, k, v))
        drop = self.attn_drop if self.training else 0.0
        if self.config._attn_implementation == "eager":
            attn = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1) + bias
            out = F.dropout(attn.softmax(-1), drop, self.training) @ v
        else:  # SDPA: bias + shift mask go in as one additive float mask
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
        out = out.reshape(bw, self.num_heads, n, -1).transpose(1, 2).reshape(bw, n, c)
        return self.proj_drop(self.proj(out))


class VideoSwinMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1, self.act, self.fc2, self.drop = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class VideoSwinBlock(GradientCheckpointingLayer):
    """(Shifted) window attention + MLP, pre-norm, with stochastic depth."""

    def __init__(self, config: VideoSwinConfig, dim: int, num_heads: int, shifted: bool, drop_path: float):
        super().__init__()
        self.shifted = shifted
        self.norm1 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = WindowAttention3D(config, dim, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.mlp = VideoSwinMLP(dim, int(dim * config.mlp_ratio), config.drop_rate)

    def forward(self, x: torch.Tensor, window: list[int], shift: list[int], mask: torch.Tensor | None) -> torch.Tensor:
        """Args: x: [B, T, H, W, C]; window/shift already clipped; mask [nW, N, N] for shifted blocks."""
        b, t, h, w, c = x.shape
        y = self.norm1(x)
        pad = [(window[i] - s % window[i]) % window[i] for i, s in enumerate((t, h, w))]
        y = F.pad(y, (0, 0, 0, pad[2], 0, pad[1], 0, pad[0]))  # pad AFTER norm1, as the reference code
        tp, hp, wp = y.shape[1:4]
        if any(shift):
            y = torch.roll(y, shifts=[-s for s in shift], dims=(1, 2, 3))
        y = self.attn(window_partition(y, window), window, mask)
        y = window_reverse(y, window, b, tp, hp, wp)
        if any(shift):
            y = torch.roll(y, shifts=list(shift), dims=(1, 2, 3))
        x = x + self.drop_path(y[:, :t, :h, :w].contiguous())
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Halve H and W: concatenate 2x2 neighbours (4C), LayerNorm, project to 2C."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim, eps=eps)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, H, W, C] -> [B, T, ceil(H/2), ceil(W/2), 2C]."""
        x = F.pad(x, (0, 0, 0, x.shape[3] % 2, 0, x.shape[2] % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class VideoSwinStage(nn.Module):
    """Blocks alternating plain and shifted windows, then (except in the last stage) patch merging."""

    def __init__(self, config: VideoSwinConfig, index: int, drop_paths: list[float]):
        super().__init__()
        self.config = config
        dim = config.embed_dim * 2**index
        self.blocks = nn.ModuleList(
            VideoSwinBlock(config, dim, config.num_heads[index], shifted=j % 2 == 1, drop_path=drop_paths[j])
            for j in range(config.depths[index]))
        last = index == len(config.depths) - 1
        self.downsample = None if last else PatchMerging(dim, config.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (output of the blocks [B, T, H, W, C], input of the next stage)."""
        size = tuple(x.shape[1:4])
        half = [s // 2 for s in self.config.window_size]
        window, shift = clip_window(size, self.config.window_size, half)
        plain_window, _ = clip_window(size, self.config.window_size, [0, 0, 0])
        mask = None
        if any(shift):  # one mask per stage, shared by its shifted blocks
            padded = tuple(-(-s // w) * w for s, w in zip(size, window))
            mask = _cached_shift_mask(padded, tuple(window), tuple(shift), x.device)
        for block in self.blocks:
            if block.shifted:
                x = block(x, window, shift, mask)
            else:
                x = block(x, plain_window, [0, 0, 0], None)
        return x, (self.downsample(x) if self.downsample is not None else x)


@dataclass
class VideoSwinModelOutput(ModelOutput):
    """last_hidden_state: [B, T', H', W', D] after the final norm; pooler_output: [B, D] mean over tokens;
    hidden_states: per-stage outputs [B, T', H_i, W_i, D_i] when requested."""

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class VideoSwinPreTrainedModel(PreTrainedModel):
    config_class = VideoSwinConfig
    base_model_prefix = "video_swin"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["VideoSwinBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, WindowAttention3D):
            nn.init.trunc_normal_(module.relative_position_bias_table, std=0.02)


class VideoSwinModel(VideoSwinPreTrainedModel):
    """Video Swin encoder without a classification head. Input [B, K, C, H, W] like transformers' VideoMAE."""

    def __init__(self, config: VideoSwinConfig):
        super().__init__(config)
        self.patch_embed = PatchEmbed3D(config)
        self.pos_drop = nn.Dropout(config.drop_rate)
        total = sum(config.depths)
        rates = [config.drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # as torchvision
        starts = [sum(config.depths[:i]) for i in range(len(config.depths))]
        self.layers = nn.ModuleList(
            VideoSwinStage(config, i, rates[starts[i]:starts[i] + d]) for i, d in enumerate(config.depths))
        self.norm = nn.LayerNorm(config.num_features, eps=config.layer_norm_eps)
        self.post_init()

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def num_features(self) -> int:
        return self.config.num_features

    @property
    def temporal_stride(self) -> int:
        return self.config.patch_size[0]

    def forward(self, pixel_values: torch.Tensor, temporal_embedding: torch.Tensor | None = None,
                output_hidden_states: bool = False, **kwargs) -> VideoSwinModelOutput:
        """Args:
            pixel_values: [B, K, C, H, W].
            temporal_embedding: [B, T', embed_dim] added to the patch tokens of each time step
                (T' = ceil(K / patch_size[0])); the embryo time embedding enters here.
        """
        x = self.pos_drop(self.patch_embed(pixel_values))  # (B, T', H', W', C)
        if temporal_embedding is not None:
            x = x + temporal_embedding[:, :, None, None, :].to(x.dtype)
        hidden = []
        for stage in self.layers:
            out, x = stage(x)
            hidden.append(out)
        x = self.norm(x)
        return VideoSwinModelOutput(last_hidden_state=x, pooler_output=x.mean(dim=(1, 2, 3)),
                                    hidden_states=tuple(hidden) if output_hidden_states else None)

    def features(self, pixel_values: torch.Tensor, temporal_embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Token grid [B, T', S, D] for EmbryoModel (S = spatial tokens of the last stage)."""
        x = self.forward(pixel_values, temporal_embedding).last_hidden_state
        return x.flatten(2, 3)


class PatchEmbed3D(nn.Module):
    """3-D patches -> channels-last tokens; pads T, H, W up to multiples of the patch size."""

    def __init__(self, config: VideoSwinConfig):
        super().__init__()
        self.patch_size = list(config.patch_size)
        self.proj = nn.Conv3d(config.num_channels, config.embed_dim, kernel_size=self.patch_size,
                              stride=self.patch_size)
        self.norm = nn.LayerNorm(config.embed_dim, eps=config.layer_norm_eps) if config.patch_norm else None

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[B, K, C, H, W] -> [B, T', H', W', embed_dim]."""
        if pixel_values.shape[2] != self.proj.in_channels:
            raise ValueError(f"pixel_values has {pixel_values.shape[2]} channels (focal planes) but the model was "
                             f"built for {self.proj.in_channels}: set model.channels accordingly")
        x = pixel_values.transpose(1, 2)  # (B, C, K, H, W)
        pad = [(p - s % p) % p for p, s in zip(self.patch_size, x.shape[2:])]
        x = F.pad(x, (0, pad[2], 0, pad[1], 0, pad[0]))
        x = self.proj(x).permute(0, 2, 3, 4, 1)
        return self.norm(x) if self.norm is not None else x
