"""The real data for the loop: aivf.dataset's shard loader (train) and memory-mapped split (eval).

Adds the one thing DDP needs that a sharded stream cannot promise: every rank takes the same
number of micro-batches per epoch. If shards do not divide evenly, one rank would run an extra
forward/backward whose gradient all-reduce waits forever; here the epoch ends for all ranks as
soon as any rank runs out (one tiny all-reduce per micro-batch, negligible next to a video step).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from queue import Full, Queue

import torch
import torch.distributed as dist


class ShardTrainData:
    """:class:`aivf.train.loop.TrainData` over a dataset built by ``aivf build``.

    Args:
        path: the dataset folder or URL (manifest.json inside).
        split: ``"<scheme>/<fold>"``; trains on ``<split>/train``, evaluates on ``<split>/val``.
        loader_cfg: ``cfg.dataset.loader`` (its batch_size is replaced by ``batch_size``).
        batch_size: micro-batch per process (``train.per_device_batch_size``).
        seed: data-order seed; epoch e replays identically for the same seed.
        rank, world_size: this process and the number of processes.
    """

    def __init__(self, path: str, split: str, loader_cfg, batch_size: int, seed: int, rank: int, world_size: int,
                 prefetch_batches: int = 4, labels=None):
        from aivf.dataset.loader import ShardLoader

        self.prefetch_batches = prefetch_batches
        self.loader_cfg = dataclasses.replace(loader_cfg, batch_size=batch_size)
        self.path, self.split, self.rank, self.world_size = path, split, rank, world_size
        self.labels = labels  # aivf.dataset.labels.TrainingLabels of <split>/train (train.labels), or None
        self.train_loader = ShardLoader(path, f"{split}/train", self.loader_cfg, seed=seed, train=True,
                                        rank=rank, world_size=world_size, labels=labels)
        self._splits: dict = {}  # part -> memory-mapped split, opened on first use

    def train_batches(self, epoch: int, skip: int) -> Iterator[dict]:
        return lockstep(self.train_loader.iter_epoch(epoch, skip_batches=skip), self.prefetch_batches,
                        self.world_size)

    def split_batches(self, part: str) -> Iterator[dict]:
        """Every batch of ``<split>/<part>`` in order, unaugmented (the split is opened once and kept)."""
        from aivf.dataset.loader import iter_eval_batches, load_split

        if part not in self._splits:
            self._splits[part] = load_split(self.path, f"{self.split}/{part}")
        batches = iter_eval_batches(self._splits[part], self.loader_cfg.batch_size, self.loader_cfg)
        if part != "train" or self.labels is None:  # validation and test labels are never changed
            return batches
        return ({**b, "labels": self.labels.apply(b["embryo_id"], b["labels"])} for b in batches)  # the head refit

    def eval_batches(self) -> Iterator[dict]:
        for i, batch in enumerate(self.split_batches("val")):
            if i % self.world_size == self.rank:  # same fixed order on every rank: deal batches round-robin
                yield batch


def prefetch(batches: Iterator[dict], depth: int) -> Iterator[dict]:
    """Read ``depth`` batches ahead in a thread so decoding/augmenting overlaps the GPU step.

    Order and content are unchanged (the loader seeds each batch's augmentation by its index), so
    exact resume still holds. numpy, pyarrow and torch release the GIL in their heavy work.
    Closing the generator stops the reader and joins it: a reader thread still inside pyarrow or torch
    when the interpreter exits aborts the process ("terminate called without an active exception").
    """
    if depth <= 0:
        yield from batches
        return
    done = object()
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        """Wait for room in the queue unless asked to stop; False once stopped."""
        while not stop.is_set():
            try:
                queue.put(item, timeout=0.05)
                return True
            except Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
        except BaseException as err:  # re-raised in the consumer
            put(err)
            return
        put(done)

    thread = threading.Thread(target=work, daemon=True, name="aivf-prefetch")
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=120)  # the reader finishes at most the batch it is building


def lockstep(batches: Iterator[dict], depth: int, world_size: int) -> Iterator[dict]:
    """``batches`` prefetched ``depth`` ahead, ending on every rank as soon as one rank runs out."""
    stream = prefetch(batches, depth)
    try:
        while True:
            batch = next(stream, None)
            if not _all_ranks_have(batch is not None, world_size):
                return
            yield batch
    finally:
        stream.close()


def _all_ranks_have(mine: bool, world_size: int) -> bool:
    if world_size == 1:
        return mine
    flag = torch.tensor([int(mine)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def build_train_data(cfg, accelerator) -> ShardTrainData:
    """The run's dataset (``train.dataset_path`` or ``<output_dir>/<name>/<dataset.output>``)."""
    from pathlib import Path

    path = cfg.train.dataset_path or cfg.dataset.output
    if "://" not in path and not Path(path).is_absolute() and not cfg.train.dataset_path:
        path = str(Path(cfg.output_dir) / cfg.name / path)
    if "://" not in path and not (Path(path) / "manifest.json").is_file():
        raise FileNotFoundError(f"{path}/manifest.json not found: build the dataset first (aivf build -c ...) "
                                "or point train.dataset_path at one")
    return ShardTrainData(path, cfg.train.split, cfg.dataset.loader, cfg.train.per_device_batch_size,
                          cfg.seed, accelerator.process_index, accelerator.num_processes, cfg.train.prefetch_batches,
                          build_training_labels(cfg, path, accelerator))


def build_training_labels(cfg, path: str, accelerator):
    """``train.labels`` for the dataset at ``path``: None as recorded (the default; nothing is read), else the
    replacement labels of the training embryos; says what it chose and writes ``<run>/training_labels.json``."""
    import json
    from pathlib import Path

    from aivf.dataset.cli import resolve_paths
    from aivf.dataset.labels import CLINIC_DEFAULT, training_labels

    lc = cfg.train.labels
    if lc.fraction == CLINIC_DEFAULT:
        return None
    truth = lc.truth_csv or str(resolve_paths(cfg, None, None)[0].parent / "truth.csv")
    labels = training_labels(path, cfg.train.split, lc.fraction, lc.seed, truth)
    summary = labels.summary
    accelerator.print(f"train.labels: {summary['mode']}, {summary['labelled_share']:.3f} of {summary['n_embryos']} "
                      f"training embryos carry an outcome label (recorded: {summary['recorded_share']:.3f}; labels of "
                      f"{summary['n_patients_kept']} of {summary['n_patients']} patients)")
    if accelerator.is_main_process:
        run_dir = Path(cfg.output_dir) / cfg.name
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "training_labels.json").write_text(json.dumps(summary, indent=1))
    return labels
