"""Hugging Face parquet shards of embryo keyframes: build, splits, streaming loader, augmentations.

- ``build_dataset(cfg, clinical_csv, out, data)``: clinical CSV + recordings -> shards, report, splits, card;
- ``make_splits`` / ``check_splits``: patient-grouped k-fold and leave-one-clinic-out, leak check;
- ``ShardLoader``: epoch-shuffled, augmented training batches (docs/architecture.md); ``load_split``:
  memory-mapped evaluation split.

Imports are lazy so that ``import aivf.dataset`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BuildError": "aivf.dataset.build", "BuildReport": "aivf.dataset.build", "build_dataset": "aivf.dataset.build",
    "dataset_features": "aivf.dataset.build",
    "SplitLeakError": "aivf.dataset.splits", "check_splits": "aivf.dataset.splits", "make_splits": "aivf.dataset.splits",
    "split_ids": "aivf.dataset.splits",
    "ShardLoader": "aivf.dataset.loader", "TASKS": "aivf.dataset.loader", "iter_eval_batches": "aivf.dataset.loader",
    "load_split": "aivf.dataset.loader", "read_splits": "aivf.dataset.loader",
    "augment_batch": "aivf.dataset.augment",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'aivf.dataset' has no attribute {name!r}")
