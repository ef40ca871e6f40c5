"""VideoMAE backbone (transformers' VideoMAEModel) that accepts any number of keyframes and image size.

transformers 5.24 gives VideoMAE a FIXED 1-D sinusoidal table over the flattened (t, h, w) token index
of the grid in its config, and rejects any other input size. A checkpoint's features were learned
on that grid, so for another K or image size we resize the table as a 3-D grid (trilinear) to the
actual token grid instead of recomputing a 1-D table of another length (which would move every
token's "position"). The table is not a parameter, so nothing is lost when saving.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import VideoMAEConfig, VideoMAEModel
from transformers.models.videomae.modeling_videomae import get_sinusoid_encoding_table

from aivf.model.convert import adapt_input_channels


@functools.lru_cache(maxsize=16)
def _sinusoid_grid(t: int, h: int, w: int, dim: int) -> torch.Tensor:
    """VideoMAE's fixed table for a (t, h, w) token grid, as [t, h, w, dim] float32 on CPU."""
    return get_sinusoid_encoding_table(t * h * w, dim).reshape(t, h, w, dim)


# Outside torch.compile's graph: Dynamo would ignore the cache and trace transformers' table builder, a
# Python loop over every (position, channel) pair (1.2 M scalar steps for VideoMAE-B at 16x224x224).
@torch.compiler.disable
def position_embeddings(config: VideoMAEConfig, grid: tuple[int, int, int]) -> torch.Tensor:
    """Position embeddings [t*h*w, D] for a token grid, resized from the config's grid when they differ."""
    size = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
    base = (config.num_frames // config.tubelet_size, size // config.patch_size, size // config.patch_size)
    table = _sinusoid_grid(*base, config.hidden_size)
    if tuple(grid) != base:
        table = F.interpolate(table.permute(3, 0, 1, 2)[None], size=grid, mode="trilinear", align_corners=False)
        table = table[0].permute(1, 2, 3, 0)
    return table.reshape(-1, config.hidden_size)


class VideoMAEBackbone(VideoMAEModel):
    """VideoMAEModel whose forward returns a token grid and takes an optional per-time-step embedding.

    Same parameters and state-dict keys as ``VideoMAEModel``, so transformers checkpoints load directly.
    """

    @property
    def embed_dim(self) -> int:
        return self.config.hidden_size

    @property
    def num_features(self) -> int:
        return self.config.hidden_size

    @property
    def temporal_stride(self) -> int:
        return int(self.config.tubelet_size)

    def features(self, pixel_values: torch.Tensor, temporal_embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a clip.

        Args:
            pixel_values: [B, K, C, H, W].
            temporal_embedding: [B, T', D] added to every token of time step t (T' = K // tubelet_size).

        Returns:
            Token features [B, T', S, D] (S = spatial tokens per time step), after the final norm.
        """
        projection = self.embeddings.patch_embeddings.projection
        if pixel_values.shape[2] != projection.in_channels:
            raise ValueError(f"pixel_values has {pixel_values.shape[2]} channels (focal planes) but the backbone "
                             f"was built for {projection.in_channels}: set model.channels accordingly")
        x = projection(pixel_values.permute(0, 2, 1, 3, 4))  # (B, D, T', H', W')
        b, d, t, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, T'H'W', D)
        x = x + position_embeddings(self.config, (t, h, w)).to(x.device, x.dtype)
        if temporal_embedding is not None:
            x = (x.view(b, t, h * w, d) + temporal_embedding[:, :, None, :].to(x.dtype)).view(b, t * h * w, d)
        x = self.encoder(x).last_hidden_state
        if self.layernorm is not None:
            x = self.layernorm(x)
        return x.view(b, t, h * w, d)


def videomae_config(size_args: dict, num_frames: int, image_size: int, channels: int,
                    attn_implementation: str, overrides: dict | None = None) -> VideoMAEConfig:
    """A fresh VideoMAEConfig (never share one: ``_from_config`` mutates the config it is given)."""
    args = dict(size_args, num_frames=num_frames, image_size=image_size, num_channels=channels,
                use_mean_pooling=False, **(overrides or {}))
    config = VideoMAEConfig(**args)
    config._attn_implementation = attn_implementation
    return config


def load_videomae_folder(folder: str | Path, channels: int, attn_implementation: str,
                         overrides: dict | None = None) -> VideoMAEBackbone:
    """A VideoMAE backbone from a local transformers checkpoint folder (as downloaded from the hub).

    Accepts VideoMAEModel, VideoMAEForVideoClassification and VideoMAEForPreTraining folders (their
    ``videomae.`` prefix is stripped; decoder and classifier weights are dropped). The checkpoint's
    architecture and position grid are kept; inputs of another K / size are handled at run time.
    The RGB patch embedding is adapted to ``channels`` focal planes (see ``adapt_input_channels``).
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a transformers VideoMAE folder (no config.json); "
                                "point model.pretrained at the folder holding config.json and model.safetensors")
    config = VideoMAEConfig.from_pretrained(folder)
    config_dict = {k: v for k, v in config.to_dict().items() if k in VideoMAEConfig().to_dict()}
    config_dict.update(num_channels=channels, **(overrides or {}))
    config = VideoMAEConfig(**config_dict)
    config._attn_implementation = attn_implementation
    model = VideoMAEBackbone(config)
    # transformers itself reads the folder: it strips the task prefix and renames legacy keys
    # (q_bias / v_bias -> query.bias / value.bias), which a hand-written loader would miss.
    source = VideoMAEModel.from_pretrained(folder)
    state = source.state_dict()
    key = "embeddings.patch_embeddings.projection.weight"
    state[key] = adapt_input_channels(state[key], channels)
    expected = model.state_dict()
    kept = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    missing = sorted(set(expected) - set(kept))
    if missing:
        raise ValueError(f"{folder}: checkpoint does not fit the backbone for {missing[:5]}; "
                         "is this a VideoMAE checkpoint?")
    model.load_state_dict(kept, strict=False)
    return model
