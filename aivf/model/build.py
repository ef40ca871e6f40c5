"""build_model: ModelConfig (the ``model`` section of the experiment config) -> EmbryoModel."""

from __future__ import annotations

from pathlib import Path

from aivf.model.config import ModelConfig
from aivf.model.configuration_embryo import EmbryoConfig
from aivf.model.modeling_embryo import VIDEOMAE_KEYS, EmbryoModel
from aivf.model.sizes import backbone_size
from aivf.model.videomae import load_videomae_folder


def embryo_config(cfg: ModelConfig, backbone_config: dict | None = None) -> EmbryoConfig:
    """The EmbryoConfig a ModelConfig describes (``backbone_config`` replaces the size table's, if given)."""
    if backbone_config is None:
        backbone_config = backbone_size(cfg.backbone, cfg.size)
        if cfg.backbone == "videomae":
            backbone_config.update(num_frames=cfg.num_frames, image_size=cfg.image_size,
                                   num_channels=cfg.channels, use_mean_pooling=False)
        else:
            backbone_config.update(num_channels=cfg.channels, drop_path_rate=cfg.drop_path_rate)
        backbone_config.update(dict(cfg.backbone_overrides))
    if cfg.conv_stem:
        if cfg.backbone != "videomae":
            raise ValueError(f"model.conv_stem is implemented for the VideoMAE backbone, not {cfg.backbone!r}: "
                             "set model.conv_stem=0")
        factor = 2 ** cfg.conv_stem
        if cfg.image_size % factor or backbone_config["patch_size"] % factor:
            raise ValueError(f"model.conv_stem={cfg.conv_stem} shrinks frames by {factor}: model.image_size="
                             f"{cfg.image_size} and the patch size {backbone_config['patch_size']} must divide by it")
        backbone_config.update(image_size=cfg.image_size // factor, num_channels=cfg.conv_stem_channels,
                               patch_size=backbone_config["patch_size"] // factor)
    backbone_config["attn_implementation"] = cfg.attn_implementation
    return EmbryoConfig(
        backbone_type=cfg.backbone, backbone_config=backbone_config, num_frames=cfg.num_frames,
        image_size=cfg.image_size, num_channels=cfg.channels, time_embedding=cfg.time_embedding,
        num_covariates=cfg.num_covariates, covariate_fusion=cfg.covariate_fusion,
        head_hidden_size=cfg.head_hidden_size, head_dropout=cfg.head_dropout, phase_head=cfg.phase_head,
        num_phases=cfg.num_phases, phase_loss_weight=cfg.phase_loss_weight, phase_features=cfg.phase_features,
        phase_only_heads=cfg.phase_only_heads, task_head=cfg.task_head,
        separate_score_tasks=list(cfg.separate_score_tasks), aux_tasks=list(cfg.aux_tasks),
        aux_loss_weight=cfg.aux_loss_weight, heads_read_aux=cfg.heads_read_aux, conv_stem=cfg.conv_stem,
        conv_stem_channels=cfg.conv_stem_channels,
        task_weighting=cfg.task_weighting,
        task_weights=list(cfg.task_weights),
    )


def build_model(cfg: ModelConfig) -> EmbryoModel:
    """Build an EmbryoModel, loading pretrained backbone weights from a local path if ``cfg.pretrained``.

    With a pretrained VideoMAE folder the checkpoint's architecture wins over ``cfg.size`` (its position
    grid is resized to ``num_frames`` x ``image_size`` at run time). With a Video Swin checkpoint
    (torchvision or official), ``cfg.size`` must name the checkpoint's size (tiny/small/base).
    """
    if cfg.conv_stem and cfg.pretrained:
        raise ValueError(f"model.conv_stem={cfg.conv_stem} puts untrained convolutions in front of the pretrained "
                         f"backbone {cfg.pretrained}, whose patch embedding expects pixels: set model.conv_stem=0")
    if cfg.pretrained and cfg.backbone == "videomae":
        backbone = load_videomae_folder(cfg.pretrained, cfg.channels, cfg.attn_implementation,
                                        dict(cfg.backbone_overrides))
        backbone_config = {k: v for k, v in backbone.config.to_dict().items() if k in VIDEOMAE_KEYS}
        model = EmbryoModel(embryo_config(cfg, backbone_config))
        model.backbone.load_state_dict(backbone.state_dict())
    else:
        model = EmbryoModel(embryo_config(cfg))
        if cfg.pretrained:
            from aivf.model.convert import load_video_swin_weights

            fmt = "auto" if cfg.pretrained_format in ("auto", "videomae") else cfg.pretrained_format
            load_video_swin_weights(model.backbone, Path(cfg.pretrained), fmt)
    if cfg.gradient_checkpointing:
        # transformers >= 5.x renamed gradient_checkpointing_enable (now a deprecated alias).
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    return model
