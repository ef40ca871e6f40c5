"""The per-stage texture statistics inside the embryo: known answers on synthetic images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from aivf.sim import realism as R


def blobs(sigma: float, seed: int = 0, side: int = 64) -> np.ndarray:
    """White noise blurred by ``sigma`` px, scaled to std 10 around grey 100: blobs of a known size."""
    field = gaussian_filter(np.random.default_rng(seed).standard_normal((side, side)), sigma, mode="wrap")
    return 100 + 10 * field / field.std()


def test_inside_mask_is_the_disk():
    mask = R.inside_mask(64, (32.0, 32.0), 20.0)
    assert mask.sum() == pytest.approx(np.pi * 20 ** 2, rel=0.02)
    assert mask[32, 32] and not mask[0, 0]


def test_larger_blobs_give_a_wider_autocorrelation():
    mask = R.inside_mask(64, (32.0, 32.0), 24.0)
    widths = [np.mean([R.acf_width(blobs(s, seed), mask) for seed in range(4)]) for s in (1.0, 2.0, 3.0)]
    assert widths[0] < widths[1] < widths[2], widths
    # a Gaussian blob field of sigma s has a Gaussian autocorrelation of sigma s * sqrt(2): half-width 1.67 s
    # (the 1-px blur widens it, the 8-px high-pass narrows it: a loose tolerance)
    assert widths[1] == pytest.approx(1.665 * np.hypot(2.0, 1.0), rel=0.3)


def test_contrast_and_gradient_scale_with_the_image_and_blob_size_does_not():
    mask = R.inside_mask(64, (32.0, 32.0), 24.0)
    image = blobs(2.0)
    flat = 100 + 0.5 * (image - 100)  # the same texture at half the contrast
    a, b = R.texture_statistics(image, mask), R.texture_statistics(flat, mask)
    assert b["contrast"] == pytest.approx(0.5 * a["contrast"], rel=1e-4)
    assert b["gradient"] == pytest.approx(0.5 * a["gradient"], rel=1e-4)
    assert b["acf_width"] == pytest.approx(a["acf_width"], rel=1e-4)
    assert a["inside_grey"] == pytest.approx(image[mask].mean())
    flat_stats = R.texture_statistics(np.full((64, 64), 80.0), mask)
    assert flat_stats["contrast"] == pytest.approx(0.0, abs=1e-6) and flat_stats["acf_width"] == 0.0


def test_only_pixels_inside_the_mask_count():
    mask = R.inside_mask(64, (32.0, 32.0), 8.0)
    outside = ~R.inside_mask(64, (32.0, 32.0), 24.0)
    image = np.full((64, 64), 60.0)
    image[outside] = blobs(1.0)[outside]
    stats = R.texture_statistics(image, mask)  # texture only beyond the 4-px band's reach from the mask
    assert stats["inside_grey"] == pytest.approx(60.0) and stats["contrast"] < 0.05


def test_stage_windows_are_ordered_and_use_known_stages():
    for video, windows in R.REAL_STAGE_WINDOWS.items():
        spans = [windows[s] for s in R.STAGES if s in windows]
        assert all(first <= last for first, last in spans), video
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), video  # stages in developmental order
        assert set(windows) <= set(R.STAGES)
    assert set(R.SIM_STAGE_PHASES) == set(R.STAGES)


REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gomez_sample"
