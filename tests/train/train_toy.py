"""A tiny model and in-memory cohort with the real batch contract, for testing the loop without video.

Also a script: ``python tests/train/train_toy.py [--dropout P] key=value ...`` trains the toy with
``aivf.train.loop.train`` (used by the multi-process and kill/resume tests through real launchers).
"""

from __future__ import annotations

import argparse
from types import SimpleNamespace

import numpy as np
import torch
from accelerate import PartialState
from torch import nn


class ToyModel(nn.Module):
    """pixel_values (B, K, C, H, W) -> logits (B, 3), with the EmbryoModel forward signature."""

    def __init__(self, frames: int = 4, size: int = 8, dropout: float = 0.0):
        super().__init__()
        self.proj = nn.Linear(frames * size * size, 16)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(16 + 2, 3)

    def forward(self, pixel_values, keyframe_hpi=None, covariates=None, labels=None, keyframe_mask=None):
        h = self.drop(torch.tanh(self.proj(pixel_values.flatten(1))))
        logits = self.head(torch.cat([h, covariates], dim=1))  # (B, 3)
        loss = None
        if labels is not None:
            seen = ~torch.isnan(labels)
            per = nn.functional.binary_cross_entropy_with_logits(logits, torch.nan_to_num(labels), reduction="none")
            loss = ((per * seen).sum(0) / seen.sum(0).clamp(min=1)).sum()
        return SimpleNamespace(loss=loss, logits=logits)


class ToyData:
    """A seeded in-memory cohort; epoch order depends only on (seed, epoch); rank r takes micro-batches r, r+W, ..."""

    def __init__(self, n_train: int = 64, n_eval: int = 24, batch_size: int = 4, frames: int = 4, size: int = 8,
                 seed: int = 0):
        rng = np.random.default_rng(seed)
        self.batch_size, self.seed = batch_size, seed
        self.train = self._make(rng, n_train, frames, size, "T")
        self.eval = self._make(rng, n_eval, frames, size, "V")

    @staticmethod
    def _make(rng, n, frames, size, prefix):
        x = rng.normal(size=(n, frames, 1, size, size)).astype(np.float32)
        score = x[:, :, 0, :2, :2].mean(axis=(1, 2, 3)) * 4
        labels = (score[:, None] + rng.normal(size=(n, 3)) > 0).astype(np.float32)
        labels[rng.random((n, 3)) < 0.2] = np.nan  # missing labels, as in the real cohort
        return {"pixel_values": torch.from_numpy(x), "keyframe_hpi": torch.linspace(20, 110, frames).repeat(n, 1),
                "keyframe_mask": torch.ones(n, frames, dtype=torch.bool),
                "covariates": torch.from_numpy(rng.normal(size=(n, 2)).astype(np.float32)),
                "labels": torch.from_numpy(labels), "embryo_id": [f"{prefix}{i}" for i in range(n)]}

    def _batch(self, part, idx):
        return {k: ([v[i] for i in idx] if isinstance(v, list) else v[idx]) for k, v in part.items()}

    def train_batches(self, epoch: int, skip: int):
        state = PartialState()
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.train["labels"]))
        chunks = [order[i:i + self.batch_size] for i in range(0, len(order) - self.batch_size + 1, self.batch_size)]
        chunks = chunks[: len(chunks) - len(chunks) % state.num_processes]  # equal count on every rank
        for chunk in chunks[state.process_index::state.num_processes][skip:]:
            yield self._batch(self.train, torch.from_numpy(chunk))

    def eval_batches(self):
        state = PartialState()
        n = len(self.eval["labels"])
        starts = list(range(0, n, self.batch_size))[state.process_index::state.num_processes]
        for s in starts:
            yield self._batch(self.eval, torch.arange(s, min(s + self.batch_size, n)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    from aivf.config import load_config
    from aivf.train.loop import train

    cfg = load_config(None, args.overrides)
    torch.manual_seed(cfg.seed)  # same initial weights in every run being compared
    train(cfg, model=ToyModel(dropout=args.dropout), data=ToyData(batch_size=cfg.train.per_device_batch_size))


if __name__ == "__main__":
    main()
