"""EmbryoVideoProcessor: how a recording becomes the model's input, saved as ``preprocessor_config.json``.

A model only scores a recording correctly with the keyframes it was trained on: the same count K and hpi
grid, crop, frame size, number of focal planes and pixel normalisation. This class holds exactly those
settings and saves / loads them the transformers way (it is an ``ImageProcessingMixin``)::

    processor = EmbryoVideoProcessor.from_experiment(cfg)    # from a run's config (aivf.config)
    processor.save_pretrained(folder)                       # preprocessor_config.json
    processor = EmbryoVideoProcessor.from_pretrained(folder_or_repo)
    inputs = processor.read(recording_path)                 # {"pixel_values", "keyframe_hpi", "keyframe_mask"}
    model(**inputs)

``aivf push`` writes it beside the weights; ``aivf rank`` reads it from the checkpoint folder (else builds
it from the run's config.yaml) and scores recordings with it (``apply_to``), so a folder downloaded from the
Hub picks the same keyframes the model was trained on. How frames are read from a clinic's files (layout,
banner rows, time source: ``data.*`` other than ``data.keyframes``) stays the reader's business, not the model's.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from transformers.image_processing_base import ImageProcessingMixin

PREPROCESSOR_FILE = "preprocessor_config.json"


class EmbryoProcessorKwargs(TypedDict, total=False):
    """The settings of EmbryoVideoProcessor (also what ``from_pretrained(..., **kwargs)`` may override)."""

    keyframe_method: str
    num_keyframes: int
    grid_hpi: list[float]
    start_hpi: float
    cutoff_hpi: float
    tolerance_h: float
    crop_fraction: float
    crop_centre: str
    size: int
    coverage_bins: int
    stats_size: int
    num_planes: int
    pixel_mean: float
    pixel_std: float


class EmbryoVideoProcessor(ImageProcessingMixin):
    """Keyframe selection + crop/resize + plane count + normalisation of an aivf EmbryoModel.

    Args:
        keyframe_method: ``grid`` (fixed hpi grid), ``uniform`` or ``content`` (aivf.data.keyframes).
        num_keyframes: K keyframes per recording.
        grid_hpi: the K hours post insemination of the grid (``grid`` method), written out explicitly.
        start_hpi, cutoff_hpi: first grid point / no frame after this hpi.
        tolerance_h: ``grid``: the nearest frame must lie within this many hours, else the keyframe is missing.
        crop_fraction: keep this fraction of the frame's side before resizing.
        crop_centre: where that crop is centred: ``frame`` or ``embryo`` (the zona, tracked: aivf.data.locate).
        size: output side in pixels (square).
        coverage_bins, stats_size: ``content`` selection settings.
        num_planes: focal planes per keyframe the model reads (fewer recorded: the first is repeated).
        pixel_mean, pixel_std: normalisation ``(x / 255 - mean) / std``.
    """

    model_input_names = ["pixel_values", "keyframe_hpi", "keyframe_mask"]
    valid_kwargs = EmbryoProcessorKwargs

    def __init__(self, keyframe_method: str = "grid", num_keyframes: int = 16, grid_hpi: list[float] | None = None,
                 start_hpi: float = 12.0, cutoff_hpi: float = 116.0, tolerance_h: float = 1.0,
                 crop_fraction: float = 1.0, crop_centre: str = "frame", size: int = 128, coverage_bins: int = 0, stats_size: int = 32,
                 num_planes: int = 1, pixel_mean: float = 0.5, pixel_std: float = 0.5, **kwargs: Any):
        kwargs.pop("image_processor_type", None)  # written by to_dict; the class is this one
        super().__init__(**kwargs)
        if keyframe_method not in ("grid", "uniform", "content"):
            raise ValueError(f"keyframe_method={keyframe_method!r}: expected 'grid', 'uniform' or 'content'")
        if grid_hpi and len(grid_hpi) != num_keyframes:
            raise ValueError(f"grid_hpi has {len(grid_hpi)} values for num_keyframes={num_keyframes}: give one per keyframe")
        if pixel_std <= 0:
            raise ValueError(f"pixel_std={pixel_std}: must be > 0")
        self.keyframe_method = keyframe_method
        self.num_keyframes = int(num_keyframes)
        self.grid_hpi = [float(h) for h in (grid_hpi or [])]
        self.start_hpi = float(start_hpi)
        self.cutoff_hpi = float(cutoff_hpi)
        self.tolerance_h = float(tolerance_h)
        self.crop_fraction = float(crop_fraction)
        if crop_centre not in ("frame", "embryo"):
            raise ValueError(f"crop_centre={crop_centre!r}: expected 'frame' or 'embryo'")
        self.crop_centre = crop_centre
        self.size = int(size)
        self.coverage_bins = int(coverage_bins)
        self.stats_size = int(stats_size)
        self.num_planes = int(num_planes)
        self.pixel_mean = float(pixel_mean)
        self.pixel_std = float(pixel_std)

    @classmethod
    def from_experiment(cls, cfg) -> EmbryoVideoProcessor:
        """The processor of a run: ``cfg.data.keyframes``, ``cfg.model.channels``, ``cfg.dataset.loader`` mean/std."""
        from aivf.data.keyframes import grid_targets

        kf, loader = cfg.data.keyframes, cfg.dataset.loader
        grid = [float(h) for h in grid_targets(kf)] if kf.method == "grid" else list(kf.grid_hpi)
        return cls(keyframe_method=kf.method, num_keyframes=kf.num_keyframes, grid_hpi=grid, start_hpi=kf.start_hpi,
                   cutoff_hpi=kf.cutoff_hpi, tolerance_h=kf.tolerance_h, crop_fraction=kf.crop_fraction,
                   crop_centre=kf.crop_centre, size=kf.size,
                   coverage_bins=kf.coverage_bins, stats_size=kf.stats_size, num_planes=cfg.model.channels,
                   pixel_mean=loader.pixel_mean, pixel_std=loader.pixel_std)

    @classmethod
    def for_checkpoint(cls, checkpoint: str | Path, cfg) -> tuple[EmbryoVideoProcessor, str]:
        """(processor, where it came from): the checkpoint's preprocessor_config.json, else ``cfg``'s settings."""
        path = Path(checkpoint) / PREPROCESSOR_FILE
        if path.is_file():
            return cls.from_pretrained(str(checkpoint), local_files_only=True), str(path)
        return cls.from_experiment(cfg), "the run's config"

    def keyframe_config(self):
        """The ``aivf.data.KeyframeConfig`` that selects, crops and resizes these keyframes."""
        from aivf.data.config import KeyframeConfig

        return KeyframeConfig(method=self.keyframe_method, num_keyframes=self.num_keyframes, grid_hpi=list(self.grid_hpi),
                              start_hpi=self.start_hpi, cutoff_hpi=self.cutoff_hpi, tolerance_h=self.tolerance_h,
                              size=self.size, crop_fraction=self.crop_fraction, crop_centre=self.crop_centre,
                              coverage_bins=self.coverage_bins,
                              stats_size=self.stats_size)

    def apply_to(self, cfg):
        """A copy of experiment config ``cfg`` whose keyframe, plane and normalisation settings are this processor's."""
        cfg = copy.deepcopy(cfg)
        cfg.data.keyframes = self.keyframe_config()
        cfg.model.channels = self.num_planes
        cfg.dataset.loader.pixel_mean, cfg.dataset.loader.pixel_std = self.pixel_mean, self.pixel_std
        return cfg

    def normalize(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (K, P, H, W) -> float32 (K, num_planes, H, W), normalised; missing planes repeat plane 0."""
        frames = np.asarray(frames)
        if frames.ndim != 4:
            raise ValueError(f"frames of shape {frames.shape}: expected (K, planes, H, W) uint8 keyframes")
        if frames.shape[1] < self.num_planes:
            frames = np.concatenate([frames, np.repeat(frames[:, :1], self.num_planes - frames.shape[1], axis=1)], axis=1)
        x = frames[:, :self.num_planes].astype(np.float32) / 255.0
        return (x - np.float32(self.pixel_mean)) / np.float32(self.pixel_std)

    def __call__(self, frames: np.ndarray, keyframe_hpi: np.ndarray, keyframe_mask: np.ndarray | None = None,
                 return_tensors: str | None = "pt") -> dict:
        """Model inputs of one recording's keyframes: ``pixel_values`` [1, K, C, H, W], ``keyframe_hpi``, ``keyframe_mask``."""
        hpi = np.asarray(keyframe_hpi, dtype=np.float32)
        mask = np.isfinite(hpi) if keyframe_mask is None else np.asarray(keyframe_mask, dtype=bool)
        out = {"pixel_values": self.normalize(frames)[None], "keyframe_hpi": hpi[None], "keyframe_mask": mask[None]}
        if return_tensors == "pt":
            import torch

            out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}
        elif return_tensors not in (None, "np"):
            raise ValueError(f"return_tensors={return_tensors!r}: expected 'pt', 'np' or None")
        return out

    def read(self, path: str | Path, data_cfg=None, return_tensors: str | None = "pt", **open_kwargs) -> dict:
        """Open a recording (any layout ``aivf.data.open_recording`` reads) and return its model inputs."""
        from aivf.data import open_recording
        from aivf.data.config import DataConfig

        data_cfg = data_cfg if data_cfg is not None else DataConfig()
        with open_recording(path, data_cfg, **open_kwargs) as rec:
            frames, keys = rec.read_keyframes(self.keyframe_config())
        return self(frames, keys.hpi, keys.mask, return_tensors=return_tensors)
