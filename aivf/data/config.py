"""Settings of the recording readers and of keyframe selection (``aivf.data``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class KeyframeConfig:
    """Which frames of a recording the model sees (see ``aivf.data.keyframes``)."""

    # grid: a fixed hpi grid (same developmental moments for every embryo); uniform: evenly over the
    # recorded span; content: where the embryo changes most, with at least one frame per time bin.
    method: Literal["grid", "uniform", "content"] = "grid"
    num_keyframes: int = 16  # K, keyframes per embryo
    cutoff_hpi: float = 116.0  # no frame after this hpi is used (day-3 model: ~66, day-5 model: ~116)
    start_hpi: float = 12.0  # first point of the hpi grid (before ~12 hpi little is visible but pronuclei)
    grid_hpi: list[float] = field(default_factory=list)  # explicit grid (K values); empty = linspace(start, cutoff, K)
    tolerance_h: float = 1.0  # grid: the nearest frame must lie within this many hours, else it is missing
    size: int = 128  # output frame side in pixels (square); 0 keeps the recording's size
    # Keep only the central crop_fraction of the frame's side, then output `size` px: the embryo fills about
    # half of a well-centred time-lapse frame, so 0.6 doubles the pixels on it at the same model cost.
    crop_fraction: float = 1.0
    # Where the crop is centred: "frame" (the frame's centre) or "embryo" (the zona, found on the first
    # keyframes and followed with the dish's movement: aivf.data.locate). Real embryos sit 13-16% of the
    # frame away from its centre, so a central 60% crop cuts off the side of an expanded blastocyst.
    crop_centre: Literal["frame", "embryo"] = "frame"
    coverage_bins: int = 0  # content: equal-time bins that each get >= 1 keyframe; 0 = ceil(K / 2)
    stats_size: int = 32  # content: side of the downsampled frames the change statistic is computed on


@dataclass
class DataConfig:
    """How recordings are read: layouts, time sources and the handling of real-data defects."""

    format: Literal["auto", "video", "gomez", "embryoscope", "stills"] = "auto"  # layout; auto = detect
    frame_interval_h: float = 0.25  # hours between frames when a recording has no time file (warned)
    first_frame_hpi: float = 0.0  # hpi of frame/run 1 when the constant-interval fallback is used
    planes: list[str] = field(default_factory=list)  # focal planes to read, e.g. ["F0"]; empty = all found
    banner_crop_px: int = 0  # video: rows cut from the top (EmbryoViewer text banner), native pixels
    timestamp_mask_px: int = 0  # video: rows at the bottom painted over (burnt-in time), native pixels
    # A truncated JPEG: "flag" loads what is there (missing part grey) and records it in meta;
    # "skip" drops the frame from the recording (its time too) at open, with a warning.
    truncated_jpeg: Literal["flag", "skip"] = "skip"
    # Drop near-constant frames at the end (embryo removed from the well). Checked at open by decoding
    # the last frame(s) at 32 px; for a video that costs up to one GOP of decoding.
    drop_blank_tail: bool = True
    blank_std: float = 4.0  # a frame whose grey-level std (at 32 px) is below this counts as blank
    # video: count packets with PyAV (~5 ms) to catch a len(vr) beyond the decodable frames, which can
    # hang decord; auto = only when the time file is absent or disagrees with decord's frame count.
    verify_frame_count: Literal["auto", "always", "never"] = "auto"
    stills_hpi: float = 110.0  # hpi assigned to multi-plane stills (STORK images were taken at ~110 hpi)
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)  # keyframe selection
