"""The pretraining objective of the one training loop (aivf/train/loop.py; the default is SupervisedObjective).

An objective tells the loop what to build (model + data), which batch keys the training forward takes, how to
evaluate, what to draw after an evaluation and what to write beside the best weights. Here: VideoMAE masked
autoencoding of the keyframe shards of one or more built datasets (``pretrain.datasets``).

Masks are part of the data: batch ``j`` of epoch ``e`` on rank ``r`` gets the tube mask seeded by
(seed, e, r, j), so a resumed run sees exactly the masks of an uninterrupted one (and ranks differ).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from accelerate.utils import send_to_device

from aivf.model.pretraining import EmbryoPretrainModel, patchify, pretraining_config, tube_mask, unpatchify

PRETRAIN_INPUTS = ("pixel_values", "keyframe_mask", "bool_masked_pos")


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([abs(int(p)) for p in parts]).generate_state(1)[0])


def dataset_paths(cfg) -> list[str]:
    """``pretrain.datasets``, else the run's one dataset (as ``aivf train`` finds it)."""
    if cfg.pretrain.datasets:
        paths = list(cfg.pretrain.datasets)
    else:
        path = cfg.train.dataset_path or cfg.dataset.output
        if "://" not in path and not Path(path).is_absolute() and not cfg.train.dataset_path:
            path = str(Path(cfg.output_dir) / cfg.name / path)
        paths = [path]
    for path in paths:
        if "://" not in path and not (Path(path) / "manifest.json").is_file():
            raise FileNotFoundError(f"{path}/manifest.json not found: build the dataset first (aivf build -c ...) "
                                    "or fix pretrain.datasets / train.dataset_path")
    return paths


class PretrainData:
    """:class:`aivf.train.loop.TrainData` over several built datasets, with a tube mask in every batch.

    Training: the ``<split>/train`` embryos of each dataset (its own splits.json), batches of the datasets
    interleaved in an order drawn from (seed, epoch, rank) in proportion to their sizes. Evaluation: the first
    ``eval_batches`` batches of the datasets' ``<split>/val`` parts, a multiple of the world size so that every
    rank runs the same number of forwards (ZeRO-3 gathers weights in each one).
    """

    def __init__(self, paths: list[str], split: str, loader_cfg, batch_size: int, seed: int, rank: int,
                 world_size: int, prefetch_batches: int, grid: tuple[int, int, int], mask_ratio: float,
                 eval_batches: int):
        from aivf.train.data import ShardTrainData

        self.sources = [ShardTrainData(path, split, loader_cfg, batch_size, seed + i, rank, world_size, 0)
                        for i, path in enumerate(paths)]
        shapes = {path: source.train_loader.shape for path, source in zip(paths, self.sources)}
        if len(set(shapes.values())) > 1:
            raise ValueError(f"pretrain.datasets have different keyframe shapes (K, planes, H, W) {shapes}: rebuild "
                             "them with the same data.keyframes settings, or pretrain on one shape")
        self.shape = next(iter(shapes.values()))
        self.paths, self.seed, self.rank, self.world_size = paths, seed, rank, world_size
        self.prefetch_batches, self.grid, self.mask_ratio = prefetch_batches, grid, mask_ratio
        self.eval_count = eval_batches

    def _with_mask(self, batch: dict, *seed: int) -> dict:
        generator = torch.Generator().manual_seed(_seed(self.seed, *seed))
        batch["bool_masked_pos"] = tube_mask(len(batch["embryo_id"]), self.grid, self.mask_ratio, generator)
        return batch

    def epoch_order(self, epoch: int) -> np.ndarray:
        """Which dataset each micro-batch of ``epoch`` comes from on this rank."""
        counts = [len(source.train_loader) for source in self.sources]
        order = np.concatenate([np.full(n, i) for i, n in enumerate(counts)]) if counts else np.zeros(0, int)
        return np.random.default_rng(_seed(self.seed, epoch, self.rank, 11)).permutation(order)

    def _mixed(self, epoch: int, skip: int) -> Iterator[dict]:
        order = self.epoch_order(epoch)
        streams = [source.train_loader.iter_epoch(epoch, skip_batches=int((order[:skip] == i).sum()))
                   for i, source in enumerate(self.sources)]
        for index in range(skip, len(order)):
            batch = next(streams[order[index]], None)
            if batch is not None:  # a dataset that ran short (it should not): its turns are passed over
                yield self._with_mask(batch, epoch, self.rank, index)

    def train_batches(self, epoch: int, skip: int) -> Iterator[dict]:
        from aivf.train.data import lockstep

        return lockstep(self._mixed(epoch, skip), self.prefetch_batches, self.world_size)

    def eval_batches(self) -> Iterator[dict]:
        def every() -> Iterator[dict]:
            for source in self.sources:
                yield from source.split_batches("val")

        taken = []
        for batch in every():
            if len(taken) == self.eval_count:
                break
            taken.append(batch)
        taken = taken[: len(taken) - len(taken) % self.world_size]  # the same count on every rank
        for i, batch in enumerate(taken):
            if i % self.world_size == self.rank:
                yield self._with_mask(batch, 10**6, i)  # fixed masks: evaluations compare


class PretrainObjective:
    """VideoMAE masked autoencoding (``aivf pretrain``); the members the loop calls, as SupervisedObjective."""

    inputs = PRETRAIN_INPUTS
    supports_refit = False

    def build(self, cfg, accelerator):
        config = pretraining_config(cfg.model, cfg.pretrain)
        paths = dataset_paths(cfg)
        model = EmbryoPretrainModel(config)
        k, planes, h, w = _shape_of(paths[0])
        if (k, planes, h) != (cfg.model.num_frames, cfg.model.channels, cfg.model.image_size):
            # the saved position grid must be the data's for VideoMAEForPreTraining to read the folder as trained
            raise ValueError(f"{paths[0]} holds keyframes (K={k}, planes={planes}, {h}x{w}) but the model is "
                             f"num_frames={cfg.model.num_frames}, channels={cfg.model.channels}, image_size="
                             f"{cfg.model.image_size}: set model.num_frames={k} model.channels={planes} "
                             f"model.image_size={h}")
        grid = model.token_grid(k, h, w)  # behind a conv stem a token still covers pixel_patch input pixels
        data = PretrainData(paths, cfg.train.split, cfg.dataset.loader, cfg.train.per_device_batch_size, cfg.seed,
                            accelerator.process_index, accelerator.num_processes, cfg.train.prefetch_batches, grid,
                            cfg.pretrain.mask_ratio, cfg.pretrain.eval_batches)
        self.picture_clips = cfg.pretrain.picture_clips
        return model, data

    @torch.no_grad()
    def evaluate(self, model, batches, accelerator) -> tuple[dict, dict]:
        """Mean masked-patch reconstruction loss over the evaluation batches of every rank (clip-weighted)."""
        model.eval()
        total = torch.zeros(2, device=accelerator.device)
        first = None
        for batch in batches:
            batch = send_to_device(batch, accelerator.device)
            out = model(**{k: batch[k] for k in PRETRAIN_INPUTS})
            n = len(batch["embryo_id"])
            total += torch.stack([out.loss.float() * n, torch.tensor(float(n), device=total.device)])
            if first is None:
                first = {"pixel_values": batch["pixel_values"].float().cpu(), "logits": out.logits.float().cpu(),
                         "bool_masked_pos": batch["bool_masked_pos"].cpu(), "keyframe_hpi": batch["keyframe_hpi"].cpu(),
                         "embryo_id": list(batch["embryo_id"])}
        model.train()
        total = accelerator.reduce(total, reduction="sum")
        clips = int(total[1].item())
        metrics = {"loss": float(total[0].item() / clips) if clips else float("nan"), "n_clips": clips}
        unwrapped = accelerator.unwrap_model(model)
        config = unwrapped.config
        return metrics, {"first": first, "tubelet": int(config.tubelet_size), "patch": unwrapped.pixel_patch,
                         "norm_pix_loss": bool(config.norm_pix_loss)}

    def log_eval(self, outputs: dict, tracker, step: int, run_dir: Path) -> None:
        """The reconstruction picture: ``<run>/reconstructions/step-N.png`` and W&B ``val/reconstruction``."""
        if outputs["first"] is None:
            return
        figure = reconstruction_figure(outputs, getattr(self, "picture_clips", 2))
        folder = Path(run_dir) / "reconstructions"
        folder.mkdir(parents=True, exist_ok=True)
        figure.savefig(folder / f"step-{step:07d}.png", dpi=100)
        tracker.log_figures({"val/reconstruction": figure}, step=step)

    def best_files(self, outputs: dict) -> dict:
        return {}


def _shape_of(path: str) -> tuple[int, ...]:
    from aivf.dataset.loader import read_manifest

    return tuple(read_manifest(path)[2]["keyframe_shape"])


def reconstruct(outputs: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(masked input, reconstruction, target) clips [B, K', C, H, W] from one evaluation batch.

    Masked patches are shown grey in the input; in the reconstruction they hold the prediction, brought back to
    pixels with the true patch's own mean and std when the loss normalised them (as in the VideoMAE paper's
    figures), and the visible patches are the input's.
    """
    first, tubelet, patch = outputs["first"], outputs["tubelet"], outputs["patch"]
    pixels = first["pixel_values"]
    pixels = pixels[:, : pixels.shape[1] // tubelet * tubelet]
    mask = first["bool_masked_pos"]
    patches = patchify(pixels, tubelet, patch)  # (B, N, L, C)
    b, n, length, c = patches.shape
    predicted = first["logits"].reshape(b, -1, length, c)
    if outputs["norm_pix_loss"]:
        masked_patches = patches[mask].reshape(b, -1, length, c)
        mean = masked_patches.mean(dim=-2, keepdim=True)
        std = masked_patches.var(dim=-2, unbiased=True, keepdim=True).sqrt() + 1e-6
        predicted = predicted * std + mean
    recon, shown = patches.clone(), patches.clone()
    recon[mask] = predicted.reshape(-1, length, c)
    shown[mask] = float(pixels.mean())  # masked: flat grey (a missing keyframe stays black)
    shape = tuple(pixels.shape)
    return unpatchify(shown, shape, tubelet, patch), unpatchify(recon, shape, tubelet, patch), pixels


def reconstruction_figure(outputs: dict, clips: int = 2, max_frames: int = 8):
    """Rows per clip: masked input, reconstruction, target; columns: keyframes (plane 0) with their hours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown, recon, target = reconstruct(outputs)
    clips = min(clips, shown.shape[0])
    frames = min(max_frames, shown.shape[1])
    lo, hi = float(target.min()), float(target.max())
    fig, axes = plt.subplots(3 * clips, frames, figsize=(1.2 * frames, 1.25 * 3 * clips), squeeze=False)
    hpi = outputs["first"]["keyframe_hpi"]
    for i in range(clips):
        for r, (name, clip) in enumerate((("masked", shown), ("recon", recon), ("target", target))):
            for j in range(frames):
                ax = axes[3 * i + r, j]
                ax.imshow(clip[i, j, 0].numpy(), cmap="gray", vmin=lo, vmax=hi)
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{float(hpi[i, j]):.0f}h", fontsize=6)
            axes[3 * i + r, 0].set_ylabel(f"{outputs['first']['embryo_id'][i]}\n{name}", fontsize=6)
    fig.tight_layout()
    return fig
