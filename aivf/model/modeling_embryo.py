"""EmbryoModel: a video backbone (VideoMAE, Video Swin, or the per-frame FrameEncoder) with multi-task embryo heads.

Usage::

    import aivf  # registers EmbryoConfig / EmbryoModel with AutoConfig / AutoModel (on first use)
    model = aivf.model.build_model(cfg.model)
    out = model(pixel_values, keyframe_hpi=hpi, covariates=cov, labels=labels, keyframe_mask=mask)
    model.save_pretrained("ckpt")               # config.json + model.safetensors + self-contained code
    AutoModel.from_pretrained("ckpt")           # in any process that has imported aivf
    AutoModel.from_pretrained("ckpt", trust_remote_code=True)  # anywhere: the code saved beside the weights
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel, VideoMAEConfig
from transformers.utils import ModelOutput

from aivf.dataset.records import AUX_TASKS
from aivf.model.configuration_embryo import EmbryoConfig
from aivf.model.frame_encoder import FRAME_KEYS, FrameEncoder
from aivf.model.heads import (
    MultiTaskHead,
    SharedScoreHead,
    TaskWeighting,
    TimeEmbedding,
    masked_bce_per_task,
    masked_phase_loss,
    score_of_task,
)
from aivf.model.stem import ConvStem
from aivf.model.videomae import VideoMAEBackbone

# VideoMAEConfig arguments that define the architecture (the rest of its to_dict() is bookkeeping).
VIDEOMAE_KEYS = ("image_size", "patch_size", "num_channels", "num_frames", "tubelet_size", "hidden_size",
                 "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                 "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range", "layer_norm_eps",
                 "qv_bias", "use_mean_pooling")


@dataclass
class EmbryoModelOutput(ModelOutput):
    """Outputs of EmbryoModel.

    Args:
        loss: scalar total loss (weighted tasks + phase), present when labels or phase_labels are given.
        logits: [B, num_tasks] binary logits in the order of ``config.tasks`` (d3_fhb, d5_fhb, euploid).
        task_losses: task name -> scalar loss (0 for a task with no label in the batch); ``phase`` too.
        phase_logits: [B, K, num_phases] per-keyframe phase logits when ``config.phase_head``.
        pooled_output: [B, D] the pooled video feature.
        head_features: [B, F] what the task heads read besides covariates (pooled feature and/or phase shares).
        aux_logits: [B, len(config.aux_tasks)] logits of the clinic-record targets (e.g. usable_d5), if any.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    task_losses: dict[str, torch.Tensor] | None = None
    phase_logits: torch.Tensor | None = None
    pooled_output: torch.Tensor | None = None
    head_features: torch.Tensor | None = None
    aux_logits: torch.Tensor | None = None


def make_backbone(backbone_type: str, backbone_config: dict) -> nn.Module:
    """Instantiate a backbone from its type and config dict (a fresh config object every time)."""
    args = dict(backbone_config)
    attn = args.pop("attn_implementation", "sdpa")
    if backbone_type == "videomae":
        config = VideoMAEConfig(**{k: v for k, v in args.items() if k in VIDEOMAE_KEYS})
        config._attn_implementation = attn
        return VideoMAEBackbone(config)
    if backbone_type == "frames":
        return FrameEncoder(**{k: v for k, v in args.items() if k in FRAME_KEYS})
    from aivf.model.video_swin.configuration import VideoSwinConfig
    from aivf.model.video_swin.modeling import VideoSwinModel

    config = VideoSwinConfig(**args)
    config._attn_implementation = attn
    return VideoSwinModel(config)


class EmbryoPreTrainedModel(PreTrainedModel):
    config_class = EmbryoConfig
    base_model_prefix = "embryo"
    main_input_name = "pixel_values"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # Backbones initialise themselves; this covers the heads (small init keeps initial logits near 0).
        if isinstance(module, nn.Linear):
            if getattr(module, "_zero_init", False):
                nn.init.zeros_(module.weight)
            else:
                nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class EmbryoModel(EmbryoPreTrainedModel):
    """Video backbone + pooled multi-task heads (+ optional per-keyframe phase head)."""

    def __init__(self, config: EmbryoConfig):
        super().__init__(config)
        stem_layers = getattr(config, "conv_stem", 0)
        self.stem = ConvStem(config.num_channels, config.conv_stem_channels, stem_layers) if stem_layers else None
        self.backbone = make_backbone(config.backbone_type, config.backbone_config)
        self.time_embed = TimeEmbedding(self.backbone.embed_dim) if config.time_embedding else None
        if self.time_embed is not None:
            self.time_embed.mlp[2]._zero_init = True
        dim = self.backbone.num_features
        phase_dim = config.num_phases if getattr(config, "phase_features", False) else 0
        # phase_only_heads: the few outcome labels fit a linear read-out of the kinetics summary, not of D features.
        head_dim = phase_dim if getattr(config, "phase_only_heads", False) else dim + phase_dim
        if getattr(config, "heads_read_aux", False):
            head_dim += len(getattr(config, "aux_tasks", []))
        if getattr(config, "task_head", "separate") == "shared_score":
            self.heads = SharedScoreHead(head_dim, len(config.tasks), config.num_covariates, config.head_dropout,
                                         score_of_task(config.tasks, getattr(config, "separate_score_tasks", [])))
        else:
            self.heads = MultiTaskHead(head_dim, len(config.tasks), config.num_covariates, config.covariate_fusion,
                                       config.head_hidden_size, config.head_dropout)
        if getattr(self.heads, "film", None) is not None:
            self.heads.film._zero_init = True
        # A token step covers temporal_stride keyframes (one tubelet) and names the phase of each of them:
        # on days 1-3 two keyframes 7 h apart differ in phase more often than not, so one phase per step
        # would blur exactly the cleavage timing that carries the most signal.
        stride = self.backbone.temporal_stride
        self.phase_head = nn.Linear(dim, config.num_phases * stride) if config.phase_head else None
        # Every embryo has a record (usable or not, its grades), so this head learns what an arrested embryo
        # looks like from the video itself: the pooled feature and, where present, the phase summary.
        aux_tasks = getattr(config, "aux_tasks", [])
        unknown = [t for t in aux_tasks if t not in AUX_TASKS]
        if unknown:
            raise ValueError(f"model.aux_tasks {unknown}: not clinic-record targets; choose from {list(AUX_TASKS)}")
        self.aux_columns = [AUX_TASKS.index(t) for t in aux_tasks]  # where they sit in a batch's aux_labels
        self.aux_head = nn.Linear(dim + phase_dim, len(aux_tasks)) if aux_tasks else None
        self.task_weighting = TaskWeighting(config.task_weighting, config.task_weights)
        self.post_init()

    @staticmethod
    def _keyframe_presence(hpi: torch.Tensor | None, mask: torch.Tensor | None, batch: int, frames: int,
                           device: torch.device) -> torch.Tensor:
        """[B, K] float: 1 where a keyframe is present (mask True and a finite time), else 0."""
        present = mask.float() if mask is not None else torch.ones(batch, frames, device=device)
        if hpi is not None:
            present = present * torch.isfinite(hpi).float()  # a NaN time marks a missing keyframe too
        return present

    def _temporal_weights(self, present: torch.Tensor, hpi: torch.Tensor | None, steps: int
                          ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-token-time-step presence [B, T'] and mean hpi [B, T'] (None without hpi), from [B, K] presence."""
        stride = self.backbone.temporal_stride
        batch, frames = present.shape
        span = steps * stride  # VideoMAE drops a ragged last tubelet, Swin pads it
        pad = span - frames
        per_step = nn.functional.pad(present, (0, max(pad, 0)))[:, :span].view(batch, steps, stride)
        weight = per_step.sum(-1)  # (B, T') present frames per time step
        mean_hpi = None
        if hpi is not None:
            h = torch.nan_to_num(hpi.float(), nan=0.0)
            h = nn.functional.pad(h, (0, max(pad, 0)))[:, :span].view(batch, steps, stride)
            mean_hpi = (h * per_step).sum(-1) / weight.clamp(min=1e-6)
        return weight > 0, mean_hpi

    def forward(
        self,
        pixel_values: torch.Tensor,
        keyframe_hpi: torch.Tensor | None = None,
        covariates: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        keyframe_mask: torch.Tensor | None = None,
        phase_labels: torch.Tensor | None = None,
        aux_labels: torch.Tensor | None = None,
        **kwargs,
    ) -> EmbryoModelOutput:
        """Score a batch of clips.

        Args:
            pixel_values: [B, K, C, H, W] normalised keyframes (C = focal planes).
            keyframe_hpi: [B, K] hours post insemination of each keyframe; enters the model through the
                time embedding (if enabled) so an irregular or truncated recording is not read as a slow embryo.
            covariates: [B, num_covariates], e.g. [(maternal_age - 35) / 5, is_icsi]; NaN reads as 0.
            labels: [B, num_tasks] float in {0, 1}, NaN = missing (masked out of loss and gradient).
            keyframe_mask: [B, K] bool, False where a keyframe is missing (zeroed, left out of pooling and phase loss).
            phase_labels: [B, K] long phase index per keyframe, -100 = unlabelled.
            aux_labels: [B, len(config.aux_tasks)] float, NaN = not recorded (masked out of loss and gradient).
            **kwargs: other batch keys (``embryo_id``, ``patient_id`` …) are ignored, so ``model(**batch)`` works.

        Returns:
            EmbryoModelOutput with logits [B, num_tasks], per-task losses and the total loss.
        """
        batch, frames = pixel_values.shape[:2]
        pixel_values = pixel_values.to(self.dtype)  # a no-op except where DeepSpeed keeps bf16/fp16 weights
        if keyframe_mask is not None:
            keyframe_mask = keyframe_mask.bool()
            pixel_values = pixel_values * keyframe_mask[:, :, None, None, None].to(pixel_values.dtype)
        steps = self._token_steps(frames)
        present = self._keyframe_presence(keyframe_hpi, keyframe_mask, batch, frames, pixel_values.device)
        valid, mean_hpi = self._temporal_weights(present, keyframe_hpi, steps)
        temporal_embedding = None
        if self.time_embed is not None and mean_hpi is not None:
            temporal_embedding = self.time_embed(mean_hpi)  # (B, T', D_embed)
        if self.stem is not None:
            pixel_values = self.stem(pixel_values)
        tokens = self.backbone.features(pixel_values, temporal_embedding=temporal_embedding)  # (B, T', S, D)
        per_step = tokens.mean(dim=2)  # (B, T', D)
        weight = valid.to(per_step.dtype).unsqueeze(-1)
        pooled = (per_step * weight).sum(1) / weight.sum(1).clamp(min=1.0)  # (B, D) over present time steps

        phase_logits, head_input, aux_input = None, pooled, pooled
        if self.phase_head is not None:
            steps_out = per_step.shape[1]
            phase_logits = self.phase_head(per_step).view(batch, steps_out * self.backbone.temporal_stride, -1)
            phase_logits = phase_logits[:, :frames]  # (B, K', P); Swin pads a ragged last tubelet
            if phase_logits.shape[1] < frames:  # a ragged last keyframe VideoMAE dropped: reuse the last one
                extra = phase_logits[:, -1:].expand(-1, frames - phase_logits.shape[1], -1)
                phase_logits = torch.cat([phase_logits, extra], dim=1)
            if getattr(self.config, "phase_features", False):
                # Share of the present keyframes in each predicted phase: a learned kinetics summary (like
                # annotated event times); detached so the outcome loss cannot bend the phase head.
                probs = phase_logits.detach().float().softmax(-1) * present.unsqueeze(-1)
                share = probs.sum(1) / present.sum(1, keepdim=True).clamp(min=1.0)  # (B, P)
                head_input = torch.cat([pooled, share.to(pooled.dtype)], dim=-1)
                aux_input = head_input
                if getattr(self.config, "phase_only_heads", False):
                    head_input = share.to(pooled.dtype)

        aux_logits = self.aux_head(aux_input) if self.aux_head is not None else None
        if aux_logits is not None and getattr(self.config, "heads_read_aux", False):
            # detached: the few outcome labels must not bend what the records taught the auxiliary head
            head_input = torch.cat([head_input, aux_logits.detach()], dim=-1)
        logits = self.heads(head_input, covariates)

        loss, task_losses = None, None
        if labels is not None or phase_labels is not None or aux_labels is not None:
            task_losses = {}
            loss = logits.new_zeros(())
            if labels is not None:
                losses, has_label = masked_bce_per_task(logits.float(), labels.to(logits.device))
                task_losses = dict(zip(self.config.tasks, losses.unbind(0)))
                loss = loss + self.task_weighting(losses, has_label)
            if phase_labels is not None and phase_logits is not None:
                phase_loss = masked_phase_loss(phase_logits, phase_labels.to(logits.device), keyframe_mask)
                task_losses["phase"] = phase_loss
                loss = loss + self.config.phase_loss_weight * phase_loss
            if aux_labels is not None and aux_logits is not None:
                if aux_labels.shape[-1] == len(AUX_TASKS):  # a loader batch: every record target, in AUX_TASKS order
                    aux_labels = aux_labels[:, self.aux_columns]
                aux_losses, aux_has = masked_bce_per_task(aux_logits.float(), aux_labels.to(logits.device))
                task_losses.update({f"aux_{t}": v for t, v in zip(self.config.aux_tasks, aux_losses.unbind(0))})
                # mean over the tasks recorded in this batch; exactly 0 (and no gradient) where none is
                aux_loss = (aux_losses * aux_has).sum() / aux_has.sum().clamp(min=1)
                loss = loss + self.config.aux_loss_weight * aux_loss
        return EmbryoModelOutput(loss=loss, logits=logits, task_losses=task_losses, phase_logits=phase_logits,
                                 pooled_output=pooled, head_features=head_input, aux_logits=aux_logits)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' save_pretrained, plus self-contained modelling code and ``auto_map`` beside the weights.

        The saved folder then loads with ``AutoModel.from_pretrained(folder, trust_remote_code=True)`` where
        aivf is not installed (aivf/model/remote_code.py). Not part of the exported code (LOCAL_ONLY there).
        """
        from aivf.model.remote_code import write_remote_code

        result = super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            write_remote_code(save_directory)
        return result

    def _token_steps(self, frames: int) -> int:
        stride = self.backbone.temporal_stride
        if self.config.backbone_type == "videomae":
            if frames < stride:
                raise ValueError(f"VideoMAE needs at least tubelet_size={stride} keyframes, got K={frames}")
            return frames // stride
        return -(-frames // stride)
