"""Fixture writers for the reader tests: tiny MP4s (PyAV) and JPEG folders (PIL) in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def shared_data(name: str) -> Path:
    """A real sample folder under ../shared/data, skipping the test where ../shared is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared beside the checkout is absent (real samples not available)")
    return SHARED / "data" / name


def synthetic_frames(num: int, size: int = 64, blank_tail: int = 0) -> np.ndarray:
    """uint8 (T, H, W): a disc whose brightness encodes the frame index (10 + 4 t), then blank frames."""
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    frames = np.full((num + blank_tail, size, size), 128, dtype=np.uint8)
    for t in range(num):
        frames[t][disc] = 10 + 4 * t
        frames[t][: size // 8] = 30  # a dark band, so no frame is near-constant
    return frames


def write_mp4(path: Path, frames: np.ndarray, times: np.ndarray | None = None, fps: int = 10) -> Path:
    """Encode uint8 (T, H, W) as gray H.264 (near-lossless, keyframe every 8 frames) + optional time CSV."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "gray"
        stream.options = {"qp": "0", "g": "8"}
        # Tag full range: decord expands untagged gray video as if it were limited (16-235) range.
        stream.codec_context.color_range = 2
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format="gray")
            video_frame.color_range = 2
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    if times is not None:
        rows = "\n".join(f"{i},{t}" for i, t in enumerate(times))
        path.with_suffix(".csv").write_text(f"frame_index,time_hpi\n{rows}\n")
    return path


def write_jpeg(path: Path, frame: np.ndarray, truncate: bool = False) -> Path:
    """Write a gray JPEG; ``truncate`` cuts the file in half like the defective real files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path, quality=95)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def mp4(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 24-frame 64x64 MP4 with times 0.5 + 0.25 t hpi; returns (path, frames (T, H, W), times)."""
    frames = synthetic_frames(24)
    times = 0.5 + 0.25 * np.arange(24)
    return write_mp4(tmp_path / "E1-1.mp4", frames, times), frames, times


PREFIX = "D2013.01.28_S0717_I132_WELL7"


def write_runs(folder: Path, runs: list[int], size: int = 48, plane: str | None = None,
               truncated: tuple[int, ...] = (), blank: tuple[int, ...] = ()) -> None:
    """``<PREFIX>_RUN<k>[_<plane>].jpeg`` for each run; brightness 10 + 2k; some truncated or blank."""
    frames = synthetic_frames(max(runs) + 1, size)
    suffix = f"_{plane}" if plane else ""
    for run in runs:
        frame = np.full((size, size), 120, np.uint8) if run in blank else frames[run]
        write_jpeg(folder / f"{PREFIX}_RUN{run}{suffix}.jpeg", frame, truncate=run in truncated)
