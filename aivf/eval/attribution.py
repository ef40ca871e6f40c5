"""Temporal attribution by occlusion: which keyframes moved a task's score.

Each keyframe is hidden in turn (``keyframe_mask`` False, pixels zeroed, as the model treats a
missing frame) and the change of the task logits is recorded. Cheap (K + 1 forward passes per
batch), model-agnostic and honest about the model's own notion of "missing", unlike attention
rollout, which SDPA attention does not expose (../shared/docs/stack-notes.md).
"""

from __future__ import annotations

import torch

MODEL_INPUTS = ("pixel_values", "keyframe_hpi", "keyframe_mask", "covariates")


@torch.no_grad()
def temporal_occlusion(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Logit drop per keyframe and task when that keyframe is hidden.

    Args:
        model: returns an object with ``logits`` [B, T] from ``model(**inputs)``.
        batch: the training-batch dict: ``pixel_values`` [B, K, C, H, W], ``keyframe_mask`` [B, K] (optional),
            ``keyframe_hpi`` [B, K], ``covariates`` [B, 2].

    Returns:
        [B, K, T] float: ``logit(all keyframes) - logit(keyframe k hidden)``; positive = the keyframe
        raised the score. Keyframes already missing get 0.
    """
    inputs = {k: batch[k] for k in MODEL_INPUTS if batch.get(k) is not None}
    pixels = inputs["pixel_values"]
    b, k = pixels.shape[:2]
    mask = inputs.get("keyframe_mask")
    mask = torch.ones(b, k, dtype=torch.bool) if mask is None else mask.bool()
    was_training = model.training
    model.eval()
    base = model(**{**inputs, "keyframe_mask": mask}).logits.float()  # (B, T)
    out = torch.zeros(b, k, base.shape[1])
    for j in range(k):
        hidden = mask.clone()
        hidden[:, j] = False
        occluded = pixels.clone()
        occluded[:, j] = 0
        logits = model(**{**inputs, "pixel_values": occluded, "keyframe_mask": hidden}).logits.float()
        out[:, j] = (base - logits) * mask[:, j, None]
    model.train(was_training)
    return out
