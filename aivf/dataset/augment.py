"""Augmentations that respect embryo imaging, batched in torch (CPU in the loader, or on the GPU).

What is safe for time-lapse embryo images, and why:

- rotation by *any* angle and flips: the dish has no orientation, an embryo looks the same rotated;
- small zoom / shift (a small random crop): embryos differ in size and sit off-centre in the well;
- brightness / contrast: illumination differs between incubators and clinics;
- blur (off by default): focus and optics differ, and a frame resized from a large sensor is smoother;
- small hpi jitter: insemination times are recorded to the quarter hour at best.

One draw per *embryo* is applied to all K keyframes and all planes alike: the same embryo must not
jump between frames (that would look like motion). Nothing here changes labels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aivf.dataset.config import AugmentConfig


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def affine_params(batch_size: int, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """float32 (B, 2, 3) sampling matrices for ``F.affine_grid`` (rotation, flip, zoom, shift)."""
    b = batch_size
    angle = _uniform(b, 0.0, 2 * math.pi, generator) if cfg.rotate else torch.zeros(b)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(b)
    zoom = _uniform(b, 1 - cfg.scale, 1 + cfg.scale, generator)
    # affine_grid works in [-1, 1] coordinates: a shift of fraction f of the side is 2 f.
    shift = _uniform(2 * b, -2 * cfg.translate, 2 * cfg.translate, generator).view(b, 2)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # output pixel -> input pixel: zoom in = shrink
    theta = torch.stack([
        torch.stack([cos * flip, -sin, shift[:, 0]], dim=1),
        torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
    ], dim=1)
    return theta.float()


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Blur each item of ``images`` (B, N, H, W) with its own Gaussian ``sigma`` (B,) pixels, separably.

    sigma 0 leaves an item unchanged; the border is replicated (culture medium), as in the warp above.
    """
    b, n, h, w = images.shape
    radius = max(1, math.ceil(3 * float(sigma.max())))
    x = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    s = sigma.to(images.dtype).clamp(min=1e-3)[:, None]
    kernel = torch.exp(-0.5 * (x[None] / s) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)  # (B, 2r+1); sigma ~0 gives a delta
    kernel = kernel.repeat_interleave(n, dim=0)  # one per (item, channel): a grouped convolution
    flat = F.pad(images.reshape(1, b * n, h, w), (radius, radius, radius, radius), mode="replicate")
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=b * n)
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=b * n)
    return flat.view(b, n, h, w)


def augment_batch(
    pixel_values: torch.Tensor,
    keyframe_hpi: torch.Tensor,
    keyframe_mask: torch.Tensor,
    cfg: AugmentConfig,
    generator: torch.Generator,
    pixel_std: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Augment one training batch (returns new tensors; inputs are not modified).

    Args:
        pixel_values: float (B, K, C, H, W), normalised as ``(x / 255 - mean) / std``; any device.
        keyframe_hpi: float (B, K).
        keyframe_mask: bool (B, K); missing keyframes get no hpi jitter.
        cfg: which augmentations and how strong.
        generator: CPU generator; parameters are drawn on the CPU, so a seed gives the same
            augmentation on every device.
        pixel_std: the normalisation std, to express ``cfg.brightness`` in [0, 1] intensity units.

    Returns:
        (pixel_values (B, K, C, H, W), keyframe_hpi (B, K)), same dtypes and device.
    """
    if not cfg.enabled:
        return pixel_values, keyframe_hpi
    b, k, c, h, w = pixel_values.shape
    device, dtype = pixel_values.device, pixel_values.dtype
    theta = affine_params(b, cfg, generator).to(device=device, dtype=dtype)
    flat = pixel_values.reshape(b, k * c, h, w)  # the same warp for every keyframe and plane of an embryo
    grid = F.affine_grid(theta, [b, k * c, h, w], align_corners=False)
    # "border" repeats the edge (culture medium) instead of padding the corners with black.
    out = F.grid_sample(flat, grid, mode="bilinear", padding_mode="border", align_corners=False)
    contrast = _uniform(b, 1 - cfg.contrast, 1 + cfg.contrast, generator).to(device, dtype).view(b, 1, 1, 1)
    brightness = _uniform(b, -cfg.brightness, cfg.brightness, generator).to(device, dtype).view(b, 1, 1, 1)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + brightness / pixel_std
    if cfg.blur > 0:  # drawn only when on, so that configs without it keep their random stream
        sigma = _uniform(b, 0.0, cfg.blur, generator)
        out = gaussian_blur(out, sigma.to(device))
    hpi = keyframe_hpi
    if cfg.hpi_jitter_h > 0:
        noise = torch.randn(keyframe_hpi.shape, generator=generator) * cfg.hpi_jitter_h
        hpi = keyframe_hpi + noise.to(keyframe_hpi.device, keyframe_hpi.dtype) * keyframe_mask.to(keyframe_hpi.dtype)
    return out.view(b, k, c, h, w), hpi
