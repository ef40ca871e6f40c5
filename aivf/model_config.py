"""The ``model`` section of the experiment config: which backbone, how big, which heads and losses.

It sits here, not in ``aivf/model/``, so that importing it does not import transformers and torch
(``aivf/model/__init__.py`` does, to register the Auto classes); ``aivf.model.config`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass
class ModelConfig:
    """How :func:`aivf.model.build_model` assembles an :class:`~aivf.model.EmbryoModel`.

    The euploidy label the heads see is already 0/1/NaN: whether ``mosaic`` counts as euploid,
    aneuploid or missing, and ``no_result`` as missing, is decided upstream when the dataset builds
    labels (``aivf.dataset``), so that the model never has to know clinic-specific PGT-A policy.
    """

    # video encoder family; frames = a per-frame CNN that never mixes keyframes (a phase annotator that must read
    # the pixels, not the slot: aivf/model/frame_encoder.py)
    backbone: Literal["videomae", "video_swin", "frames"] = "videomae"
    size: Literal["micro", "tiny", "small", "base", "large"] = "micro"  # row of aivf/model/sizes.py; micro = CPU tests
    num_frames: int = 16  # K keyframes per clip fed to the model
    image_size: int = 128  # frame side H = W in pixels
    channels: int = 1  # C = focal planes per keyframe (1, 3 or 7); pretrained RGB stems are adapted
    # frames backbone: stride of its stem, 2 or 4 (4 runs the conv blocks on a quarter of the positions)
    frame_stem_stride: int = 2
    backbone_overrides: dict[str, Any] = field(default_factory=dict)  # extra backbone config keys, e.g. {patch_size: 8}
    pretrained: str | None = None  # local path: VideoMAE folder, torchvision swin3d or official Video Swin checkpoint
    pretrained_format: Literal["auto", "videomae", "torchvision", "mmaction"] = "auto"  # how to read `pretrained`
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"  # attention kernel of the backbone
    gradient_checkpointing: bool = False  # recompute backbone activations in backward to save memory
    drop_path_rate: float = 0.1  # stochastic depth of the Swin blocks (VideoMAE has none)
    # Stride-2 conv layers before the transformer's patch embedding (0 = none; from scratch, or from an aivf pretrain
    # folder trained with the same stem):
    # the frame shrinks by 2**conv_stem and the patch size with it, so the token grid stays the same.
    conv_stem: int = 0
    conv_stem_channels: int = 32  # channels the stem hands to the patch embedding
    time_embedding: bool = True  # add a learned embedding of each keyframe's hpi to its temporal tokens
    num_covariates: int = 2  # covariate features per embryo ([(age-35)/5, is_icsi]); 0 = no covariates
    covariate_fusion: Literal["none", "concat", "film"] = "concat"  # how covariates meet the pooled video feature
    head_hidden_size: int = 0  # hidden units of the task MLP (0 = a linear head on the pooled feature)
    head_dropout: float = 0.1  # dropout on the pooled feature before the heads
    phase_head: bool = False  # also predict the Gomez morphokinetic phase of every keyframe
    num_phases: int = 16  # phase classes (the 16 of the Gomez dataset); phase label -100 = ignore
    phase_loss_weight: float = 0.5  # weight of the phase cross-entropy in the total loss
    phase_features: bool = False  # heads also see the time-averaged predicted phase probabilities (a learned kinetics summary)
    phase_only_heads: bool = False  # task heads read ONLY the phase-time summary (+ covariates), not the pooled video feature: ~60 weights for ~150 labels (needs phase_features)
    # separate: one logistic read-out per task; shared_score: one competence score that all tasks' labels train
    # (each task scales it and adds its own covariate terms), for when outcome labels are scarce.
    task_head: Literal["separate", "shared_score"] = "separate"
    # With shared_score: tasks that get their own score direction (e.g. d3_fhb, whose labels come from
    # recordings that stop at the day-3 transfer and so look unlike the day-5 ones).
    separate_score_tasks: list[str] = field(default_factory=list)
    # Auxiliary targets from the clinic's records of EVERY embryo (aivf/dataset/records.py AUX_TASKS: usable_d3,
    # usable_d5, usable_d6, icm_ab, te_ab), read from the pooled video feature + phase summary. The usable calls
    # gate the outcome probabilities: P(FHB | day-5) shown = P(usable by day 6) x P(FHB | transferred), since outcome
    # labels exist only for transferred (usable) embryos and say nothing about the others. [] = none.
    aux_tasks: list[str] = field(default_factory=list)
    aux_loss_weight: float = 1.0  # weight of the auxiliary BCE (mean over its tasks) in the total loss
    # The outcome heads also read the auxiliary logits (detached): the predicted usable calls and ICM/TE grades,
    # which the phase shares alone do not carry (a TE-grade-C blastocyst looks like any other in phase time).
    heads_read_aux: bool = False
    task_weighting: Literal["fixed", "uncertainty"] = "fixed"  # fixed weights or Kendall et al. learned weighting
    task_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # fixed weights of (d3, d5, euploid)
