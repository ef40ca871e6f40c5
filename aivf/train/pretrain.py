"""``aivf pretrain`` and ``accelerate launch -m aivf.train.pretrain``: VideoMAE masked-autoencoder pretraining.

The run goes through the supervised loop (aivf/train/loop.py: accumulation, exact resume, EMA, DeepSpeed,
W&B, sweeps) with another objective (aivf/train/objectives.py); the model is transformers'
VideoMAEForPreTraining (aivf/model/pretraining.py). Its ``final/`` and ``best/`` folders are what
``model.pretrained`` of a fine-tuning config points at. docs/training.md, "Self-supervised pretraining".

Light at import: the config dataclasses and the CLI only; torch is imported inside ``run``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

from aivf.config import ExperimentConfig
from aivf.train.config import TrainConfig


@dataclass
class PretrainConfig:
    """What ``aivf pretrain`` learns from and how: datasets, masking, the decoder, evaluation pictures."""

    # Built datasets (aivf build) mixed for pretraining; each contributes the <train.split>/train embryos of its own
    # splits.json (never val/test patients) and evaluates on its <train.split>/val. Empty: train.dataset_path,
    # else <output_dir>/<name>/<dataset.output>. All must share one keyframe shape (K, planes, H, W).
    datasets: list[str] = field(default_factory=list)
    mask_ratio: float = 0.9  # share of each keyframe's patches hidden (tube masking: the same patches at every step)
    norm_pix_loss: bool = True  # targets: each patch's pixels normalised by its own mean and std (VideoMAE)
    decoder_hidden_size: int = 0  # width of the (discarded) decoder; 0: half the encoder's
    decoder_layers: int = 4  # decoder transformer layers (VideoMAE: 4)
    decoder_heads: int = 0  # decoder attention heads; 0: decoder_hidden_size // 64 (at least 1)
    eval_batches: int = 8  # validation micro-batches per evaluation (taken in order from every dataset's val part)
    picture_clips: int = 2  # clips in the reconstruction picture of each evaluation (PNG + W&B)


@dataclass
class PretrainExperimentConfig(ExperimentConfig):
    """The experiment config plus a ``pretrain`` section; the best checkpoint is the lowest validation loss."""

    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(best_metric="loss", best_mode="min"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aivf.train.cli import add_arguments as add_train_arguments

    add_train_arguments(parser)


def load_pretrain_config(files, overrides: list[str]) -> PretrainExperimentConfig:
    from aivf.config import ConfigError, load_config
    from aivf.train.cli import sweep_args_to_overrides

    cfg = load_config(files, sweep_args_to_overrides(overrides), schema=PretrainExperimentConfig)
    if not 0.0 < cfg.pretrain.mask_ratio < 1.0:
        raise ConfigError(f"pretrain.mask_ratio={cfg.pretrain.mask_ratio}: give a share strictly between 0 and 1 "
                          "(VideoMAE: 0.9)")
    if cfg.train.best_metric != "loss":
        raise ConfigError(f"train.best_metric={cfg.train.best_metric!r}: pretraining reports only the validation "
                          "reconstruction 'loss'; set train.best_metric=loss train.best_mode=min")
    if cfg.train.refit_heads:
        raise ConfigError("train.refit_heads: the pretraining model has no task heads; set it false")
    return cfg


def run(args: argparse.Namespace) -> int:
    cfg = load_pretrain_config(args.config, args.overrides)
    if os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        cfg.name = f"{cfg.name}-{os.environ['WANDB_RUN_ID']}"  # one run folder per sweep trial
    if args.dry_run:
        from aivf.train.cli import dry_run

        return dry_run(cfg, args.overrides)
    from aivf.train.loop import train
    from aivf.train.objectives import PretrainObjective

    result = train(cfg, objective=PretrainObjective())
    print(f"done: {result['step']} steps, best validation reconstruction loss {result['best']}, run "
          f"{result['run_dir']} (model.pretrained: {result['run_dir']}/final)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aivf.train.pretrain", description=__doc__.splitlines()[0])
    add_arguments(parser)
    from aivf.train.cli import sweep_args_to_overrides

    args = parser.parse_intermixed_args(sweep_args_to_overrides(sys.argv[1:] if argv is None else argv))
    from aivf.config import ConfigError

    try:
        return run(args)
    except ConfigError as err:
        print(f"aivf pretrain: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
