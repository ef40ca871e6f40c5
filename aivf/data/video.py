"""Video recordings (MP4, AVI, anything ffmpeg reads) decoded with decord.

Frame times come from a side CSV ``frame_index,time_hpi`` (``<stem>.csv`` beside the video by
default; 0-based index) or, failing that, a constant interval from the config (with a warning).
EmbryoViewer exports burn a text banner at the top and the time at the bottom of every frame:
``banner_crop_px`` removes the first, ``timestamp_mask_px`` paints over the second.

Guards around decord's known problems: a corrupt file raises ``RecordingError`` naming it; a
``len(vr)`` larger than the decodable frames (decord's ``get_batch`` can hang on those) is checked
against the demuxed packet count and clamped; time rows and frames that disagree are truncated.
Frame times that are not ascending in frame order are reported (``unsorted_times``, naming the CSV)
and the frames sorted by time; times that decrease throughout raise ``RecordingError`` (a reversed
or foreign time file: sorting would silently play the video backwards). A cell that is not a number
raises ``RecordingError`` naming the CSV, line and value.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from aivf.data.config import DataConfig
from aivf.data.record import Recording, RecordingError, plane_name, plane_order
from aivf.data.table import TableError, read_cells

BLANK_CHECK_SIZE = 32  # the size Recording.drop_blank_tail decodes at (a width decord can copy)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


MAX_FRAME_INDEX = 2**31 - 1  # a frame / run number beyond this is a typo, not a frame


def _numbers(values: list) -> np.ndarray:
    """float64 (N,): each cell as a number; NaN where empty or not a number (bools, "nan", "12 h" ...)."""
    cells = []
    for value in values:
        if isinstance(value, str):
            value = value.strip()
            value = None if not value or value.lower() in ("nan", "+nan", "-nan") else value  # "nan" is no time
        elif isinstance(value, bool):
            value = None  # JSON true/false: not a number, whatever Python thinks
        cells.append(value)
    return pd.to_numeric(pd.Series(cells, dtype=object), errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _blank(values: list) -> np.ndarray:
    """bool (N,): the cell is empty (None, NaN, or only spaces)."""
    return np.array([v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and np.isnan(v))
                     for v in values], dtype=bool)


def frame_time_series(path: Path, index_values: list, time_values: list, where: list[str],
                      index_name: str, time_name: str) -> pd.Series:
    """Checked ``frame/run number -> hpi`` from raw cells, sorted by number (shared by every time table).

    The input-check policy (docs/architecture.md): a row with both cells empty is skipped; an empty time
    means "no time" (the row is dropped, and the reader reports the frame as untimed); anything else must
    be a whole frame number and a finite time, else a ``RecordingError`` names the file, the row
    (``where[i]``: "line 5", "ImageRuns[3]"), the column and the value. A number repeated with the same
    time is read once; repeated with different times it is an error (no copy can be taken as right).
    """
    index, times = _numbers(index_values), _numbers(time_values)
    no_index, no_time = _blank(index_values), _blank(time_values)
    row = ~(no_index & no_time)  # fully blank rows are skipped
    whole = np.isfinite(index) & (index == np.round(index)) & (np.abs(np.nan_to_num(index)) <= MAX_FRAME_INDEX)
    bad_index = row & ~whole
    bad_time = row & whole & ~no_time & ~np.isfinite(times)
    if bad_index.any() or bad_time.any():
        i = int(np.flatnonzero(bad_index | bad_time)[0])
        if bad_index[i]:
            raise RecordingError(f"{path}: {where[i]}: {index_name}={index_values[i]!r} is not a whole frame number")
        raise RecordingError(f"{path}: {where[i]}: {time_name}={time_values[i]!r} is not a time in hours")
    keep = row & ~no_time
    kept = [w for w, k in zip(where, keep) if k]
    series = pd.Series(times[keep], index=index[keep].astype(np.int64))
    repeated = series.index.duplicated(keep=False)
    if repeated.any():
        for number in dict.fromkeys(series.index[repeated]):
            values = series[series.index == number]
            if values.nunique() > 1:
                at = ", ".join(kept[j] for j in np.flatnonzero(series.index == number))
                raise RecordingError(f"{path}: {index_name} {number} is repeated with different times "
                                     f"({', '.join(f'{v:g}' for v in values)} at {at}); keep one row per frame")
        series = series[~series.index.duplicated(keep="first")]
    return series.sort_index()


def read_time_csv(path: Path) -> pd.Series:
    """``frame_index -> time_hpi`` from a CSV (header ``frame_index,time_hpi``; ``time`` also accepted).

    Cells are checked by ``frame_time_series`` (a non-number is a RecordingError naming line and value).
    """
    header, rows = table_cells(path, "frame-time CSV")
    columns = {c.strip().lower(): i for i, c in enumerate(header)}
    index_col = columns.get("frame_index")
    time_col = columns.get("time_hpi", columns.get("time"))
    if index_col is None or time_col is None:
        raise RecordingError(f"{path}: a frame-time CSV needs the columns frame_index,time_hpi (found {header})")
    return frame_time_series(path, [r[index_col] for _, r in rows], [r[time_col] for _, r in rows],
                             [f"line {line}" for line, _ in rows], header[index_col].strip(), header[time_col].strip())


def table_cells(path: Path, what: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """``read_cells`` with its errors as RecordingErrors naming the file."""
    try:
        return read_cells(path)
    except (TableError, OSError) as err:
        raise RecordingError(f"{path}: cannot read the {what}: {err}") from None


def count_packets(path: Path) -> int:
    """Number of video packets (= frames for the codecs we write), by demuxing without decoding."""
    import av  # heavy; only needed when decord's frame count is in doubt

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size > 0)


PLANE_FILE_RE = re.compile(r"^(?P<base>.+)_F(?P<plane>[+-]?\d+)$")  # <id>_F-15.mp4: an extra focal plane


def find_plane_files(path: Path) -> tuple[str, dict[str, Path]]:
    """The embryo id and ``plane -> file`` of a video and its sibling plane videos.

    The simulator (and some exports) write the central plane as ``<id>.mp4`` and each other plane
    as ``<id>_F<µm>.mp4`` beside it; opening either file gives all of them.
    """
    match = PLANE_FILE_RE.match(path.stem)
    if match and path.with_name(match["base"] + path.suffix).is_file():
        path = path.with_name(match["base"] + path.suffix)
    planes = {"F0": path}
    for sibling in path.parent.glob(f"{glob.escape(path.stem)}_F*{path.suffix}"):
        found = PLANE_FILE_RE.match(sibling.stem)
        if found and found["base"] == path.stem:
            planes[plane_name(found["plane"])] = sibling
    return path.stem, planes


class VideoRecording(Recording):
    """One embryo as video file(s): one file per focal plane (decord returns RGB; one channel is kept)."""

    source = "video"

    def __init__(self, path: str | Path, cfg: DataConfig | None = None, times_csv: str | Path | None = None,
                 embryo_id: str | None = None) -> None:
        cfg = cfg or DataConfig()
        path = Path(path)
        if not path.is_file():
            raise RecordingError(f"{path}: video file not found")
        stem, found = find_plane_files(path)
        names = [plane_name(p) for p in cfg.planes] or sorted(found, key=plane_order)
        missing = [p for p in names if p not in found]
        if missing:
            raise RecordingError(f"{path}: focal plane video(s) {missing} not found (found {sorted(found)}); "
                                 "change data.planes")
        self.plane_paths = [found[p] for p in names]
        path = found["F0"]
        super().__init__(embryo_id or stem, np.zeros(0), names, path)
        self.cfg = cfg
        self._native_size: tuple[int, int] | None = None
        # Open at 32 px: enough to count frames and to check for a blank tail cheaply; reads at other
        # sizes get their own reader (opening one costs ~1-2 ms, decoding at full size much more).
        small = (BLANK_CHECK_SIZE, BLANK_CHECK_SIZE)
        self._readers: dict[tuple[int, tuple[int, int] | None], object] = {
            (p, small): self._open(file, small) for p, file in enumerate(self.plane_paths)
        }
        counts = [len(self._readers[(p, small)]) for p in range(self.num_planes)]
        frames = min(counts)
        if len(set(counts)) > 1:
            self.report("plane_frame_mismatch", f"plane videos have {counts} frames; kept the first {frames}")
        csv = Path(times_csv) if times_csv else path.with_suffix(".csv")
        times = read_time_csv(csv) if csv.is_file() else None
        doubtful = times is None or len(times) != frames
        if cfg.verify_frame_count == "always" or (cfg.verify_frame_count == "auto" and doubtful):
            packets = min(count_packets(file) for file in self.plane_paths)
            if packets < frames:
                self.report("frame_count_clamped", f"decord reports {frames} frames but only {packets} "
                            "packets exist; clamped (decord can hang reading past the real end)")
                frames = packets
        if times is None:
            self.report("constant_interval", f"no frame-time file {csv.name}; assuming one frame every "
                        f"{cfg.frame_interval_h} h from {cfg.first_frame_hpi} hpi (data.frame_interval_h)")
            frame_ids = np.arange(frames)
            self.times_hpi = cfg.first_frame_hpi + cfg.frame_interval_h * frame_ids
        else:
            in_range = times[(times.index >= 0) & (times.index < frames)]
            if len(times) != frames or len(in_range) != frames:
                self.report("time_frame_mismatch", f"{csv.name} has {len(times)} time rows for {frames} "
                            f"frames; kept the {len(in_range)} frames that have a time")
            frame_ids = in_range.index.to_numpy(np.int64)
            self.times_hpi = in_range.to_numpy(np.float64)
        order = np.argsort(self.times_hpi, kind="stable")
        if times is not None and np.any(order != np.arange(len(order))):
            steps = np.diff(self.times_hpi)
            if len(steps) and np.all(steps < 0):
                raise RecordingError(f"{csv}: frame times decrease throughout ({self.times_hpi[0]:g} -> "
                                     f"{self.times_hpi[-1]:g} hpi from the first to the last frame): the time file is "
                                     f"reversed or belongs to another video; fix it rather than play {path.name} backwards")
            back = frame_ids[1:][steps < 0][:5].tolist()
            self.report("unsorted_times", f"frame times in {csv} are not ascending in frame order ({int((steps < 0).sum())} "
                        f"step(s) back in time, at frames {back}); frames sorted by time")
        self.frame_ids, self.times_hpi = frame_ids[order], self.times_hpi[order]  # recording index -> video frame
        phase_csv = path.with_name(f"{stem}_phases.csv")
        if phase_csv.is_file():  # Gomez-format annotation beside the video: 1-based frame numbers
            from aivf.data.gomez import read_phases

            self.phases = read_phases(phase_csv, self.frame_ids + 1)
        if len(self) == 0:
            raise RecordingError(f"{path}: no decodable frames with a time")
        if cfg.drop_blank_tail:
            self.drop_blank_tail(cfg.blank_std)

    @staticmethod
    def _open(path: Path, size: tuple[int, int] | None) -> object:
        import decord  # imported here: importing aivf.data must stay cheap

        try:
            if size is None:
                return decord.VideoReader(str(path), num_threads=1)
            return decord.VideoReader(str(path), width=size[1], height=size[0], num_threads=1)
        except Exception as err:  # decord raises RuntimeError/DECORDError for corrupt or unknown files
            raise RecordingError(f"{path}: cannot open video (corrupt or unsupported codec): {err}") from None

    def _reader(self, plane: int, size: tuple[int, int] | None) -> object:
        if (plane, size) not in self._readers:
            self._readers[(plane, size)] = self._open(self.plane_paths[plane], size)
        return self._readers[(plane, size)]

    @property
    def native_size(self) -> tuple[int, int]:
        """(height, width) of the stored frames (decodes frame 0 once; only needed for cropping)."""
        if self._native_size is None:
            shape = self._reader(0, None)[int(self.frame_ids[0])].shape  # (H, W, 3)
            self._native_size = (int(shape[0]), int(shape[1]))
        return self._native_size

    def _keep(self, keep: np.ndarray) -> None:
        super()._keep(keep)
        self.frame_ids = self.frame_ids[keep]

    def _decode_size(self, size: tuple[int, int] | None) -> tuple[tuple[int, int] | None, int, int]:
        """decord's output size for ``size`` after crop, and the scaled crop/mask rows."""
        crop, mask = self.cfg.banner_crop_px, self.cfg.timestamp_mask_px
        if size is None or (crop == 0 and mask == 0):
            return size, crop, mask  # no native size needed (it costs a full-size decode of frame 0)
        native_h = self.native_size[0]
        # Scale the whole frame so that, after removing the banner, ``size`` remains.
        scale = size[0] / max(1, native_h - crop)
        full_h = int(round(native_h * scale))
        return (full_h, size[1]), full_h - size[0], int(round(mask * scale))

    def _decode(self, indices: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        decode_size, crop, mask = self._decode_size(size)
        ids = self.frame_ids[indices].tolist()
        planes = [self._decode_plane(p, ids, decode_size) for p in range(self.num_planes)]
        frames = np.ascontiguousarray(np.stack(planes, axis=1)[:, :, crop:])  # (N, P, H, W)
        if mask:
            # Paint the burnt-in time with each frame's median so it carries no signal (nor a hard edge).
            fill = np.median(frames[:, :, : frames.shape[2] - mask].reshape(*frames.shape[:2], -1), axis=2)
            frames[:, :, -mask:, :] = fill.astype(np.uint8)[:, :, None, None]
        return frames

    def _decode_plane(self, plane: int, ids: list[int], size: tuple[int, int] | None) -> np.ndarray:
        """uint8 (N, H, W) of one plane's video."""
        path = self.plane_paths[plane]
        try:
            return self._reader(plane, size).get_batch(ids).asnumpy()[..., 0]  # RGB of gray: channels equal
        except Exception as err:
            if size is None or "DECORDArrayCopyFromTo" not in str(err):
                raise RecordingError(f"{path}: decoding frames {ids[:5]} failed: {err}") from None
        # decord 0.6 fails to copy frames resized to some widths (8, 12, 16, 24, 48, 72 px ...):
        # decode at a width that works (a multiple of 32) and finish the resize with PIL.
        safe = (size[0], max(32, -(-size[1] // 32) * 32))
        try:
            wide = self._reader(plane, safe).get_batch(ids).asnumpy()[..., 0]
        except Exception as err:
            raise RecordingError(f"{path}: decoding frames {ids[:5]} failed: {err}") from None
        return np.stack([np.asarray(Image.fromarray(f).resize((size[1], size[0]), Image.BILINEAR)) for f in wide])

    def close(self) -> None:
        self._readers.clear()

    def __getstate__(self) -> dict:
        # decord readers cannot be pickled (DataLoader workers); they are reopened on first use.
        state = self.__dict__.copy()
        state["_readers"] = {}
        return state
