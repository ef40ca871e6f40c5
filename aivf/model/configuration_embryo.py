"""EmbryoConfig: the transformers config of :class:`aivf.model.EmbryoModel` (saved as config.json)."""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig

from aivf.model.heads import TASKS


class EmbryoConfig(PretrainedConfig):
    """Architecture of an EmbryoModel: a video backbone and its multi-task heads.

    The backbone's own config is kept as a plain dict (``backbone_config``) so that config.json stays
    readable and reloads without custom sub-config machinery; ``backbone_type`` says which class reads it.

    Args:
        backbone_type: ``"videomae"`` (transformers' VideoMAEModel), ``"video_swin"`` (aivf's VideoSwinModel) or
            ``"frames"`` (aivf's per-frame FrameEncoder).
        backbone_config: keyword arguments of VideoMAEConfig / VideoSwinConfig.
        num_frames: K keyframes per clip the model is trained on (inputs may differ; see the backbones).
        image_size: frame side the model is trained on.
        num_channels: focal planes per keyframe.
        time_embedding: add a learned embedding of each keyframe's hpi to the temporal tokens.
        conv_stem: stride-2 conv layers before the backbone (0 = none); backbone_config then describes the
            stem's output (its image_size, patch_size and num_channels).
        conv_stem_channels: channels of the stem's output.
        num_covariates: covariate features per embryo (0 = none).
        covariate_fusion: ``"none"``, ``"concat"`` or ``"film"``.
        head_hidden_size: hidden units of the task MLP (0 = linear).
        head_dropout: dropout before the heads.
        phase_head: also predict a morphokinetic phase per keyframe.
        num_phases: phase classes (16 Gomez phases).
        phase_loss_weight: weight of the phase loss in the total.
        phase_features: also feed the task heads the time-averaged predicted phase probabilities (needs phase_head).
        phase_only_heads: the task heads read only the phase-time summary (+ covariates) (needs phase_features).
        task_head: ``"separate"`` (a read-out per task) or ``"shared_score"`` (one score all tasks' labels train).
        separate_score_tasks: with ``shared_score``, tasks that read their own score direction instead.
        aux_tasks: auxiliary binary targets of every embryo (clinic records, e.g. usable_d5), own linear head.
        aux_loss_weight: weight of their masked BCE in the total loss.
        heads_read_aux: the outcome heads also read the (detached) auxiliary logits.
        task_weighting: ``"fixed"`` or ``"uncertainty"``.
        task_weights: fixed weights, one per task.
        tasks: names of the binary tasks, in the column order of ``labels``.
    """

    model_type = "aivf_embryo"

    def __init__(
        self,
        backbone_type: str = "videomae",
        backbone_config: dict[str, Any] | None = None,
        num_frames: int = 16,
        image_size: int = 128,
        num_channels: int = 1,
        time_embedding: bool = True,
        conv_stem: int = 0,
        conv_stem_channels: int = 32,
        num_covariates: int = 2,
        covariate_fusion: str = "concat",
        head_hidden_size: int = 0,
        head_dropout: float = 0.1,
        phase_head: bool = False,
        num_phases: int = 16,
        phase_loss_weight: float = 0.5,
        phase_features: bool = False,
        phase_only_heads: bool = False,
        task_head: str = "separate",
        separate_score_tasks: list[str] | None = None,
        aux_tasks: list[str] | None = None,
        aux_loss_weight: float = 1.0,
        heads_read_aux: bool = False,
        task_weighting: str = "fixed",
        task_weights: list[float] | None = None,
        tasks: list[str] | None = None,
        **kwargs: Any,
    ):
        if backbone_type not in ("videomae", "video_swin", "frames"):
            raise ValueError(f"backbone_type={backbone_type!r}: expected 'videomae', 'video_swin' or 'frames'")
        if covariate_fusion not in ("none", "concat", "film"):
            raise ValueError(f"covariate_fusion={covariate_fusion!r}: expected 'none', 'concat' or 'film'")
        if task_weighting not in ("fixed", "uncertainty"):
            raise ValueError(f"task_weighting={task_weighting!r}: expected 'fixed' or 'uncertainty'")
        self.backbone_type = backbone_type
        self.backbone_config = dict(backbone_config or {})
        self.num_frames = num_frames
        self.image_size = image_size
        self.num_channels = num_channels
        self.time_embedding = time_embedding
        self.conv_stem = conv_stem
        self.conv_stem_channels = conv_stem_channels
        self.num_covariates = num_covariates
        self.covariate_fusion = covariate_fusion
        self.head_hidden_size = head_hidden_size
        self.head_dropout = head_dropout
        self.phase_head = phase_head
        self.num_phases = num_phases
        self.phase_loss_weight = phase_loss_weight
        self.phase_features = phase_features and phase_head
        self.phase_only_heads = phase_only_heads and self.phase_features
        if task_head not in ("separate", "shared_score"):
            raise ValueError(f"task_head={task_head!r}: expected 'separate' or 'shared_score'")
        self.task_head = task_head
        self.task_weighting = task_weighting
        self.tasks = list(tasks or TASKS)
        self.separate_score_tasks = list(separate_score_tasks or [])
        unknown = [t for t in self.separate_score_tasks if t not in self.tasks]
        if unknown:
            raise ValueError(f"separate_score_tasks {unknown} are not tasks of this model {self.tasks}")
        self.aux_tasks = list(aux_tasks or [])
        self.aux_loss_weight = aux_loss_weight
        self.heads_read_aux = bool(heads_read_aux and self.aux_tasks)
        self.task_weights = list(task_weights if task_weights is not None else [1.0] * len(self.tasks))
        if len(self.task_weights) != len(self.tasks):
            raise ValueError(f"task_weights has {len(self.task_weights)} entries for {len(self.tasks)} tasks "
                             f"{self.tasks}: give one weight per task")
        super().__init__(**kwargs)
