"""Settings of the training loop (aivf.train): optimiser, schedule, precision, evaluation, checkpoints, tracking.

Launch topology (processes, DeepSpeed ZeRO stage, machines) is NOT here: it belongs to the
``accelerate launch`` config file (configs/accelerate/*.yaml). This section only says what one
run must do, plus ``expected_world_size`` so that a launch that silently ran one process fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from aivf.dataset.config import CLINIC_LABEL_FRACTION

REFIT_L2_GRID: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # L2 strengths the head refit tries by default


@dataclass
class LabelsConfig:
    """Which outcome labels (d3_fhb, d5_fhb, euploid) the TRAINING patients carry (aivf/dataset/labels.py).

    ``fraction`` is the share of ALL training embryos that carry an outcome label, not a share of the recorded
    labels. A clinic records an outcome only for a transferred (FHB) or biopsied (PGT-A) embryo: about one
    embryo in four in the simulator (27.8% of seed 0's 2,514; 92% of its patients have at least one), so:

    - 0.25, the default, is the clinic default: the labels as recorded, whatever share that is (nothing changes);
    - a value below 0.25 keeps the recorded labels of whole training patients, drawn in an order fixed by
      ``seed``, until about that share of the training embryos is labelled; the other training patients' outcome
      labels become missing (their clinic records and phase annotations stay: a clinic has those for every embryo);
    - 1.0 ("100%, simulation only") labels every training embryo with its potential outcome from the simulator's
      truth.csv: FHB had it been transferred (``fhb_potential``, for d3_fhb and d5_fhb) and ``ploidy == euploid``,
      the outcomes aivf evaluate judges every embryo on. Refused where there is no truth file (real data).

    Other values are refused. Validation and test labels never change, so evaluation is that of any run.
    """

    fraction: float = CLINIC_LABEL_FRACTION  # 0.25: as recorded; (0, 0.25): fewer patients' labels; 1.0: truth.csv
    seed: int = 0  # which training patients keep their labels when fraction < 0.25 (same seed, same patients)
    truth_csv: str = ""  # fraction 1.0: the simulator's truth.csv; empty = truth.csv beside the run's clinical CSV


@dataclass
class TrainConfig:
    """One training run: AdamW + warmup + cosine, accumulation, clipping, EMA, eval, best/early stop, resume."""

    dataset_path: str = ""  # built dataset (aivf build); empty: <output_dir>/<name>/<dataset.output>
    split: str = "kfold/0"  # "<scheme>/<fold>" of splits.json: trains on <split>/train, evaluates on <split>/val
    labels: LabelsConfig = field(default_factory=LabelsConfig)  # outcome-label fraction of the training patients
    prefetch_batches: int = 4  # training batches read ahead in a background thread (0: read in the loop)
    max_steps: int = 1000  # optimizer steps (one step = per_device_batch_size x grad_accum_steps x processes clips)
    per_device_batch_size: int = 8  # clips per forward pass on one process (overrides dataset.loader.batch_size)
    grad_accum_steps: int = 1  # micro-batches accumulated before each optimizer step
    lr: float = 1e-4  # peak learning rate of AdamW, reached after warmup
    min_lr_ratio: float = 0.0  # the cosine decays to lr x min_lr_ratio at max_steps
    # The task heads are a linear read-out trained on few labels: a larger step lets them keep up with the backbone.
    head_lr_scale: float = 1.0  # the heads' (heads.*) learning rate = lr x this
    warmup_steps: int = 50  # linear warmup from 0 over this many optimizer steps
    weight_decay: float = 0.05  # AdamW decoupled weight decay (not applied to biases and norms)
    beta1: float = 0.9  # AdamW first-moment decay
    beta2: float = 0.999  # AdamW second-moment decay
    grad_clip: float = 1.0  # clip the global gradient norm to this (0: no clipping)
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # auto: bf16 on GPUs that have it, else fp16 on GPU, no on CPU
    # After the last step, refit the (linear) task heads on frozen features: full-batch L2 logistic regression,
    # strength chosen on the validation split (aivf/train/refit.py). For when outcome labels are scarce.
    refit_heads: bool = False
    # L2 strengths tried by the refit (the one with the lowest validation loss is kept); one value = fixed.
    # The validation loss mostly scores between-patient calibration: on the main job it picked 1e-2, which
    # shrank away the within-cohort ranking that 1e-4 kept (docs/training.md, "Scarce labels").
    refit_l2: list[float] = field(default_factory=lambda: list(REFIT_L2_GRID))
    refit_bags: int = 0  # > 0: average this many fits on bootstrap resamples of the training labels (less variance)
    # Shared-score heads: then refit each task's scale and age/ICSI terms on the validation split with the score
    # direction fixed. The order inside a cohort stays; the mix across patients and the calibration improve.
    refit_scale_on_val: bool = False
    ema_decay: float = 0.0  # exponential moving average of weights (e.g. 0.999); 0 disables EMA
    eval_with_ema: bool = True  # evaluate (and keep as best) the EMA weights when EMA is on
    eval_every: int = 100  # evaluate every N optimizer steps (and at the end); 0: only at the end
    best_metric: str = "auc_mean"  # validation metric that picks the best checkpoint (auc_mean, auc_<task>, loss)
    best_mode: Literal["max", "min"] = "max"  # whether a larger or a smaller best_metric is better
    early_stop_patience: int = 0  # stop after this many evaluations without improvement; 0 disables
    save_every: int = 100  # save a resumable checkpoint every N optimizer steps; 0: only at the end
    keep_last: int = 2  # resumable checkpoints kept on disk (older ones are deleted)
    resume: str = ""  # "" start fresh; "auto" latest checkpoint of this run if any; or a checkpoint folder path
    # The loss stays on the device between logs: the only host sync of the loop is this log (docs/gpu.md).
    log_every: int = 10  # log train loss / lr / grad norm every N optimizer steps
    # torch.compile the model in place (same state-dict keys); the first steps compile (minutes for a large
    # model, and again for each new input shape). Pays off on GPUs, where small kernels are launch-bound.
    compile: bool = False
    # torch's fused AdamW (one kernel over all parameters) where it runs: CUDA, not under DeepSpeed, which steps
    # the optimizer on its own flat partitions. Elsewhere the default AdamW, said once at start.
    fused_adamw: bool = True
    expected_world_size: int = 0  # fail unless exactly this many processes run (0: do not check)
    tracker: Literal["wandb", "none"] = "wandb"  # experiment tracker besides the local metrics.jsonl
    wandb_project: str = "aivf"  # W&B project name
    wandb_mode: Literal["auto", "offline", "online", "disabled"] = "auto"  # auto: WANDB_MODE if set, online if logged in, else offline
    log_images: bool = True  # log ROC/calibration plots at eval and a keyframe strip of the first batch
    step_delay_s: float = 0.0  # testing only: sleep after each optimizer step so a test can kill a run mid-way
