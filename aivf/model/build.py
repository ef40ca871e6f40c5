"""build_model: ModelConfig (the ``model`` section of the experiment config) -> EmbryoModel."""

from __future__ import annotations

from pathlib import Path

from aivf.model.config import ModelConfig
from aivf.model.configuration_embryo import EmbryoConfig
from aivf.model.modeling_embryo import VIDEOMAE_KEYS, EmbryoModel
from aivf.model.pretraining import STEM_FILE, STEM_KEY, saved_conv_stem
from aivf.model.sizes import backbone_size
from aivf.model.stem import stem_geometry
from aivf.model.videomae import load_videomae_folder


def embryo_config(cfg: ModelConfig, backbone_config: dict | None = None) -> EmbryoConfig:
    """The EmbryoConfig a ModelConfig describes (``backbone_config`` replaces the size table's, if given).

    With ``model.conv_stem`` a given ``backbone_config`` already describes the backbone behind the stem (a
    folder of ``aivf pretrain`` with the stem); one from the size table is shrunk to the stem's feature map.
    """
    stem_applied = backbone_config is not None
    if backbone_config is None:
        backbone_config = backbone_size(cfg.backbone, cfg.size)
        if cfg.backbone == "videomae":
            backbone_config.update(num_frames=cfg.num_frames, image_size=cfg.image_size,
                                   num_channels=cfg.channels, use_mean_pooling=False)
        elif cfg.backbone == "frames":
            backbone_config.update(num_channels=cfg.channels, stem_stride=cfg.frame_stem_stride)
        else:
            backbone_config.update(num_channels=cfg.channels, drop_path_rate=cfg.drop_path_rate)
        backbone_config.update(dict(cfg.backbone_overrides))
    if cfg.conv_stem:
        if cfg.backbone != "videomae":
            raise ValueError(f"model.conv_stem is implemented for the VideoMAE backbone, not {cfg.backbone!r}: "
                             "set model.conv_stem=0")
        if stem_applied:  # a folder pretrained behind the stem: only the run's frames must fit it
            if cfg.image_size % 2**cfg.conv_stem:
                raise ValueError(f"model.conv_stem={cfg.conv_stem} shrinks frames by {2**cfg.conv_stem}: "
                                 f"model.image_size={cfg.image_size} must divide by it")
        else:
            backbone_config.update(stem_geometry(cfg.conv_stem, cfg.conv_stem_channels, cfg.image_size,
                                                 backbone_config["patch_size"]))
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
    (torchvision or official), ``cfg.size`` must name the checkpoint's size (tiny/small/base). A folder that
    ``aivf pretrain`` trained behind the conv stem loads stem and backbone together; ``model.conv_stem``,
    ``conv_stem_channels`` and ``channels`` must then be its stem's (:func:`check_saved_stem`).
    """
    if cfg.pretrained and cfg.backbone == "videomae":
        spec, stem_state = saved_conv_stem(cfg.pretrained)
        check_saved_stem(cfg, spec)
        # Behind a stem the patch embedding reads the stem's channels, which must not be adapted to focal planes.
        backbone = load_videomae_folder(cfg.pretrained, spec["channels"] if spec else cfg.channels,
                                        cfg.attn_implementation, dict(cfg.backbone_overrides))
        backbone_config = {k: v for k, v in backbone.config.to_dict().items() if k in VIDEOMAE_KEYS}
        model = EmbryoModel(embryo_config(cfg, backbone_config))
        model.backbone.load_state_dict(backbone.state_dict())
        if spec:
            stem = {k.removeprefix("stem."): v for k, v in stem_state.items() if k.startswith("stem.")}
            try:
                model.stem.load_state_dict(stem)
            except RuntimeError as err:
                raise ValueError(f"{cfg.pretrained}/{STEM_FILE} does not fit the conv stem its config.json "
                                 f"describes ({spec}): {err}") from None
    else:
        if cfg.pretrained and cfg.backbone == "frames":
            raise ValueError(f"model.pretrained={cfg.pretrained}: the frames backbone has no pretrained format; "
                             "train it from scratch (model.pretrained=null)")
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


def check_saved_stem(cfg: ModelConfig, spec: dict | None) -> None:
    """The run's conv stem must be the one the pretrained folder was trained behind (``spec``; None: none)."""
    folder = cfg.pretrained
    if spec is None:
        if cfg.conv_stem:
            raise ValueError(f"model.conv_stem={cfg.conv_stem} with model.pretrained={folder}: that folder was "
                             f"pretrained without a conv stem (no {STEM_KEY} in its config.json), so its patch "
                             "embedding expects pixels, not stem features: set model.conv_stem=0, or pretrain with "
                             f"aivf pretrain model.conv_stem={cfg.conv_stem} "
                             f"model.conv_stem_channels={cfg.conv_stem_channels}")
        return
    names = {"layers": "model.conv_stem", "channels": "model.conv_stem_channels", "in_channels": "model.channels"}
    wanted = {"layers": cfg.conv_stem, "channels": cfg.conv_stem_channels, "in_channels": cfg.channels}
    differ = [key for key in names if wanted[key] != spec.get(key)]
    if differ:
        found = ", ".join(f"{names[k]}={wanted[k]} but {STEM_KEY}.{k}={spec.get(k)}" for k in differ)
        fix = " ".join(f"{names[k]}={spec.get(k)}" for k in differ)
        raise ValueError(f"model.pretrained={folder} was pretrained behind a conv stem its config.json describes as "
                         f"{STEM_KEY}={spec}, and its stem and backbone load only together: {found}; set {fix}")
