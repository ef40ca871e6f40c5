"""Streaming loader: batch contract, uint8 reads, epoch-seeded order, resume, ranks, eval path."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from aivf.dataset.config import LoaderConfig
from aivf.dataset.loader import ShardLoader, iter_eval_batches, load_split, read_splits, table_to_arrays
from aivf.dataset.splits import split_ids
from tests.dataset.conftest import SIZE


def loader_cfg(**kw) -> LoaderConfig:
    return LoaderConfig(batch_size=3, shuffle_buffer=4, **kw)


def test_batch_matches_the_training_contract(built):
    loader = ShardLoader(built, None, loader_cfg(), seed=0, rank=0, world_size=1)
    batch = next(loader.iter_epoch(0))
    assert batch["pixel_values"].shape == (3, 8, 1, SIZE, SIZE) and batch["pixel_values"].dtype == torch.float32
    assert batch["keyframe_hpi"].shape == (3, 8) and batch["keyframe_hpi"].dtype == torch.float32
    assert batch["keyframe_mask"].dtype == torch.bool and batch["keyframe_mask"].shape == (3, 8)
    assert batch["covariates"].shape == (3, 2) and batch["labels"].shape == (3, 3)
    assert batch["phase_labels"].dtype == torch.int64 and batch["phase_labels"].shape == (3, 8)
    assert ((batch["phase_labels"] == -100) | (batch["phase_labels"] >= 0)).all()  # -100 = the loss ignores it
    assert torch.isnan(batch["labels"][:, 0]).all()  # no d3 outcome anywhere: NaN, never 0
    assert set(batch["covariates"][:, 1].tolist()) <= {0.0, 1.0}
    assert len(batch["embryo_id"]) == len(batch["patient_id"]) == 3
    # 12 embryos / batch 3, drop_last: 4 batches per epoch
    assert sum(1 for _ in loader.iter_epoch(0)) == len(loader) == 4
    evaluation = ShardLoader(built, "kfold/0/test", loader_cfg(), train=False, rank=0, world_size=1)
    assert len(evaluation) == sum(1 for _ in evaluation.iter_epoch(0))


def test_phase_labels_reach_the_batch(built):
    loader = ShardLoader(built, None, loader_cfg(), train=False, rank=0, world_size=1)
    phases = {e: p for b in loader.iter_epoch(0) for e, p in zip(b["embryo_id"], b["phase_labels"].tolist())}
    assert set(phases["C1P0000-1"]) == {0, 3}  # the one annotated embryo (tests/dataset/conftest.py)
    assert all(set(p) == {-100} for e, p in phases.items() if e != "C1P0000-1")


def test_keyframes_read_as_uint8_views_not_int64(built):
    table = pq.read_table(f"{built}/data/shard-00000.parquet")
    arrays = table_to_arrays(table, (8, 1, SIZE, SIZE))
    assert arrays["keyframes"].dtype == np.uint8 and arrays["keyframes"].shape == (4, 8, 1, SIZE, SIZE)
    assert arrays["keyframes"].nbytes == 4 * 8 * SIZE * SIZE  # 1 byte per pixel
    eval_ds = load_split(built, "kfold/0/test")
    assert eval_ds[0]["keyframes"].dtype == torch.uint8


def test_eval_order_and_values_are_unaugmented(built):
    cfg = loader_cfg()
    loader = ShardLoader(built, "kfold/0/test", cfg, train=False, rank=0, world_size=1)
    batches = list(loader.iter_epoch(0))
    ids = [e for b in batches for e in b["embryo_id"]]
    assert sorted(ids) == sorted(split_ids(read_splits(built), "kfold/0/test"))
    assert ids == [e for b in loader.iter_epoch(5) for e in b["embryo_id"]]  # no shuffle for eval
    eval_ds = load_split(built, "kfold/0/test")
    first = next(iter_eval_batches(eval_ds, 2, cfg))
    raw = eval_ds[0]["keyframes"].float() / 255
    assert torch.allclose(first["pixel_values"][0], (raw - cfg.pixel_mean) / cfg.pixel_std, atol=1e-6)
    streamed = {e: b["pixel_values"][i] for b in batches for i, e in enumerate(b["embryo_id"])}
    assert torch.equal(streamed[first["embryo_id"][0]], first["pixel_values"][0])


def test_epoch_order_is_seeded_and_resume_skips_exactly(built):
    def order(seed, epoch):
        loader = ShardLoader(built, None, loader_cfg(), seed=seed, rank=0, world_size=1)
        return [e for b in loader.iter_epoch(epoch) for e in b["embryo_id"]]

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1) and order(0, 0) != order(1, 0)
    loader = ShardLoader(built, None, loader_cfg(), seed=2, rank=0, world_size=1)
    full = list(loader.iter_epoch(3))
    resumed = list(loader.iter_epoch(3, skip_batches=2))
    assert len(resumed) == len(full) - 2
    for a, b in zip(full[2:], resumed):
        assert a["embryo_id"] == b["embryo_id"] and torch.equal(a["pixel_values"], b["pixel_values"])


def test_two_ranks_read_disjoint_shards(built):
    cfg = loader_cfg()
    with pytest.warns(UserWarning, match="do not divide"):  # 3 shard files for 2 ranks
        ranks = [ShardLoader(built, None, cfg, rank=r, world_size=2) for r in (0, 1)]
    assert not set(ranks[0].files) & set(ranks[1].files)
    assert len(ranks[0].files) + len(ranks[1].files) == 3
    ids = [{e for e, _ in ((a["embryo_id"][i], i) for a, i in r.iter_rows(0))} for r in ranks]
    assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == 12


def test_training_batches_are_augmented_but_keep_shape(built):
    plain = ShardLoader(built, None, loader_cfg(), seed=0, train=False, rank=0, world_size=1)
    aug = ShardLoader(built, None, loader_cfg(), seed=0, train=True, rank=0, world_size=1)
    reference = {e: b["pixel_values"][i] for b in plain.iter_epoch(0) for i, e in enumerate(b["embryo_id"])}
    batch = next(aug.iter_epoch(0))
    assert batch["pixel_values"].shape == (3, 8, 1, SIZE, SIZE)
    diffs = [(batch["pixel_values"][i] - reference[e]).abs().mean().item() for i, e in enumerate(batch["embryo_id"])]
    assert all(d > 1e-3 for d in diffs) and all(math.isfinite(d) for d in diffs)


def test_augment_on_device_gives_the_loader_result(built):
    on_loader = ShardLoader(built, None, loader_cfg(), seed=4, rank=0, world_size=1)
    deferred = ShardLoader(built, None, loader_cfg(augment_on="device"), seed=4, rank=0, world_size=1)
    expected = list(on_loader.iter_epoch(1))[1]
    batch = list(deferred.iter_epoch(1))[1]
    assert not torch.allclose(batch["pixel_values"], expected["pixel_values"])  # not augmented yet
    batch = deferred.augment(batch, epoch=1, index=1)  # the trainer would move it to the GPU first
    assert torch.allclose(batch["pixel_values"], expected["pixel_values"], atol=1e-6)
