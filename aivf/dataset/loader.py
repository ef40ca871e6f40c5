"""Reading the shards for training (streaming, shuffled, augmented) and for evaluation (memory-mapped).

Two traps of ``datasets`` shape this module (../shared/docs/stack-notes.md):

- uint8 comes back as int64 through the numpy/torch formatters (8x the memory): we never use them
  for pixels; keyframes go arrow buffer -> numpy uint8 view -> torch, without a copy to int64.
- ``IterableDataset.shuffle`` is 5x+ slower than plain streaming: we shuffle ourselves, the shard
  order per epoch plus a small in-memory buffer, seeded by (seed, epoch) so an epoch replays exactly.

Ranks: the shard *files* form a ``datasets.IterableDataset`` that ``split_dataset_by_node`` divides
(disjoint when the world size divides the shard count; otherwise HF keeps every world-th file, so
ranks stay disjoint but get unequal work: we warn). Parquet decodes a (K, P, H, W) uint8 array
slowly (nested lists, ~400 samples/s), so each assigned shard is first copied to an Arrow IPC file
(once per machine) and then memory-mapped: reads are zero-copy.
"""

from __future__ import annotations

import json
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from aivf.dataset.augment import augment_batch
from aivf.dataset.config import LoaderConfig
from aivf.dataset.records import AUX_TASKS
from aivf.dataset.splits import split_ids
from aivf.sim.types import DAY3_VIEW_HPI

TASKS = ("d3_fhb", "d5_fhb", "euploid")  # label columns, in the order of the batch's ``labels``


def read_manifest(path: str) -> tuple[object, str, dict]:
    """(fsspec filesystem, base path, manifest) of a built dataset; raises if it was never finished."""
    fs, base = fsspec.core.url_to_fs(path)
    try:
        with fs.open(f"{base}/manifest.json", "rb") as handle:
            manifest = json.loads(handle.read())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no manifest.json; build the dataset first (aivf build)") from None
    return fs, base, manifest


def read_splits(path: str) -> dict:
    """The ``splits.json`` written with the dataset."""
    fs, base = fsspec.core.url_to_fs(path)
    with fs.open(f"{base}/splits.json", "rb") as handle:
        return json.loads(handle.read())


def _flatten_uint8(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The values of a nested-list uint8 column as one flat numpy view (no int64 detour)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for arr in chunks:
        if isinstance(arr, pa.ExtensionArray):  # datasets' Array4D extension type
            arr = arr.storage
        while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
            arr = arr.flatten()  # respects slicing offsets
        parts.append(arr.to_numpy(zero_copy_only=True))
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def table_to_arrays(table: pa.Table | pa.RecordBatch, shape: tuple[int, ...]) -> dict[str, np.ndarray | list]:
    """Columns of N rows as numpy arrays, keyframes kept uint8 (``shape`` = (K, P, H, W) from the manifest).

    Returns:
        keyframes uint8 (N, K, P, H, W); keyframe_hpi float32 (N, K); keyframe_mask bool (N, K);
        covariates float32 (N, 2); labels float32 (N, 3) NaN-missing; aux_labels float32 (N, A) NaN-missing
        (the clinic records of aivf/dataset/records.py AUX_TASKS); phase_labels int64 (N, K) -100-missing;
        embryo_id, patient_id lists.
    """
    n = table.num_rows
    hpi = _flatten_numeric(table.column("keyframe_hpi"), np.float32).reshape(n, -1)
    k = hpi.shape[1]
    keyframes = _flatten_uint8(table.column("keyframes")).reshape(n, *shape)
    age = table.column("maternal_age").to_numpy(zero_copy_only=False).astype(np.float32)
    age = np.where(np.isnan(age), 35.0, age)  # missing age -> the centring value (covariate 0)
    icsi = pc.fill_null(pc.equal(table.column("method"), "ICSI"), False).to_numpy(zero_copy_only=False)
    labels = np.stack([table.column(t).to_numpy(zero_copy_only=False).astype(np.float32) for t in TASKS], axis=1)
    return {
        "keyframes": keyframes, "keyframe_hpi": hpi,
        "keyframe_mask": _flatten_numeric(table.column("keyframe_mask"), bool).reshape(n, k),
        "phase_labels": _phase_labels(table, n, k),
        "covariates": np.stack([(age - 35.0) / 5.0, icsi.astype(np.float32)], axis=1),
        "labels": labels,  # int8 nulls become NaN through float conversion
        "aux_labels": _aux_labels(table, n),
        "embryo_id": table.column("embryo_id").to_pylist(), "patient_id": table.column("patient_id").to_pylist(),
    }


def _aux_labels(table: pa.Table | pa.RecordBatch, n: int) -> np.ndarray:
    """float32 (N, len(AUX_TASKS)) the clinic-record targets, NaN where not recorded (or a dataset without them)."""
    names = table.schema.names
    columns = [table.column(f"aux_{t}").to_numpy(zero_copy_only=False).astype(np.float32) if f"aux_{t}" in names
               else np.full(n, np.nan, np.float32) for t in AUX_TASKS]
    return np.stack(columns, axis=1) if columns else np.zeros((n, 0), np.float32)


def _phase_labels(table: pa.Table | pa.RecordBatch, n: int, k: int) -> np.ndarray:
    """int64 (N, K) annotated phase per keyframe, -100 (the loss's ignore index) where none (or no column)."""
    if "phase_labels" not in table.schema.names:  # a dataset built before phase labels existed
        return np.full((n, k), -100, dtype=np.int64)
    labels = _flatten_numeric(table.column("phase_labels"), np.int64).reshape(n, k)
    return np.where(labels >= 0, labels, -100)


def _flatten_numeric(column, dtype) -> np.ndarray:
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=dtype)


def collate(rows: list[tuple[dict, int]], cfg: LoaderConfig) -> dict:
    """Stack rows (arrays dict, row index) into the training batch of docs/architecture.md.

    Returns:
        pixel_values float32 (B, K, C, H, W) normalised; keyframe_hpi float32 (B, K); keyframe_mask
        bool (B, K); covariates float32 (B, 2); labels float32 (B, 3); aux_labels float32 (B, A); phase_labels int64 (B, K)
        (-100 = no annotation); embryo_id, patient_id lists.
    """
    raw = np.stack([a["keyframes"][i] for a, i in rows])  # uint8 (B, K, C, H, W)
    # numpy, single-threaded, two passes: torch's multi-threaded elementwise ops were 50x slower
    # than this on a busy 2-core machine (threads spinning), and the loader must not compete for cores.
    pixels = np.multiply(raw, np.float32(1.0 / (255.0 * cfg.pixel_std)), dtype=np.float32)
    np.subtract(pixels, np.float32(cfg.pixel_mean / cfg.pixel_std), out=pixels)
    batch = {"pixel_values": torch.from_numpy(pixels)}
    for key in ("keyframe_hpi", "keyframe_mask", "covariates", "labels", "aux_labels", "phase_labels"):
        batch[key] = torch.from_numpy(np.stack([a[key][i] for a, i in rows]))
    batch["embryo_id"] = [a["embryo_id"][i] for a, i in rows]
    batch["patient_id"] = [a["patient_id"][i] for a, i in rows]
    return batch


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])


def assign_shards(files: list[str], rank: int, world_size: int) -> list[str]:
    """This rank's shard files, assigned by ``datasets.distributed.split_dataset_by_node``."""
    from datasets import IterableDataset
    from datasets.distributed import split_dataset_by_node

    if world_size > 1 and len(files) % world_size:
        warnings.warn(f"{len(files)} shards do not divide among {world_size} ranks: ranks get unequal "
                      "numbers of batches (rebuild with dataset.embryos_per_shard so the count divides)", stacklevel=3)

    def gen(files):
        yield from ({"file": f} for f in files)

    shards = IterableDataset.from_generator(gen, gen_kwargs={"files": list(files)})  # one example per shard
    return [ex["file"] for ex in split_dataset_by_node(shards, rank=rank, world_size=world_size)]


class ShardLoader:
    """Streaming, epoch-shuffled, augmented batches over the shards of one split.

    Usage::

        loader = ShardLoader("outputs/run/dataset", "kfold/0/train", cfg.dataset.loader, seed=0)
        for batch in loader.iter_epoch(epoch, skip_batches=0): ...

    Args:
        path: the dataset folder or URL (with manifest.json).
        split: ``"<scheme>/<fold>/<part>"`` from splits.json, or None for every embryo.
        cfg: batch size, shuffle buffer, cache, normalisation, augmentations.
        train: shuffle + augment + drop_last; False gives a fixed order and no augmentation.
        rank, world_size: default from RANK / WORLD_SIZE.
        labels: outcome labels replacing the recorded ones of its embryos (``aivf.dataset.labels``;
            ``train.labels``), applied before augmentation so that ``day3_view`` still drops the later labels.
    """

    def __init__(self, path: str, split: str | None, cfg: LoaderConfig, seed: int = 0, train: bool = True,
                 rank: int | None = None, world_size: int | None = None, labels=None) -> None:
        self.path, self.cfg, self.seed, self.train, self.labels = path, cfg, seed, train, labels
        self.rank = int(os.environ.get("RANK", 0)) if rank is None else rank
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
        self.fs, self.base, manifest = read_manifest(path)
        self.shape = tuple(manifest["keyframe_shape"])  # (K, P, H, W)
        self.config_hash = manifest["config_hash"]
        files = [s["file"] for s in manifest["shards"]]
        self.ids = pa.array(sorted(split_ids(read_splits(path), split))) if split else None
        self.files = assign_shards(files, self.rank, self.world_size)
        wanted = None if self.ids is None else set(self.ids.to_pylist())
        self.num_examples = sum(  # this rank's examples per epoch, from the manifest (nothing read)
            sum(1 for e in s["embryo_ids"] if wanted is None or e in wanted) for s in manifest["shards"] if s["file"] in self.files
        )

    def __len__(self) -> int:
        """Batches per epoch on this rank (for schedulers); ranks differ when world size does not divide the shards."""
        full, rest = divmod(self.num_examples, self.cfg.batch_size)
        return full + int(bool(rest) and not (self.train and self.cfg.drop_last))

    def _cache_path(self, file: str) -> Path:
        local = not self.fs.protocol or "file" in np.atleast_1d(self.fs.protocol)
        root = Path(self.cfg.cache_dir) if self.cfg.cache_dir else (
            Path(self.base) / "arrow_cache" if local else Path.home() / ".cache" / "aivf" / uuid.uuid5(
                uuid.NAMESPACE_URL, self.path).hex)
        info = self.fs.info(f"{self.base}/{file}")
        # config hash + size: a shard rebuilt with another config or CSV never reuses a stale copy
        return root / f"{Path(file).stem}-{self.config_hash}-{info.get('size', 0)}.arrow"

    def _batches(self, file: str) -> Iterator[pa.RecordBatch]:
        """Record batches of one shard: memory-mapped Arrow copy (built on first use) or parquet."""
        if self.cfg.cache == "none":
            with self.fs.open(f"{self.base}/{file}", "rb") as handle:
                yield from pq.ParquetFile(handle).iter_batches(batch_size=64)
            return
        cached = self._cache_path(file)
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".tmp-{uuid.uuid4().hex[:8]}")
            with self.fs.open(f"{self.base}/{file}", "rb") as handle:
                source = pq.ParquetFile(handle)
                writer = None
                for batch in source.iter_batches(batch_size=64):
                    column = batch.column("keyframes")
                    if isinstance(column, pa.ExtensionArray):  # store plain lists: readable without datasets
                        batch = batch.set_column(batch.schema.get_field_index("keyframes"), "keyframes", column.storage)
                    writer = writer or pa.ipc.new_file(str(tmp), batch.schema)
                    writer.write_batch(batch)
                if writer:
                    writer.close()
            os.replace(tmp, cached)  # atomic: a concurrent reader never sees half a cache file
        reader = pa.ipc.open_file(pa.memory_map(str(cached)))
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)

    def iter_rows(self, epoch: int) -> Iterator[tuple[dict, int]]:
        """(arrays, row) pairs of this rank in the epoch's order (shuffled shard order + buffer when training)."""
        files = list(self.files)
        rng = np.random.default_rng(_seed(self.seed, epoch, self.rank))
        if self.train:
            rng.shuffle(files)
        buffer: list[tuple[dict, int]] = []
        for file in files:
            for batch in self._batches(file):
                rows = np.arange(batch.num_rows)
                if self.ids is not None:
                    rows = np.flatnonzero(pc.is_in(batch.column("embryo_id"), value_set=self.ids).to_numpy(zero_copy_only=False))
                if rows.size == 0:
                    continue
                arrays = table_to_arrays(batch, self.shape)
                if not self.train:
                    yield from ((arrays, int(r)) for r in rows)
                    continue
                for r in rng.permutation(rows):
                    if len(buffer) < self.cfg.shuffle_buffer:
                        buffer.append((arrays, int(r)))
                        continue
                    j = int(rng.integers(len(buffer)))  # emit a random held row, keep the new one
                    yield buffer[j]
                    buffer[j] = (arrays, int(r))
        for j in rng.permutation(len(buffer)):
            yield buffer[j]

    def iter_epoch(self, epoch: int = 0, skip_batches: int = 0) -> Iterator[dict]:
        """Batches of one epoch; ``skip_batches`` resumes mid-epoch at exactly the same next batch.

        Skipped batches are not collated or augmented (augmentation is seeded per batch index, so
        batch n looks the same whether or not the epoch was interrupted before it).
        """
        size, pending, index = self.cfg.batch_size, [], 0
        for row in self.iter_rows(epoch):
            pending.append(row)
            if len(pending) == size:
                if index >= skip_batches:
                    yield self._finish(pending, epoch, index)
                pending, index = [], index + 1
        if pending and not (self.train and self.cfg.drop_last) and index >= skip_batches:
            yield self._finish(pending, epoch, index)

    def _finish(self, rows: list[tuple[dict, int]], epoch: int, index: int) -> dict:
        batch = collate(rows, self.cfg)
        if self.labels is not None:
            batch["labels"] = self.labels.apply(batch["embryo_id"], batch["labels"])
        if self.cfg.augment_on == "loader":
            batch = self.augment(batch, epoch, index)
        return batch

    def augment(self, batch: dict, epoch: int, index: int) -> dict:
        """Augment batch ``index`` of ``epoch`` in place, on whatever device its tensors are (no-op for eval).

        Seeded by (seed, epoch, rank, index): the same batch gets the same augmentation on CPU or GPU
        and after a resume. Call it yourself when ``cfg.augment_on == "device"``.
        """
        if self.train and self.cfg.augment.enabled:
            generator = torch.Generator().manual_seed(_seed(self.seed, epoch, self.rank, index, 7))
            batch["pixel_values"], batch["keyframe_hpi"] = augment_batch(
                batch["pixel_values"], batch["keyframe_hpi"], batch["keyframe_mask"], self.cfg.augment, generator,
                self.cfg.pixel_std)
            if self.cfg.augment.day3_view > 0:
                day3_view_(batch, self.cfg.augment.day3_view, generator)
        return batch


DAY3_LABELS = {"labels": [TASKS.index("d3_fhb")], "aux_labels": [AUX_TASKS.index("usable_d3")]}


def day3_view_(batch: dict, share: float, generator: torch.Generator) -> None:
    """Show ``share`` of the recordings that go past day 3 as a day-3 transfer sees them, in place.

    Keyframes after DAY3_VIEW_HPI are masked (as in a recording that ends at the day-3 transfer) and every
    label but the day-3 ones becomes NaN, so that the day-5 heads never learn from a day-3 view.
    """
    hpi, mask = batch["keyframe_hpi"], batch["keyframe_mask"].bool()
    later = mask & ~(hpi <= DAY3_VIEW_HPI)
    chosen = later.any(dim=1) & (torch.rand(len(hpi), generator=generator).to(hpi.device) < share)
    if not chosen.any():
        return
    batch["keyframe_mask"] = torch.where(chosen[:, None], mask & ~later, mask).to(batch["keyframe_mask"].dtype)
    for key, keep in DAY3_LABELS.items():
        if key in batch:
            labels = batch[key]
            drop = torch.ones(labels.shape[1], dtype=torch.bool, device=labels.device)
            drop[keep] = False
            labels[chosen[:, None] & drop[None, :]] = float("nan")


def load_split(path: str, split: str | None = None, cache_dir: str | None = None):
    """The map-style, memory-mapped ``datasets.Dataset`` of one split (for evaluation).

    Keyframes come back as torch uint8 (not int64); other columns as Python values.
    Use :func:`iter_eval_batches` for training-format batches in a fixed order.
    """
    from datasets import load_dataset

    fs, base, manifest = read_manifest(path)
    prefix = path.rstrip("/")
    files = [f"{prefix}/{s['file']}" for s in manifest["shards"]]
    ds = load_dataset("parquet", data_files=files, split="train", cache_dir=cache_dir)
    if split:
        wanted = pa.array(split_ids(read_splits(path), split))
        keep = pc.is_in(ds.data.column("embryo_id"), value_set=wanted).to_numpy(zero_copy_only=False)
        ds = ds.select(np.flatnonzero(keep))
    return ds.with_format("torch", columns=["keyframes"], dtype=torch.uint8, output_all_columns=True)


def iter_eval_batches(ds, batch_size: int, cfg: LoaderConfig) -> Iterator[dict]:
    """Training-format batches of a map-style split in order, read as arrow slices (uint8, no augmentation)."""
    shape = ds.features["keyframes"].shape
    arrow = ds.with_format("arrow")
    for start in range(0, len(ds), batch_size):
        arrays = table_to_arrays(arrow[start: start + batch_size], shape)
        yield collate([(arrays, i) for i in range(len(arrays["embryo_id"]))], cfg)
