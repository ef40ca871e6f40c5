"""VideoMAE masked-autoencoder pretraining of the backbone EmbryoModel uses (``aivf pretrain``).

The pretraining model IS transformers' ``VideoMAEForPreTraining`` (a subclass), so its ``save_pretrained``
folder loads with ``VideoMAEForPreTraining.from_pretrained`` and, through the existing VideoMAE folder loader
(``aivf.model.videomae.load_videomae_folder``), as an EmbryoModel backbone with ``model.pretrained: <folder>``
(channel and frame/size adaptation included). What the subclass changes is the forward:

* the target is built in float32 from the input and the loss is taken in float32, so bf16 (autocast, or
  weights kept in bf16 by DeepSpeed) trains; upstream computes labels in the input dtype and compares them
  with logits of another dtype (transformers issue 27295);
* tubes whose keyframes are missing (``keyframe_mask`` False, zeroed by the loader) are left out of the loss;
* position tables are resized to the actual token grid, as in :class:`~aivf.model.videomae.VideoMAEBackbone`.

With the project's convolutional stem (``model.conv_stem`` > 0, the main job's model) the subclass adds one
module, ``stem`` (the same :class:`~aivf.model.stem.ConvStem` and name as EmbryoModel's, so weights transfer).
The VideoMAE config is then the one ``build_model`` gives the supervised backbone: it reads the stem's feature
map (image_size / 2**layers, patch_size / 2**layers, num_channels = conv_stem_channels), so the token grid is
the one of the input pixels. Two things keep the task honest:

* the masked tubes' PIXELS are zeroed before the stem (:func:`hide_masked_pixels`): a 3x3 stride-2 conv at a
  patch border sees its neighbour's pixels, so without it a visible token would carry masked content;
* the targets stay the original pixels of each masked tube at input resolution: a token covers a
  tubelet x (patch_size * 2**layers)^2 x C pixel tube, and the decoder's ``head`` predicts that many values.

Saved folder with a stem: ``config.json`` + ``model.safetensors`` are a plain VideoMAEForPreTraining of the
stem's feature map (it loads with ``VideoMAEForPreTraining.from_pretrained``; reading pixels, it needs the stem
in front); the stem sits beside it in ``conv_stem.safetensors`` (keys ``stem.*``), described by the
``aivf_conv_stem`` entry of config.json (layers, channels, in_channels). The decoder's pixel ``head`` goes there
too when its size differs from what VideoMAEConfig implies (num_channels * tubelet * patch_size**2, true unless
conv_stem_channels = in_channels * 4**layers, as in configs/default.yaml); upstream then reports just
``decoder.head`` missing, and the encoder, what fine-tuning uses, loads whole.
:meth:`EmbryoPretrainModel.from_pretrained` and ``build_model`` read both files.
EmbryoModel's time embedding is not part of the backbone and starts untrained at fine-tuning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import VideoMAEConfig, VideoMAEForPreTraining
from transformers.utils import ModelOutput

from aivf.model.sizes import backbone_size
from aivf.model.stem import ConvStem, stem_geometry
from aivf.model.videomae import _sinusoid_grid, videomae_config

STEM_KEY = "aivf_conv_stem"  # config.json entry of a folder pretrained behind a conv stem
STEM_FILE = "conv_stem.safetensors"  # the weights a plain VideoMAEForPreTraining has no place for


@dataclass
class PretrainOutput(ModelOutput):
    """loss: masked-patch reconstruction MSE (float32); logits: [B, N_masked, tubelet*p*p*C] predictions
    (p: the patch side in input pixels, C: input planes)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None


def pretraining_config(model_cfg, pretrain_cfg) -> VideoMAEConfig:
    """The VideoMAEConfig (encoder = ``model.size`` row, decoder from the ``pretrain`` section) to pretrain.

    With ``model.conv_stem`` it describes the backbone behind the stem, as ``build_model`` does, and carries
    the stem in its ``aivf_conv_stem`` entry.
    """
    if model_cfg.backbone != "videomae":
        raise ValueError(f"aivf pretrain trains a VideoMAE backbone; model.backbone={model_cfg.backbone!r}: "
                         "set model.backbone=videomae")
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
    image_size, channels = model_cfg.image_size, model_cfg.channels
    if model_cfg.conv_stem:
        geometry = stem_geometry(model_cfg.conv_stem, model_cfg.conv_stem_channels, image_size, size["patch_size"])
        image_size, channels, size["patch_size"] = (geometry[k] for k in ("image_size", "num_channels", "patch_size"))
        decoder[STEM_KEY] = dict(layers=model_cfg.conv_stem, channels=model_cfg.conv_stem_channels,
                                 in_channels=model_cfg.channels, weights=STEM_FILE)
    config = videomae_config(size, model_cfg.num_frames, image_size, channels, model_cfg.attn_implementation,
                             decoder)
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


def hide_masked_pixels(pixel_values: torch.Tensor, mask: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """``pixel_values`` [B, K, C, H, W] with every pixel of a masked tube set to 0.

    The token mask [B, T'*H'*W'] (T' = K / tubelet, H' = H / patch) is upsampled to the pixels: each token
    covers ``tubelet`` keyframes x ``patch`` x ``patch`` pixels.
    """
    b, k, _, h, w = pixel_values.shape
    grid = mask.view(b, k // tubelet, h // patch, w // patch)
    keep = (~grid).repeat_interleave(tubelet, 1).repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return pixel_values * keep[:, :, None].to(pixel_values.dtype)  # (B, K, 1, H, W) broadcast over planes


def _table(grid_of_config: tuple[int, int, int], grid: tuple[int, int, int], dim: int) -> torch.Tensor:
    """VideoMAE's fixed sinusoid table [t*h*w, dim], resized (trilinear) from the config's grid when it differs."""
    table = _sinusoid_grid(*grid_of_config, dim)
    if tuple(grid) != tuple(grid_of_config):
        table = F.interpolate(table.permute(3, 0, 1, 2)[None], size=grid, mode="trilinear", align_corners=False)
        table = table[0].permute(1, 2, 3, 0)
    return table.reshape(-1, dim)


class EmbryoPretrainModel(VideoMAEForPreTraining):
    """VideoMAEForPreTraining with a bf16-safe normalised-pixel loss, missing-keyframe masking and, with
    ``aivf_conv_stem`` in the config, the conv stem in front (module doc)."""

    def __init__(self, config: VideoMAEConfig):
        super().__init__(config)
        spec = getattr(config, STEM_KEY, None)
        self.stem = ConvStem(spec["in_channels"], spec["channels"], spec["layers"]) if spec else None
        tubelet, patch = int(config.tubelet_size), int(config.patch_size)
        # Side of a token's patch in input pixels, and what the decoder predicts per token.
        self.pixel_patch = patch * (self.stem.factor if self.stem is not None else 1)
        values = tubelet * self.pixel_patch**2 * (spec["in_channels"] if spec else config.num_channels)
        # True when the pixel head differs from upstream's (it is then saved beside, in conv_stem.safetensors)
        self.foreign_head = foreign_head = self.decoder.head.out_features != values
        if foreign_head:
            self.decoder.head = nn.Linear(config.decoder_hidden_size, values)
            self._init_weights(self.decoder.head)
        if self.stem is not None:  # from_pretrained reads these from conv_stem.safetensors: no "missing" report
            beside = {r"^stem\."} | ({r"^decoder\.head\."} if foreign_head else set())
            self._keys_to_ignore_on_load_missing = set(self._keys_to_ignore_on_load_missing or ()) | beside

    def token_grid(self, frames: int, height: int, width: int) -> tuple[int, int, int]:
        """The (T', H', W') token grid of a clip of ``frames`` keyframes of height x width input pixels."""
        return frames // int(self.config.tubelet_size), height // self.pixel_patch, width // self.pixel_patch

    def encode(self, pixel_values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Encoder states of the visible tokens.

        Args:
            pixel_values: [B, K, C, H, W] with K a multiple of tubelet_size.
            mask: bool [B, T'*H'*W'], True where a token is masked; the same count in every clip.

        Returns:
            [B, N_visible, D] after the final norm, in token order.
        """
        config = self.config
        tubelet = int(config.tubelet_size)
        b, k, _, h, w = pixel_values.shape
        t, gh, gw = self.token_grid(k, h, w)
        if mask.shape != (b, t * gh * gw):
            raise ValueError(f"bool_masked_pos has shape {tuple(mask.shape)}, the clip has {(b, t * gh * gw)} tokens")
        if self.stem is not None:
            pixel_values = self.stem(hide_masked_pixels(pixel_values, mask, tubelet, self.pixel_patch))
        x = self.videomae.embeddings.patch_embeddings.projection(pixel_values.permute(0, 2, 1, 3, 4))
        grid = tuple(x.shape[2:])  # (T', H', W')
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        x = x + _table(self._config_grid(), grid, config.hidden_size).to(x.device, x.dtype)
        visible = x[~mask].reshape(x.shape[0], -1, x.shape[-1])
        hidden = self.videomae.encoder(visible).last_hidden_state
        if self.videomae.layernorm is not None:
            hidden = self.videomae.layernorm(hidden)
        return hidden

    def _config_grid(self) -> tuple[int, int, int]:
        config = self.config
        size = config.image_size if isinstance(config.image_size, int) else config.image_size[0]
        return (config.num_frames // config.tubelet_size, size // config.patch_size, size // config.patch_size)

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
        tubelet = int(config.tubelet_size)
        pixel_values = pixel_values.to(self.dtype)
        batch, frames = pixel_values.shape[:2]
        frames = frames // tubelet * tubelet  # VideoMAE drops a ragged last tubelet
        pixel_values = pixel_values[:, :frames]
        if keyframe_mask is not None:
            keyframe_mask = keyframe_mask[:, :frames].bool()
            pixel_values = pixel_values * keyframe_mask[:, :, None, None, None].to(pixel_values.dtype)
        mask = bool_masked_pos.bool().to(pixel_values.device)

        hidden = self.encoder_to_decoder(self.encode(pixel_values, mask))
        dim = hidden.shape[-1]
        # As upstream: visible tokens first, then mask tokens, each with its own position (no unshuffling needed).
        grid = self.token_grid(frames, *pixel_values.shape[3:])
        position = _table(self._config_grid(), grid, dim).to(hidden.device, hidden.dtype).expand(batch, -1, -1)
        masked_position = position[mask].reshape(batch, -1, dim)
        tokens = torch.cat([hidden + position[~mask].reshape(batch, -1, dim),
                            self.mask_token.to(hidden.dtype) + masked_position], dim=1)
        logits = self.decoder(tokens, masked_position.shape[1]).logits

        with torch.no_grad():  # targets: the original pixels (not those hidden from the stem), float32, never bf16
            target = patch_targets(pixel_values, tubelet, self.pixel_patch, config.norm_pix_loss)
            target = target[mask].reshape(batch, -1, target.shape[-1])
            weight = torch.ones(mask.shape, device=mask.device)
            if keyframe_mask is not None:  # a tube counts only if all its keyframes are present
                present = keyframe_mask.view(batch, -1, tubelet).all(-1).float()  # (B, T')
                weight = present[:, :, None].expand(-1, -1, mask.shape[1] // present.shape[1]).reshape(batch, -1)
            weight = weight[mask].reshape(batch, -1)
        per_token = (logits.float() - target).pow(2).mean(-1)
        loss = (per_token * weight).sum() / weight.sum().clamp(min=1.0)
        return PretrainOutput(loss=loss, logits=logits)

    def _beside_keys(self, keys) -> set[str]:
        """State-dict keys that go to conv_stem.safetensors: the stem, and the decoder head if upstream's differs."""
        return {k for k in keys if k.startswith("stem.") or (self.foreign_head and k.startswith("decoder.head."))}

    def save_pretrained(self, save_directory, *args, state_dict: dict | None = None, **kwargs):
        """transformers' save_pretrained of the VideoMAE part, naming the upstream class so the folder reads as a
        plain VideoMAEForPreTraining checkpoint (same config and keys); the stem's weights beside it (module doc).
        """
        state = self.state_dict() if state_dict is None else state_dict
        beside = self._beside_keys(state)
        out = super().save_pretrained(save_directory, *args, state_dict={k: v for k, v in state.items()
                                                                          if k not in beside}, **kwargs)
        if not kwargs.get("is_main_process", True):
            return out
        path = Path(save_directory) / "config.json"
        if path.is_file():
            config = json.loads(path.read_text())
            config["architectures"] = ["VideoMAEForPreTraining"]
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        if beside:
            from safetensors.torch import save_file

            save_file({k: state[k].detach().contiguous() for k in sorted(beside)}, Path(save_directory) / STEM_FILE)
        return out

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """transformers' from_pretrained, then the stem (and a pixel head) from conv_stem.safetensors."""
        model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        module = model[0] if isinstance(model, tuple) else model  # output_loading_info=True
        if module.stem is not None:
            spec, state = saved_conv_stem(pretrained_model_name_or_path)
            missing, unexpected = module.load_state_dict(state, strict=False)
            expected = module._beside_keys(module.state_dict())
            if unexpected or set(missing) & expected:
                raise ValueError(f"{Path(pretrained_model_name_or_path) / STEM_FILE}: holds {sorted(state)[:6]}, "
                                 f"the model expects {sorted(expected)[:6]} there; is it this folder's file?")
        return model


def saved_conv_stem(folder: str | Path) -> tuple[dict | None, dict[str, torch.Tensor]]:
    """The conv stem a pretraining folder was trained behind: (its config.json ``aivf_conv_stem`` entry, the
    tensors of conv_stem.safetensors with their ``stem.`` / ``decoder.head.`` keys), or (None, {}) without one."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: not a transformers VideoMAE folder (no config.json); point "
                                "model.pretrained at the folder holding config.json and model.safetensors")
    spec = json.loads(path.read_text()).get(STEM_KEY)
    if not spec:
        return None, {}
    weights = Path(folder) / spec.get("weights", STEM_FILE)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} not found: {path} says the folder was pretrained behind a conv stem "
                                f"({STEM_KEY}), whose weights belong there; copy the whole pretraining folder")
    from safetensors.torch import load_file

    return spec, load_file(str(weights))


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
