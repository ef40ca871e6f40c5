"""The time-lapse record and the lazy ``Recording`` every reader returns (contract: docs/architecture.md).

A ``Recording`` knows its frame times without decoding pixels and decodes only the frames asked
for, optionally resized on decode. ``TimelapseRecord`` is the eager form (all frames in memory).
Real-data defects are repaired where possible and always *reported*: ``meta["warnings"]`` holds
readable messages and ``meta["defects"]`` one ``{"kind", "detail"}`` dict per defect found.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile

from aivf.data.config import KeyframeConfig
from aivf.data.keyframes import Keyframes, frame_change, nearest_frames, select_keyframes

Size = int | tuple[int, int] | None  # a square side, or (height, width); None = as recorded
DRAFT_SLACK = 0.9  # JPEG draft decoding may stop at this fraction of the requested size (see load_gray)


def center_crop(frames: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` pixels of (..., H, W) frames."""
    h, w = frames.shape[-2:]
    top, left = max((h - side) // 2, 0), max((w - side) // 2, 0)
    return frames[..., top:top + side, left:left + side]


def crop_frames(frames: np.ndarray, side: int, centre: str = "frame") -> np.ndarray:
    """(N, P, H, W) frames of one recording in time order -> (N, P, side, side), cut around the frame centre
    or around the embryo (``aivf.data.locate.track_embryo`` on the first plane)."""
    if centre == "frame" or len(frames) == 0:
        return center_crop(frames, side)
    if centre != "embryo":
        raise ValueError(f"data.keyframes.crop_centre={centre!r}: expected 'frame' or 'embryo'")
    from aivf.data.locate import crop_around, shared_locator, track_embryo

    return crop_around(frames, track_embryo(frames[:, 0], shared_locator()), side)


class RecordingError(RuntimeError):
    """A recording that cannot be read at all (corrupt video, empty folder); the message names the path."""


class FrameTimeError(LookupError):
    """No frame lies within the tolerance of a requested hpi."""


class RecordingWarning(UserWarning):
    """A real-data defect that was repaired or worked around (also recorded in ``meta``)."""


@dataclass
class TimelapseRecord:
    """One embryo's recording, fully decoded.

    Attributes:
        frames: uint8 (T, P, H, W), P focal planes.
        times_hpi: float64 (T,), hours post insemination of each frame, ascending.
        embryo_id: the embryo's id (e.g. ``AA83-7``, ``C1P0007-3``).
        plane_names: P names, e.g. ``["F0"]`` or ``["F-45", ..., "F45"]``.
        source: reader that produced it: video, gomez, embryoscope or stills.
        meta: path, warnings, defects and source-specific fields (grade, labels ...).
        phases: int64 (T,) phase label per frame (index into the 16 Gomez phases, -1 unlabelled), or None.
    """

    frames: np.ndarray
    times_hpi: np.ndarray
    embryo_id: str
    plane_names: list[str]
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    phases: np.ndarray | None = None


def normalise_size(size: Size) -> tuple[int, int] | None:
    """``size`` as (height, width), or None to keep the recorded size."""
    if size is None or size == 0:
        return None
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


def plane_name(token: str | int) -> str:
    """Canonical focal-plane name: ``0`` / ``F0`` / ``+15`` -> ``F0`` / ``F15``."""
    text = str(token).upper().removeprefix("FP").removeprefix("FOCAL").removeprefix("F").removeprefix("_")
    return f"F{int(text)}"


def plane_depth(name: str) -> int:
    """Focal depth of a plane name in µm (``F-45`` -> -45)."""
    return int(name[1:])


def plane_order(name: str) -> tuple[int, int]:
    """Sort key of the default plane order: F0, F-15, F15, F-30, F30 ... (the simulator's order).

    The reference plane comes first, then planes by distance from it, so that "the first P planes"
    of any recording (``dataset.num_planes``) are the central one and its nearest neighbours.
    """
    depth = plane_depth(name)
    return (abs(depth), depth)


def jpeg_is_truncated(path: Path) -> bool:
    """True when a JPEG lacks its end-of-image marker (FFD9) near the end: a cut-off file.

    Reads only the last kilobyte, so a whole folder can be checked at open without decoding.
    """
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        length = handle.tell()
        handle.seek(max(0, length - 1024))
        tail = handle.read()
    return b"\xff\xd9" not in tail


def load_gray(path: Path, size: tuple[int, int] | None = None, allow_truncated: bool = False) -> np.ndarray:
    """Decode one image as grey levels, resizing on decode.

    JPEG ``draft`` makes libjpeg decode at 1/2, 1/4 or 1/8 scale (DCT scaling) when that is still
    at least ``size``, which is where most of the speed-up of a small ``size`` comes from.

    Args:
        path: image file; a colour file with 3 identical channels gives its first channel.
        size: (height, width) or None.
        allow_truncated: decode a truncated JPEG anyway (the missing part is grey).

    Returns:
        uint8 (H, W).
    """
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    if allow_truncated:  # PIL only has a global switch; touch it only for the (rare) flagged frames
        ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(path) as image:
            if size is not None:
                # Let the DCT scale go to 0.9x the target (500 px -> 125 px for 128, then a 2% upscale):
                # decoding at 1/4 instead of 1/2 scale is ~2x faster and loses no visible detail.
                image.draft("L", (int(size[1] * DRAFT_SLACK), int(size[0] * DRAFT_SLACK)))
            if image.mode not in ("L", "I;16", "I", "F"):
                image = image.getchannel(0)
            elif image.mode != "L":
                image = image.convert("L")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except OSError as err:
        raise RecordingError(f"{path}: cannot decode image: {err}") from None
    finally:
        if allow_truncated:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


class Recording:
    """A lazily decoded time-lapse recording of one embryo (subclasses implement ``_decode``).

    Attributes:
        embryo_id: the embryo's id.
        times_hpi: float64 (T,), ascending, known without decoding pixels.
        plane_names: names of the P focal planes.
        source: the reader: video, gomez, embryoscope or stills.
        path: the file or folder it was opened from.
        meta: path, warnings, defects and source-specific fields.
        phases: int64 (T,) per-frame phase labels or None.
    """

    source = "?"

    def __init__(self, embryo_id: str, times_hpi: np.ndarray, plane_names: list[str], path: Path) -> None:
        self.embryo_id = embryo_id
        self.times_hpi = np.asarray(times_hpi, dtype=np.float64)
        self.plane_names = list(plane_names)
        self.path = Path(path)
        self.meta: dict[str, Any] = {"path": str(path), "source": self.source, "warnings": [], "defects": []}
        self.phases: np.ndarray | None = None

    @property
    def num_planes(self) -> int:
        """P, the number of focal planes."""
        return len(self.plane_names)

    def __len__(self) -> int:
        return len(self.times_hpi)

    def __repr__(self) -> str:
        span = f"{self.times_hpi[0]:.1f}-{self.times_hpi[-1]:.1f} hpi" if len(self) else "empty"
        return f"{type(self).__name__}({self.embryo_id!r}, T={len(self)}, P={self.num_planes}, {span})"

    def report(self, kind: str, detail: str) -> None:
        """Record a repaired defect in ``meta`` and emit a ``RecordingWarning`` naming the recording."""
        self.meta["defects"].append({"kind": kind, "detail": detail})
        self.meta["warnings"].append(f"{self.path}: {detail}")
        warnings.warn(f"{self.path}: {detail}", RecordingWarning, stacklevel=3)

    def _decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        """Decode frames ``indices`` (valid, int64 (N,)) as uint8 (N, P, H, W)."""
        raise NotImplementedError

    def read(self, indices: Any, size: Size = None) -> np.ndarray:
        """Decode only the given frames.

        Args:
            indices: int sequence (N,) into ``times_hpi`` (any order, repeats allowed).
            size: output side or (height, width); resizing happens during decode.

        Returns:
            uint8 (N, P, H, W).
        """
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        bad = indices[(indices < 0) | (indices >= len(self))]
        if bad.size:
            raise IndexError(f"{self.path}: frame indices {bad[:5].tolist()} outside 0..{len(self) - 1}")
        if indices.size == 0:
            height, width = normalise_size(size) or (0, 0)
            return np.zeros((0, self.num_planes, height, width), dtype=np.uint8)
        return self._decode(indices, normalise_size(size))

    def index_at_hpi(self, hpi: Any, tolerance_h: float) -> np.ndarray:
        """int64 (N,), the frame nearest to each hpi; raises ``FrameTimeError`` if one is farther than tolerance."""
        targets = np.atleast_1d(np.asarray(hpi, dtype=np.float64))
        indices = nearest_frames(self.times_hpi, targets, tolerance_h)
        if np.any(indices < 0):
            missing = targets[indices < 0][:5].tolist()
            raise FrameTimeError(
                f"{self.path}: no frame within {tolerance_h} h of hpi {missing} "
                f"(recording spans {self.times_hpi[:1].tolist()}..{self.times_hpi[-1:].tolist()} hpi, "
                f"{len(self)} frames); widen the tolerance or use keyframes with a mask"
            )
        return indices

    def read_at_hpi(self, hpi: Any, tolerance_h: float, size: Size = None) -> np.ndarray:
        """uint8 (N, P, H, W), the frames nearest to each hpi (see ``index_at_hpi``)."""
        return self.read(self.index_at_hpi(hpi, tolerance_h), size)

    def change_stats(self, size: int = 32, chunk: int = 128) -> np.ndarray:
        """float64 (T,), :func:`frame_change` over all frames decoded at ``size`` (cheap, chunked)."""
        parts = [self.read(np.arange(s, min(s + chunk, len(self))), size) for s in range(0, len(self), chunk)]
        return frame_change(np.concatenate(parts)) if parts else np.zeros(0)

    def keyframes(self, cfg: KeyframeConfig) -> Keyframes:
        """Select keyframes by ``cfg`` (content-based selection decodes all frames at ``cfg.stats_size``)."""
        stats = self.change_stats(cfg.stats_size) if cfg.method == "content" else None
        return select_keyframes(self.times_hpi, cfg, stats)

    def read_keyframes(self, cfg: KeyframeConfig) -> tuple[np.ndarray, Keyframes]:
        """uint8 (K, P, S, S) keyframes at ``cfg.size`` (zeros where missing) and the selection."""
        keys = self.keyframes(cfg)
        if not 0 < cfg.crop_fraction <= 1:
            raise ValueError(f"data.keyframes.crop_fraction={cfg.crop_fraction}: expected a fraction in (0, 1]")
        size = cfg.size or None
        if size and cfg.crop_fraction < 1:  # read larger, keep the centre: the readers' resize path does the work
            size = int(round(cfg.size / cfg.crop_fraction))
        valid = self.read(keys.valid_indices, size)
        if len(valid) == 0 and len(self):  # nothing within tolerance: learn the frame size from frame 0
            valid = self.read([0], size)[:0]
        if cfg.crop_fraction < 1:
            valid = crop_frames(valid, cfg.size or int(round(valid.shape[-1] * cfg.crop_fraction)), cfg.crop_centre)
        out = np.zeros((len(keys.indices), *valid.shape[1:]), dtype=np.uint8)
        out[keys.mask] = valid
        return out, keys

    def load(self, size: Size = None) -> TimelapseRecord:
        """Decode every frame into a ``TimelapseRecord``."""
        return TimelapseRecord(
            frames=self.read(np.arange(len(self)), size), times_hpi=self.times_hpi.copy(),
            embryo_id=self.embryo_id, plane_names=list(self.plane_names), source=self.source,
            meta=dict(self.meta), phases=None if self.phases is None else self.phases.copy(),
        )

    def _keep(self, keep: np.ndarray) -> None:
        """Restrict the recording to frames ``keep`` (bool (T,)); subclasses subset their own tables too."""
        self.times_hpi = self.times_hpi[keep]
        if self.phases is not None:
            self.phases = self.phases[keep]

    def drop_blank_tail(self, blank_std: float, chunk: int = 8) -> int:
        """Drop near-constant frames at the end (the embryo was removed); returns how many were dropped.

        Decodes from the end backwards at 32 px until a non-blank frame; a recording that is blank
        throughout is kept whole and reported, since dropping everything would lose the embryo.
        """
        if len(self) == 0:
            return 0
        end, step = len(self), 1  # the last frame alone first: most recordings end on an embryo
        while end > 0:
            start, step = max(0, end - step), chunk
            small = self.read(np.arange(start, end), 32).astype(np.float32)
            std = small.reshape(len(small), -1).std(axis=1)
            non_blank = np.flatnonzero(std >= blank_std)
            if non_blank.size:
                end = start + int(non_blank[-1]) + 1
                break
            end = start
        dropped = len(self) - end
        if end == 0:
            self.report("blank_recording", f"every frame is near-constant (std < {blank_std}); kept as is")
            return 0
        if dropped:
            keep = np.arange(len(self)) < end
            self.report("blank_tail", f"dropped {dropped} blank frame(s) at the end (from hpi {self.times_hpi[end]:.2f})")
            self._keep(keep)
        return dropped

    def close(self) -> None:
        """Release open decoders (a no-op for image folders)."""

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageFilesRecording(Recording):
    """A recording stored as one image file per (frame, plane): Gomez, EmbryoScope exports, stills."""

    def __init__(self, embryo_id: str, times_hpi: np.ndarray, plane_names: list[str], path: Path,
                 files: list[list[Path]], truncated: np.ndarray | None = None) -> None:
        super().__init__(embryo_id, times_hpi, plane_names, path)
        self.files = files  # (T, P) paths
        self.truncated = np.zeros(len(files), bool) if truncated is None else truncated  # (T,) flagged frames

    def _keep(self, keep: np.ndarray) -> None:
        super()._keep(keep)
        self.files = [row for row, k in zip(self.files, keep) if k]
        self.truncated = self.truncated[keep]

    def _decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        planes = [
            [load_gray(path, size, allow_truncated=bool(self.truncated[i])) for path in self.files[i]]
            for i in indices.tolist()
        ]
        try:
            return np.stack([np.stack(p) for p in planes])
        except ValueError:
            shapes = sorted({p.shape for frame in planes for p in frame})
            raise RecordingError(
                f"{self.path}: images of different sizes {shapes}; pass size= to resize on decode"
            ) from None
