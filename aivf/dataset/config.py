"""Settings of the dataset build, the splits and the training loader (``aivf.dataset``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The outcome-label fraction that means "as the clinic recorded them": about one embryo in four carries an outcome
# (a transfer's FHB or a biopsy's PGT-A). train.labels (aivf/train/config.py) and aivf/dataset/labels.py use it.
CLINIC_LABEL_FRACTION = 0.25


@dataclass
class SplitConfig:
    """How embryos are split for evaluation; patients (sibling embryos) never cross a split."""

    num_folds: int = 5  # k of the patient-grouped, stratified k-fold
    leave_one_clinic_out: bool = True  # also write one split per clinic (needs >= 2 clinics)
    seed: int = 0  # seed of the patient shuffle before folds are dealt


@dataclass
class AugmentConfig:
    """On-the-fly augmentations that respect embryo imaging (training only; off for eval)."""

    enabled: bool = True  # master switch (evaluation never augments, whatever this says)
    rotate: bool = True  # rotation by any angle: a dish in the incubator has no orientation
    flip: bool = True  # random horizontal flip (with any rotation this covers every mirror image)
    scale: float = 0.1  # zoom factor drawn from [1 - scale, 1 + scale] (embryos differ in size)
    translate: float = 0.05  # shift as a fraction of the frame side (a small random crop)
    brightness: float = 0.1  # additive shift of normalised-to-[0, 1] intensities, from [-b, b]
    contrast: float = 0.1  # multiplicative factor from [1 - c, 1 + c] around the frame mean
    # Gaussian blur with sigma drawn from [0, blur] pixels (0 = off, the default): a real frame resized from 500 px
    # averages its fine granularity away, where a simulated one at the model's size keeps it (docs/annotate.md).
    blur: float = 0.0
    hpi_jitter_h: float = 0.25  # standard deviation (hours) of noise added to every keyframe hpi
    # Share of recordings that reach past day 3 shown as a day-3 transfer sees them (keyframes after
    # DAY3_VIEW_HPI masked; only the day-3 labels kept), so that the day-3 heads learn from the frames a
    # day-3 decision has: trained on full recordings only, the day-3 usable head leaned on later frames
    # (seed-0 validation: AUC against the recorded call 0.961 on full recordings, 0.741 on their day-3 view).
    day3_view: float = 0.0


@dataclass
class LoaderConfig:
    """The streaming training loader over the parquet shards."""

    batch_size: int = 8  # embryos per batch (per process)
    shuffle_buffer: int = 256  # examples held in memory for the within-rank shuffle
    drop_last: bool = True  # training: drop the last incomplete batch of an epoch
    # Parquet stores a uint8 (K, P, H, W) array as 4-level nested lists whose decoding runs at only
    # ~400 samples/s; an Arrow IPC copy of each shard is memory-mapped and read zero-copy (>10x faster).
    cache: Literal["arrow", "none"] = "arrow"
    cache_dir: str = ""  # where Arrow copies go; empty = "<dataset>/arrow_cache" (local) or ~/.cache/aivf
    pixel_mean: float = 0.5  # normalisation: (x / 255 - mean) / std
    pixel_std: float = 0.5  # normalisation standard deviation
    # Where training augmentations run: "loader" (CPU, here; ~100-270 samples/s per core) or "device":
    # batches come unaugmented and the trainer calls ShardLoader.augment(batch, epoch, index) after
    # moving the batch to the GPU (13,000+ samples/s on an H200 at batch 8; same result as on CPU).
    augment_on: Literal["loader", "device"] = "loader"
    augment: AugmentConfig = field(default_factory=AugmentConfig)  # training augmentations


@dataclass
class DatasetConfig:
    """Clinical CSV + recordings -> Hugging Face parquet shards, splits and a dataset card."""

    clinical_csv: str = ""  # clinical table; empty = "<sim output>/clinical.csv" of this run
    recordings_root: str = ""  # base of relative recording paths; empty = the CSV's folder
    output: str = "dataset"  # local folder or fsspec URL (memory://, file://, s3://...) for the shards
    embryos_per_shard: int = 64  # rows per parquet shard (a multiple of the world size of training)
    row_group_size: int = 16  # parquet row group: the unit a streaming reader decodes at once
    workers: int = 2  # processes decoding recordings in parallel; 0 = in this process
    num_planes: int = 1  # P focal planes stored per keyframe (the first P of the recording)
    min_frames: int = 8  # a recording with fewer frames is rejected ("too_few_frames")
    min_keyframes: int = 1  # an embryo with fewer found keyframes (before the cutoff) is rejected
    # PGT-A "mosaic" as the euploid label: missing (None), negative (0, not euploid) or positive (1).
    mosaic_as: Literal["missing", "negative", "positive"] = "missing"
    overwrite: bool = False  # rebuild when the output holds shards built with another config
    # Input checks (docs/architecture.md): a clinical value outside its column's vocabulary or a repeated
    # embryo id fails only that embryo (build_report.csv); strict=true makes it a BuildError naming file,
    # line, column and value, and a build with any embryo not built ends in an error (`aivf build --strict`).
    strict: bool = False
    splits: SplitConfig = field(default_factory=SplitConfig)  # evaluation splits written with the shards
    loader: LoaderConfig = field(default_factory=LoaderConfig)  # streaming loader for training
