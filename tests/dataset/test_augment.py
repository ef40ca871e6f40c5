"""Augmentations: shape-preserving, seeded, one draw per embryo, off when disabled."""

from __future__ import annotations

import torch

from aivf.dataset.augment import augment_batch
from aivf.dataset.config import AugmentConfig


def inputs(b=4, k=3, c=2, s=16):
    pixels = torch.randn(b, k, c, s, s)
    hpi = torch.linspace(10, 100, k).repeat(b, 1)
    mask = torch.ones(b, k, dtype=torch.bool)
    mask[:, -1] = False
    return pixels, hpi, mask


def test_shape_dtype_and_seeded():
    pixels, hpi, mask = inputs()
    out1, h1 = augment_batch(pixels, hpi, mask, AugmentConfig(), torch.Generator().manual_seed(0))
    out2, h2 = augment_batch(pixels, hpi, mask, AugmentConfig(), torch.Generator().manual_seed(0))
    assert out1.shape == pixels.shape and out1.dtype == pixels.dtype and torch.equal(out1, out2)
    assert torch.equal(h1, h2) and not torch.equal(h1[:, :-1], hpi[:, :-1])
    assert torch.equal(h1[:, -1], hpi[:, -1])  # a missing keyframe's hpi is not jittered
    assert not torch.allclose(out1, pixels)


def test_disabled_is_identity_and_zero_strength_is_near_identity():
    pixels, hpi, mask = inputs()
    out, h = augment_batch(pixels, hpi, mask, AugmentConfig(enabled=False), torch.Generator())
    assert out is pixels and h is hpi
    none = AugmentConfig(rotate=False, flip=False, scale=0, translate=0, brightness=0, contrast=0, hpi_jitter_h=0)
    out, h = augment_batch(pixels, hpi, mask, none, torch.Generator().manual_seed(1))
    assert torch.allclose(out, pixels, atol=1e-5) and torch.equal(h, hpi)


def test_same_warp_for_every_keyframe_of_an_embryo():
    pixels, hpi, mask = inputs(b=2, k=4, c=1)
    pixels[:, 1:] = pixels[:, :1]  # four identical keyframes
    out, _ = augment_batch(pixels, hpi, mask, AugmentConfig(), torch.Generator().manual_seed(2))
    assert torch.allclose(out[:, 0], out[:, 3], atol=1e-6)  # the embryo does not jump between frames
    assert not torch.allclose(out[0, 0], out[1, 0])


def test_rotation_keeps_a_centred_disc_centred():
    s = 33
    yy, xx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
    disc = (((yy - 16) ** 2 + (xx - 16) ** 2) < 64).float()
    pixels = disc.view(1, 1, 1, s, s).repeat(6, 1, 1, 1, 1)
    cfg = AugmentConfig(scale=0, translate=0, brightness=0, contrast=0)
    out, _ = augment_batch(pixels, torch.zeros(6, 1), torch.ones(6, 1, dtype=torch.bool), cfg,
                           torch.Generator().manual_seed(3))
    assert (out - pixels).abs().mean() < 0.02  # rotation/flip invariance of a round embryo


def test_day3_view_masks_later_keyframes_and_keeps_only_the_day3_labels():
    import math

    from aivf.dataset.loader import day3_view_
    from aivf.dataset.records import AUX_TASKS
    from aivf.sim.types import DAY3_VIEW_HPI, TASKS

    hpi = torch.linspace(12, 116, 16).repeat(3, 1)
    mask = torch.ones(3, 16, dtype=torch.bool)
    mask[2, hpi[2] > 67.0] = False  # a day-3 transfer's recording: nothing to cut
    batch = {"keyframe_hpi": hpi, "keyframe_mask": mask.clone(), "labels": torch.ones(3, len(TASKS)),
             "aux_labels": torch.ones(3, len(AUX_TASKS))}
    day3_view_(batch, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(batch["keyframe_mask"][:2], (hpi[:2] <= DAY3_VIEW_HPI))
    assert torch.equal(batch["keyframe_mask"][2], mask[2])
    for row in range(2):
        assert [not math.isnan(v) for v in batch["labels"][row].tolist()] == [t == "d3_fhb" for t in TASKS]
        assert [not math.isnan(v) for v in batch["aux_labels"][row].tolist()] == [t == "usable_d3" for t in AUX_TASKS]
    assert not batch["labels"][2].isnan().any() and not batch["aux_labels"][2].isnan().any()
    none = {"keyframe_hpi": hpi, "keyframe_mask": mask.clone(), "labels": torch.ones(3, len(TASKS))}
    day3_view_(none, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(none["keyframe_mask"], mask) and not none["labels"].isnan().any()


def test_blur_smooths_each_embryo_by_its_own_sigma_and_keeps_the_mean():
    from aivf.dataset.augment import gaussian_blur

    rng = torch.Generator().manual_seed(0)
    images = torch.randn(3, 2, 32, 32, generator=rng)
    out = gaussian_blur(images, torch.tensor([0.0, 1.0, 2.5]))
    assert torch.allclose(out[0], images[0], atol=1e-5)  # sigma 0: unchanged
    hf = [(o[..., 1:, :] - o[..., :-1, :]).std().item() for o in out]
    assert hf[0] > hf[1] > hf[2]  # more blur, less pixel-to-pixel change
    assert torch.allclose(out.mean(dim=(2, 3)), images.mean(dim=(2, 3)), atol=0.05)
    # a blurred point spreads to a Gaussian of the asked width: variance along one axis = sigma^2
    point = torch.zeros(1, 1, 33, 33)
    point[0, 0, 16, 16] = 1.0
    spread = gaussian_blur(point, torch.tensor([2.0]))[0, 0].sum(dim=0)
    x = torch.arange(33.0) - 16
    assert abs(float((spread * x**2).sum()) - 4.0) < 0.1


def test_blur_in_augment_batch_smooths_the_batch():
    from aivf.dataset.config import AugmentConfig

    pixels, hpi = torch.randn(2, 4, 1, 16, 16), torch.linspace(0, 100, 4).repeat(2, 1)
    mask = torch.ones(2, 4, dtype=torch.bool)
    plain, h_plain = augment_batch(pixels, hpi, mask, AugmentConfig(), torch.Generator().manual_seed(3))
    blurred, h_blur = augment_batch(pixels, hpi, mask, AugmentConfig(blur=1.5), torch.Generator().manual_seed(3))
    assert not torch.allclose(plain, blurred)
    assert (blurred[..., 1:, :] - blurred[..., :-1, :]).std() < (plain[..., 1:, :] - plain[..., :-1, :]).std()
