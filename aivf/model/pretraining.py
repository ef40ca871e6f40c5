"""VideoMAE masked-autoencoder pretraining of the backbone EmbryoModel uses (``aivf pretrain``).

The pretraining model IS transformers' ``VideoMAEForPreTraining`` (a subclass that adds no module), so
its ``save_pretrained`` folder loads with ``VideoMAEForPreTraining.from_pretrained`` and, through the
existing VideoMAE folder loader (``aivf.model.videomae.load_videomae_folder``), as an EmbryoModel
backbone with ``model.pretrained: <folder>`` (channel and frame/size adaptation included). What the
subclass changes is only the forward:

* the target is built in float32 from the input and the loss is taken in float32, so bf16 (autocast, or
  weights kept in bf16 by DeepSpeed) trains; upstream computes labels in the input dtype and compares them
  with logits of another dtype (transformers issue 27295);
* tubes whose keyframes are missing (``keyframe_mask`` False, zeroed by the loader) are left out of the loss;
* position tables are resized to the actual token grid, as in :class:`~aivf.model.videomae.VideoMAEBackbone`.

The project's convolutional stem (``model.conv_stem``) is refused: a pretrained VideoMAE backbone is used
without one (``build_model`` refuses conv_stem with model.pretrained), so pretraining one would be wasted.
EmbryoModel's time embedding is not part of the backbone and starts untrained at fine-tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import VideoMAEConfig, VideoMAEForPreTraining
from transformers.utils import ModelOutput

from aivf.model.sizes import backbone_size
from aivf.model.videomae import _sinusoid_grid, videomae_config


@dataclass
class PretrainOutput(ModelOutput):
    """loss: masked-patch reconstruction MSE (float32); logits: [B, N_masked, tubelet*p*p*C] predictions."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


def pretraining_config(model_cfg, pretrain_cfg) -> VideoMAEConfig:
    """The VideoMAEConfig (encoder = ``model.size`` row, decoder from the ``pretrain`` section) to pretrain."""
    if model_cfg.backbone != "videomae":
        raise ValueError(f"aivf pretrain trains a VideoMAE backbone; model.backbone={model_cfg.backbone!r}: "
                         "set model.backbone=videomae")
    if model_cfg.conv_stem:
        raise ValueError(f"model.conv_stem={model_cfg.conv_stem}: a pretrained VideoMAE is used without the conv "
                         "stem (build_model refuses both), so pretrain without it: set model.conv_stem=0")
    if model_cfg.pretrained:
        raise ValueError(f"model.pretrained={model_cfg.pretrained}: aivf pretrain starts from random weights; "
                         "unset it (the pretraining result is what model.pretrained points at later)")
    size = backbone_size("videomae", model_cfg.size)
    size.update(dict(model_cfg.backbone_overrides))
    hidden = pretrain_cfg.decoder_hidden_size or max(size["hidden_size"] // 2, 16)
    heads = pretrain_cfg.decoder_heads or max(hidden // 64, 1)
    if hidden % heads:
        raise ValueError(f"pretrain.decoder_hidden_size={hidden} is not a multiple of pretrain.decoder_heads={heads}")
    decoder = dict(decoder_hidden_size=hidden, decoder_num_hidden_layers=pretrain_cfg.decoder_layers,
                   decoder_num_attention_heads=heads, decoder_intermediate_size=4 * hidden,
                   norm_pix_loss=pretrain_cfg.norm_pix_loss)
    config = videomae_config(size, model_cfg.num_frames, model_cfg.image_size, model_cfg.channels,
                             model_cfg.attn_implementation, decoder)
    config.architectures = ["VideoMAEForPreTraining"]
    return config


def patchify(pixel_values: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """[B, K, C, H, W] -> [B, N, tubelet*patch*patch, C] in VideoMAE's token order (t, h, w) and pixel order."""
    b, k, c, h, w = pixel_values.shape
    x = pixel_values[:, : k // tubelet * tubelet].reshape(b, k // tubelet, tubelet, c, h // patch, patch,
                                                          w // patch, patch)
    x = x.permute(0, 1, 4, 6, 2, 5, 7, 3)  # (B, T', H', W', tubelet, p, p, C), as transformers' target
    return x.reshape(b, -1, tubelet * patch * patch, c)


def unpatchify(patches: torch.Tensor, shape: tuple[int, ...], tubelet: int, patch: int) -> torch.Tensor:
    """Inverse of :func:`patchify` for a clip shape (B, K', C, H, W) with K' a multiple of tubelet."""
    b, k, c, h, w = shape
    x = patches.reshape(b, k // tubelet, h // patch, w // patch, tubelet, patch, patch, c)
    return x.permute(0, 1, 4, 7, 2, 5, 3, 6).reshape(b, k, c, h, w)


def patch_targets(pixel_values: torch.Tensor, tubelet: int, patch: int, normalise: bool = True) -> torch.Tensor:
    """Reconstruction targets [B, N, tubelet*p*p*C] in float32: each patch's pixels, normalised per patch and
    channel by their own mean and (unbiased) standard deviation when ``normalise`` (VideoMAE's norm_pix_loss)."""
    x = patchify(pixel_values.float(), tubelet, patch)
    if normalise:
        x = (x - x.mean(dim=-2, keepdim=True)) / (x.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6)
    return x.flatten(2)


def _table(grid_of_config: tuple[int, int, int], grid: tuple[int, int, int], dim: int) -> torch.Tensor:
    """VideoMAE's fixed sinusoid table [t*h*w, dim], resized (trilinear) from the config's grid when it differs."""
    table = _sinusoid_grid(*grid_of_config, dim)
    if tuple(grid) != tuple(grid_of_config):
        table = F.interpolate(table.permute(3, 0, 1, 2)[None], size=grid, mode="trilinear", align_corners=False)
        table = table[0].permute(1, 2, 3, 0)
    return table.reshape(-1, dim)


class EmbryoPretrainModel(VideoMAEForPreTraining):
    """VideoMAEForPreTraining with a bf16-safe normalised-pixel loss and missing-keyframe masking (module doc)."""

    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor,
                keyframe_mask: torch.Tensor | None = None, **kwargs) -> PretrainOutput:
        """Reconstruct the masked tubes of a clip.

        Args:
            pixel_values: [B, K, C, H, W] normalised keyframes.
            bool_masked_pos: [B, T'*S] True where a token is masked; the same count in every clip.
            keyframe_mask: [B, K] False where a keyframe is missing (zeroed; its tubes leave the loss).
            **kwargs: other batch keys are ignored.
        """
        config = self.config
        tubelet, patch = int(config.tubelet_size), int(config.patch_size)
        pixel_values = pixel_values.to(self.dtype)
        batch, frames = pixel_values.shape[:2]
        frames = frames // tubelet * tubelet  # VideoMAE drops a ragged last tubelet
        pixel_values = pixel_values[:, :frames]
        if keyframe_mask is not None:
            keyframe_mask = keyframe_mask[:, :frames].bool()
            pixel_values = pixel_values * keyframe_mask[:, :, None, None, None].to(pixel_values.dtype)
        mask = bool_masked_pos.bool().to(pixel_values.device)

        x = self.videomae.embeddings.patch_embeddings.projection(pixel_values.permute(0, 2, 1, 3, 4))
        grid = tuple(x.shape[2:])  # (T', H', W')
        size = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
        base = (config.num_frames // tubelet, size // patch, size // patch)
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"bool_masked_pos has shape {tuple(mask.shape)}, the clip has {tuple(x.shape[:2])} tokens")
        x = x + _table(base, grid, config.hidden_size).to(x.device, x.dtype)
        visible = x[~mask].reshape(batch, -1, x.shape[-1])
        hidden = self.videomae.encoder(visible).last_hidden_state
        if self.videomae.layernorm is not None:
            hidden = self.videomae.layernorm(hidden)
        hidden = self.encoder_to_decoder(hidden)
        dim = hidden.shape[-1]
        # As upstream: visible tokens first, then mask tokens, each with its own position (no unshuffling needed).
        position = _table(base, grid, dim).to(hidden.device, hidden.dtype).expand(batch, -1, -1)
        masked_position = position[mask].reshape(batch, -1, dim)
        tokens = torch.cat([hidden + position[~mask].reshape(batch, -1, dim),
                            self.mask_token.to(hidden.dtype) + masked_position], dim=1)
        logits = self.decoder(tokens, masked_position.shape[1]).logits

        with torch.no_grad():
            target = patch_targets(pixel_values, tubelet, patch, config.norm_pix_loss)  # float32, never bf16
            target = target[mask].reshape(batch, -1, target.shape[-1])
            weight = torch.ones(mask.shape, device=mask.device)
            if keyframe_mask is not None:  # a tube counts only if all its keyframes are present
                present = keyframe_mask.view(batch, -1, tubelet).all(-1).float()  # (B, T')
                weight = present[:, :, None].expand(-1, -1, mask.shape[1] // present.shape[1]).reshape(batch, -1)
            weight = weight[mask].reshape(batch, -1)
        per_token = (logits.float() - target).pow(2).mean(-1)
        loss = (per_token * weight).sum() / weight.sum().clamp(min=1.0)
        return PretrainOutput(loss=loss, logits=logits)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers names the saved class after ``type(self)``; name the upstream class so the folder reads as
        a plain VideoMAEForPreTraining checkpoint (it is one: same config and keys)."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        path = Path(save_directory) / "config.json"
        if path.is_file():
            config = json.loads(path.read_text())
            config["architectures"] = ["VideoMAEForPreTraining"]
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return out


def tube_mask(batch: int, grid: tuple[int, int, int], ratio: float, generator: torch.Generator) -> torch.Tensor:
    """VideoMAE tube masking: per clip the same ``int(ratio * S)`` random spatial positions are masked at every
    time step. Returns bool [B, T'*S] (True = masked), an equal count per clip (the encoder batches visible tokens).
    """
    t, h, w = grid
    spatial = h * w
    masked = min(max(int(ratio * spatial), 1), spatial - 1)  # at least one token masked and one visible
    order = torch.rand(batch, spatial, generator=generator).argsort(dim=1)
    mask = torch.zeros(batch, spatial, dtype=torch.bool)
    mask.scatter_(1, order[:, :masked], True)
    return mask[:, None, :].expand(batch, t, spatial).reshape(batch, t * spatial)
