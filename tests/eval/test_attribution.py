"""Temporal occlusion finds the keyframe a toy model reads."""

from __future__ import annotations

import torch

from aivf.eval.attribution import temporal_occlusion


class Out:
    def __init__(self, logits):
        self.logits = logits


class ReadsFrame2(torch.nn.Module):
    """Task 0 = mean brightness of keyframe 2; task 1 = minus that of keyframe 0 (masked frames read 0)."""

    def forward(self, pixel_values, keyframe_mask=None, **_):
        x = pixel_values * keyframe_mask[:, :, None, None, None]
        return Out(torch.stack([x[:, 2].mean((1, 2, 3)), -x[:, 0].mean((1, 2, 3))], dim=1))


def test_occlusion_points_at_the_frame_read():
    batch = {"pixel_values": torch.ones(2, 4, 1, 8, 8), "keyframe_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 0, 1]]).bool(),
             "keyframe_hpi": torch.zeros(2, 4), "covariates": torch.zeros(2, 2)}
    attr = temporal_occlusion(ReadsFrame2(), batch)
    assert attr.shape == (2, 4, 2)
    assert torch.allclose(attr[0, :, 0], torch.tensor([0.0, 0, 1, 0]))
    assert torch.allclose(attr[0, :, 1], torch.tensor([-1.0, 0, 0, 0]))
    assert torch.all(attr[1, 2] == 0)  # already-missing keyframe: no attribution
