"""Per-frame phase probabilities of a whole recording from a checkpoint's phase head (torch).

Frames are decoded once, in chunks, at the size and crop the run trained on, normalised like the
training loader, then fed as clips (:mod:`aivf.annotate.windows`) in batches.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from aivf.annotate.windows import Layout, frame_windows
from aivf.data.keyframes import grid_targets
from aivf.data.record import Recording, crop_frames


@dataclass
class FramePhases:
    """What the model says about every frame of one recording.

    Attributes:
        log_probs: float32 (T, P) log-softmax of the phase logits of each frame.
        num_clips: clips the model ran on.
        decode_s, model_s: seconds spent decoding frames and in the model.
        thumbnails: uint8 (T, S, S) the frames as the model saw them (first plane), for the strip.
    """

    log_probs: np.ndarray
    num_clips: int
    decode_s: float
    model_s: float
    thumbnails: np.ndarray


def read_all_frames(recording: Recording, size: int, crop_fraction: float, chunk: int = 64,
                    progress: bool = True, crop_centre: str = "frame") -> np.ndarray:
    """uint8 (T, P, size, size): every frame, resized on decode then cropped like ``read_keyframes``
    (around the frame centre, or around the embryo tracked over the whole recording)."""
    read_size = int(round(size / crop_fraction)) if crop_fraction < 1 else size
    parts = []
    bar = tqdm(total=len(recording), desc=f"decoding {recording.embryo_id}", unit="frame", disable=not progress,
               leave=False)
    for start in range(0, len(recording), chunk):
        frames = recording.read(np.arange(start, min(start + chunk, len(recording))), read_size)
        parts.append(frames)
        bar.update(len(frames))
    bar.close()
    frames = np.concatenate(parts)  # the embryo is tracked over the whole recording, so crop after reading it all
    return crop_frames(frames, size, crop_centre) if crop_fraction < 1 else frames


@torch.no_grad()
def predict_frames(model: torch.nn.Module, recording: Recording, keyframes, pixel_mean: float, pixel_std: float,
                   batch_size: int = 32, progress: bool = True, layout: Layout = "swap") -> FramePhases:
    """Phase log-probabilities of every frame of ``recording``.

    Args:
        model: an EmbryoModel with ``config.phase_head``; its ``num_frames`` and ``image_size`` set K and the size.
        recording: any opened recording.
        keyframes: the run's KeyframeConfig (grid, tolerance, crop).
        pixel_mean, pixel_std: the training loader's normalisation.
        batch_size: clips per forward pass.
        layout: how frames enter clips: ``swap`` (accurate, one clip per frame), ``shifted`` (shared clips,
            several times faster) or ``packed`` (K frames per clip, a per-frame model only); see
            :mod:`aivf.annotate.windows`.
    """
    config = model.config
    if not getattr(config, "phase_head", False):
        raise ValueError("this checkpoint has no phase head (trained with model.phase_head=false); "
                         "annotate needs a model trained on phase labels")
    start = time.perf_counter()
    frames = read_all_frames(recording, config.image_size, keyframes.crop_fraction, progress=progress,
                             crop_centre=keyframes.crop_centre)
    channels = config.num_channels
    if frames.shape[1] < channels:  # fewer planes than the model was trained on: repeat the first (as rank does)
        frames = np.concatenate([frames, np.repeat(frames[:, :1], channels - frames.shape[1], axis=1)], axis=1)
    frames = frames[:, :channels]
    decode_s = time.perf_counter() - start

    start = time.perf_counter()
    grid = grid_targets(_with_k(keyframes, config.num_frames))
    windows = frame_windows(recording.times_hpi, grid, keyframes.tolerance_h, layout)
    pixels = torch.from_numpy(frames).float().div_(255.0).sub_(pixel_mean).div_(pixel_std)  # (T, C, H, W)
    per_clip = []
    for first in tqdm(range(0, len(windows.indices), batch_size), desc=f"phases {recording.embryo_id}",
                      unit="batch", disable=not progress, leave=False):
        index = torch.from_numpy(windows.indices[first:first + batch_size])
        mask = torch.from_numpy(windows.mask[first:first + batch_size])
        clip = pixels[index.clamp(min=0)]  # (B, K, C, H, W); missing keyframes are zeroed by the model
        out = model(pixel_values=clip, keyframe_hpi=torch.from_numpy(windows.hpi[first:first + batch_size]).float(),
                    keyframe_mask=mask)
        per_clip.append(out.phase_logits.float().log_softmax(-1))  # (B, K, P)
    log_probs = torch.cat(per_clip)[torch.from_numpy(windows.clip_of_frame), torch.from_numpy(windows.slot_of_frame)]
    return FramePhases(log_probs=log_probs.numpy(), num_clips=len(windows.indices), decode_s=decode_s,
                       model_s=time.perf_counter() - start, thumbnails=frames[:, 0])


def _with_k(keyframes, k: int):
    """The keyframe config with ``num_keyframes = k`` (the model's K wins over a config that disagrees)."""
    if keyframes.num_keyframes == k:
        return keyframes
    # an explicit grid of another length cannot be used for K points: fall back to the linspace grid
    return dataclasses.replace(keyframes, num_keyframes=k, grid_hpi=[] if len(keyframes.grid_hpi) != k else keyframes.grid_hpi)
