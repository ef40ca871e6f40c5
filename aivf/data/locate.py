"""Where the embryo is in a frame, so the model's crop can follow it instead of the frame centre.

A time-lapse well image shows the micro-well (a bright rim about 0.4 of the frame from its centre) with the
embryo somewhere inside it: in the public EmbryoScope sample the zona's centre sits 13-16% of the frame
side away from the frame centre, and the dish drifts over five days. A fixed central crop of 60% (half-width
0.30) then cuts off the side of an expanded blastocyst (zona radius ~0.25), and the model sees a different
part of the embryo in every clinic. Locating the zona and cropping around it removes both problems.

The locator is a circular Hough-like search on the edge map: for every candidate radius, the mean edge
strength on a circle minus that on a circle 0.025 of the frame further out (the zona's outer edge is sharp,
the medium outside it smooth). Each radius is one FFT product, for a batch of frames at once.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import fft
from scipy.ndimage import gaussian_filter, sobel

ZONA_RADII = np.arange(0.15, 0.285, 0.005)  # candidate zona radii, fractions of the frame side
RESTING_ZONA_MAX = 0.245  # before blastulation the zona keeps its size: 0.19-0.22 of a well image
RING_GAP = 0.025  # the "outside" circle lies this far (frame sides) beyond the candidate one
CAP_PERCENTILE = 90.0  # edge strengths above this percentile of the frame count as this percentile
SEARCH = (0.25, 0.75)  # the zona's centre is searched within this central band of the frame (fractions)


def edge_strength(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude after a light blur (so sensor noise counts little): high on cell borders.
    (..., H, W) float -> (..., H, W) float32; the last two axes are the image."""
    n = image.shape[-1]
    sigma = [0.0] * (image.ndim - 2) + [0.005 * n] * 2
    image = gaussian_filter(image.astype(np.float32), sigma)
    return np.hypot(sobel(image, -2), sobel(image, -1))


def _ring(m: int, radius_px: float, width_px: float = 1.2) -> np.ndarray:
    """A normalised thin ring kernel on an (m, m) grid, centred on pixel (0, 0) (wrapped), for FFT products."""
    yy, xx = np.mgrid[0:m, 0:m]
    yy, xx = np.minimum(yy, m - yy), np.minimum(xx, m - xx)
    ring = np.exp(-0.5 * ((np.hypot(xx, yy) - radius_px) / width_px) ** 2)
    return ring / ring.sum()


class EmbryoLocator:
    """Finds the zona (centre and radius) in frames resized to ``size`` px.

    Args:
        size: side the frames are resized to before the search.
        radius_step: spacing of the candidate radii (fractions of the frame side); 0.01 is about one pixel
            at 96 px, which is all a crop needs; the realism statistics use 0.005 at 128 px.
    """

    def __init__(self, size: int = 96, radius_step: float = 0.01):
        self.size = int(size)
        self.radii = np.arange(ZONA_RADII[0], ZONA_RADII[-1] + 1e-9, radius_step)
        # zero padding by the largest ring's reach: no wrap-around from the opposite edge into the search band
        reach = int(np.ceil((self.radii[-1] + RING_GAP) * self.size)) + 4
        self.fft_side = m = fft.next_fast_len(self.size + reach)
        self.kernels = np.stack([fft.rfft2(_ring(m, r * self.size) - _ring(m, (r + RING_GAP) * self.size))
                                 for r in self.radii])

    def resize(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W) uint8 or float -> (N, size, size) float32, bilinear."""
        from PIL import Image

        frames = np.asarray(frames)
        if frames.shape[-2:] == (self.size, self.size):
            return frames.astype(np.float32)
        out = [np.asarray(Image.fromarray(np.clip(f, 0, 255).astype(np.uint8)).resize(
            (self.size, self.size), Image.BILINEAR), dtype=np.float32) for f in frames]
        return np.stack(out)

    def locate(self, frames: np.ndarray, max_radius: float = 1.0) -> np.ndarray:
        """float64 (N, 3): (x, y, radius) of each frame's zona as fractions of the frame side.

        Args:
            frames: (N, H, W) grey frames (square; any size, resized to ``self.size``).
            max_radius: only radii up to this are candidates (a zygote's zona has not expanded yet).
        """
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[-1] != frames.shape[-2]:
            raise ValueError(f"locate expects square grey frames (N, H, W), got shape {frames.shape}")
        n, m = self.size, self.fft_side
        edges = edge_strength(self.resize(frames))
        # Count edge pixels, not their strength: the well's bright rim is a few very strong edges that a
        # circle tangent to it would collect; the zona is a moderate edge all the way round.
        cap = np.percentile(edges.reshape(len(edges), -1), CAP_PERCENTILE, axis=1)[:, None, None]
        spectra = fft.rfft2(np.minimum(edges, cap), s=(m, m))  # (N, m, m//2+1)
        lo, hi = int(SEARCH[0] * n), int(SEARCH[1] * n)
        best = np.full(len(frames), -np.inf)
        out = np.zeros((len(frames), 3))
        for radius, kernel in zip(self.radii, self.kernels):
            if radius > max_radius:
                break
            score = fft.irfft2(spectra * kernel, s=(m, m))[:, lo:hi, lo:hi]
            flat = score.reshape(len(frames), -1)
            arg = flat.argmax(axis=1)
            value = flat[np.arange(len(frames)), arg]
            better = value > best
            iy, ix = np.unravel_index(arg, score.shape[1:])
            out[better] = np.column_stack([(ix + lo) / n, (iy + lo) / n, np.full(len(frames), radius)])[better]
            best = np.maximum(best, value)
        return out


@functools.lru_cache(maxsize=1)
def shared_locator() -> EmbryoLocator:
    """The keyframe crop's locator (96 px), built once per process (its ring spectra take ~20 ms)."""
    return EmbryoLocator(96)


def dish_shift(reference: np.ndarray, frames: np.ndarray, ignore_reference: np.ndarray | None = None,
               ignore_frames: np.ndarray | None = None) -> np.ndarray:
    """float64 (N, 2): the (dx, dy) in frame sides that moves ``reference``'s content onto each frame.

    Phase correlation of edge maps: the well's rim and rings dominate them, so this follows the dish
    (drift, or a jump when the dish was taken out and put back), not the embryo's own growth.
    reference: (H, W); frames: (N, H, W), same square size; ignore_reference (H, W) / ignore_frames
    (N, H, W): bool, pixels left out of the edge maps (the embryo, whose growth would pull the match).
    """
    n = reference.shape[-1]
    window = np.outer(np.hanning(n), np.hanning(n))
    ref_window = window if ignore_reference is None else window * ~ignore_reference
    frame_window = window if ignore_frames is None else window * ~ignore_frames
    reference_spectrum = np.conj(np.fft.fft2(edge_strength(reference.astype(np.float32)) * ref_window))
    return _phase_shift(reference_spectrum, edge_strength(np.asarray(frames, dtype=np.float32)) * frame_window)


def _phase_shift(reference_spectrum: np.ndarray, frame_edges: np.ndarray) -> np.ndarray:
    """Phase correlation peak of windowed edge maps (N, H, W) against a reference's conjugate spectrum (H, W),
    as (N, 2) (dx, dy) frame sides."""
    n = frame_edges.shape[-1]
    cross = np.fft.fft2(frame_edges) * reference_spectrum
    corr = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    flat = corr.reshape(len(corr), -1).argmax(axis=1)
    iy, ix = np.unravel_index(flat, corr.shape[1:])
    dy, dx = (iy + n // 2) % n - n // 2, (ix + n // 2) % n - n // 2
    return np.column_stack([dx, dy]).astype(float) / n


def _disk(n: int, centre: np.ndarray, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n] / n
    return np.hypot(xx - centre[0], yy - centre[1]) < radius


def track_embryo(frames: np.ndarray, locator: EmbryoLocator, anchor_frames: int = 3) -> np.ndarray:
    """float64 (N, 2): the zona's centre (x, y fractions) in each of a recording's frames, in time order.

    The zona is found where it is unambiguous, on the first ``anchor_frames`` frames (zygote to early
    cleavage: one round cell in a smooth well); later, cells, fragments and a hatching blastocyst offer
    other circles, so the centre is carried forward by the dish's own movement (``dish_shift`` against
    the first frame, so errors do not accumulate), with the embryo left out of the match: around the
    anchor in the first frame, and around the previous frame's estimate in each later one.
    """
    frames = locator.resize(frames)
    n = locator.size
    first = min(anchor_frames, len(frames))
    found = locator.locate(frames[:first], max_radius=RESTING_ZONA_MAX)
    radius = float(np.median(found[:, 2]))
    reach = 1.25 * radius + 0.03  # room for the blastocyst's expansion
    anchor = np.median(found[:, :2], axis=0)  # the dish moves little over the first frames
    window = np.outer(np.hanning(n), np.hanning(n))
    edges = edge_strength(frames)
    reference = np.conj(np.fft.fft2(edges[0] * window * ~_disk(n, anchor, reach)))  # once, not per frame
    centres = np.zeros((len(frames), 2))
    previous = anchor
    for k in range(len(frames)):
        shift = _phase_shift(reference, (edges[k] * window * ~_disk(n, previous, reach))[None])[0]
        centres[k] = previous = anchor + shift
    return centres


def window_corner(x: float, y: float, h: int, w: int, side: int) -> tuple[int, int]:
    """(top, left) of the ``side`` window ``crop_around`` cuts around centre (x, y fractions) of an h x w frame."""
    return int(np.clip(round(y * h - side / 2), 0, h - side)), int(np.clip(round(x * w - side / 2), 0, w - side))


def crop_around(frames: np.ndarray, centres: np.ndarray, side: int) -> np.ndarray:
    """(N, ..., H, W) frames -> (N, ..., side, side), each cut around its own centre (x, y fractions);
    the window is moved inside the frame where the centre lies too close to an edge (never padded)."""
    h, w = frames.shape[-2:]
    side = min(side, h, w)
    out = np.empty((*frames.shape[:-2], side, side), dtype=frames.dtype)
    for i, (x, y) in enumerate(np.asarray(centres)[:, :2]):
        top, left = window_corner(x, y, h, w, side)
        out[i] = frames[i, ..., top:top + side, left:left + side]
    return out
