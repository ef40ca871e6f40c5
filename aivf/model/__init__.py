"""aivf.model: EmbryoModel = video backbone (VideoMAE or Video Swin) + multi-task embryo heads.

Importing this package registers ``EmbryoConfig`` / ``EmbryoModel`` (model_type ``aivf_embryo``) and
``VideoSwinConfig`` / ``VideoSwinModel`` (``aivf_video_swin``) with transformers' ``AutoConfig`` /
``AutoModel``; ``import aivf`` does the same as soon as transformers is imported (aivf/__init__.py).
Then ``AutoModel.from_pretrained(folder)`` works offline without ``trust_remote_code``. Every saved
checkpoint also carries self-contained code (aivf/model/remote_code.py) for ``trust_remote_code=True``
where aivf is not installed, and ``EmbryoVideoProcessor`` (aivf/model/preprocessing.py) describes its inputs.
"""

from __future__ import annotations

from transformers import AutoConfig, AutoModel

from aivf.model.build import build_model, embryo_config
from aivf.model.config import ModelConfig
from aivf.model.configuration_embryo import EmbryoConfig
from aivf.model.heads import TASKS
from aivf.model.modeling_embryo import EmbryoModel, EmbryoModelOutput
from aivf.model.preprocessing import EmbryoVideoProcessor
from aivf.model.video_swin.configuration import VideoSwinConfig
from aivf.model.video_swin.modeling import VideoSwinModel

AutoConfig.register(EmbryoConfig.model_type, EmbryoConfig, exist_ok=True)
AutoModel.register(EmbryoConfig, EmbryoModel, exist_ok=True)
AutoConfig.register(VideoSwinConfig.model_type, VideoSwinConfig, exist_ok=True)
AutoModel.register(VideoSwinConfig, VideoSwinModel, exist_ok=True)

__all__ = [
    "TASKS", "EmbryoConfig", "EmbryoModel", "EmbryoModelOutput", "EmbryoVideoProcessor", "ModelConfig", "VideoSwinConfig",
    "VideoSwinModel", "build_model", "embryo_config",
]
