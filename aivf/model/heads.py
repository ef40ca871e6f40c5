"""Task heads, time and covariate embeddings, and the masked multi-task losses of EmbryoModel.

Missing labels are NaN. They are masked BEFORE the loss is computed (``NaN * 0`` is NaN), so a task
with no label in a batch contributes exactly zero loss and exactly zero gradient, while keeping every
parameter in the graph (DDP then needs no ``find_unused_parameters``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Order of the columns of ``labels`` and ``logits`` (docs/architecture.md, training batch contract).
TASKS: tuple[str, ...] = ("d3_fhb", "d5_fhb", "euploid")


class TimeEmbedding(nn.Module):
    """A learned embedding of hours post insemination, added to the temporal tokens.

    Sinusoidal features of ``hpi`` (periods from 1 h to ~1000 h, so cleavage-scale and day-scale
    timing are both resolvable) go through a two-layer MLP. The last layer starts at zero so that a
    pretrained backbone sees exactly its usual tokens at step 0.
    """

    def __init__(self, dim: int, num_frequencies: int = 16, max_period_h: float = 1024.0):
        super().__init__()
        # Plain attributes, not buffers: from_pretrained builds on the meta device and would leave
        # non-persistent buffers uninitialised.
        self.num_frequencies, self.max_period_h = num_frequencies, max_period_h
        self.mlp = nn.Sequential(nn.Linear(2 * num_frequencies, dim), nn.GELU(), nn.Linear(dim, dim))
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, hpi: torch.Tensor) -> torch.Tensor:
        """Args: hpi: [B, T] hours (finite). Returns: [B, T, dim]."""
        periods = torch.logspace(0, math.log10(self.max_period_h), self.num_frequencies, device=hpi.device)
        phase = hpi.unsqueeze(-1).float() * (2 * math.pi / periods)  # (B, T, F)
        features = torch.cat([phase.sin(), phase.cos()], dim=-1)
        # Under DeepSpeed bf16 the weights themselves are bf16 (no autocast): match them, after the
        # float32 phase computation, which keeps hour resolution that bf16 would lose.
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class MultiTaskHead(nn.Module):
    """Binary logits for the TASKS from a pooled video feature, optionally fused with covariates.

    ``concat`` appends the covariates to the feature; ``film`` lets them scale and shift it
    (``h * (1 + gamma) + beta``, started at identity). Maternal age carries most of the ploidy signal a
    video lacks, so the euploidy head in particular benefits from either.
    """

    def __init__(self, in_dim: int, num_tasks: int, num_covariates: int, fusion: str,
                 hidden_size: int, dropout: float):
        super().__init__()
        self.fusion = fusion if num_covariates > 0 else "none"
        self.num_covariates = num_covariates
        feat_dim = in_dim + (num_covariates if self.fusion == "concat" else 0)
        if self.fusion == "film":
            self.film = nn.Linear(num_covariates, 2 * in_dim)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
        self.dropout = nn.Dropout(dropout)
        if hidden_size > 0:
            self.mlp = nn.Sequential(nn.Linear(feat_dim, hidden_size), nn.GELU(), nn.Linear(hidden_size, num_tasks))
        else:
            self.mlp = nn.Linear(feat_dim, num_tasks)

    def forward(self, pooled: torch.Tensor, covariates: torch.Tensor | None) -> torch.Tensor:
        """Args: pooled: [B, D]; covariates: [B, num_covariates] or None (read as zeros). Returns [B, num_tasks]."""
        if self.fusion != "none":
            if covariates is None:
                covariates = pooled.new_zeros(pooled.shape[0], self.num_covariates)
            elif covariates.shape[-1] != self.num_covariates:
                raise ValueError(f"covariates has {covariates.shape[-1]} features but the model was built with "
                                 f"model.num_covariates={self.num_covariates}")
            # A missing covariate (NaN) reads as 0 = the standardised cohort mean.
            covariates = torch.nan_to_num(covariates.to(pooled.dtype), nan=0.0)
            if self.fusion == "concat":
                pooled = torch.cat([pooled, covariates], dim=-1)
            else:
                gamma, beta = self.film(covariates).chunk(2, dim=-1)
                pooled = pooled * (1 + gamma) + beta
        return self.mlp(self.dropout(pooled))


class SharedScoreHead(nn.Module):
    """One embryo-competence score read out once; each task rescales it and adds its own covariate terms.

    ``logit_t = scale_t * (w . h) + cov_t . covariates + bias_t``. Every label -- FHB after a day-5
    transfer, a PGT-A result -- then teaches the same ranking direction ``w``: about twice the labels of one
    task, which matters when only ~1 embryo in 4 has any outcome. Within one patient (same covariates)
    the sharing tasks rank embryos alike unless a scale turns negative.

    Tasks listed in ``score_of_task`` with another index read their own direction ``w_s`` instead: day-3
    FHB labels come from recordings that stop at the day-3 transfer, so their features are a different
    distribution, and sharing ``w`` with them bent the day-5 ranking (docs/training.md).
    """

    def __init__(self, in_dim: int, num_tasks: int, num_covariates: int, dropout: float,
                 score_of_task: list[int] | None = None):
        super().__init__()
        self.num_covariates = num_covariates
        self.score_of_task = list(score_of_task) if score_of_task is not None else [0] * num_tasks
        if len(self.score_of_task) != num_tasks:
            raise ValueError(f"score_of_task has {len(self.score_of_task)} entries for {num_tasks} tasks")
        self.dropout = nn.Dropout(dropout)
        self.score = nn.Linear(in_dim, max(self.score_of_task) + 1, bias=False)
        self.scale = nn.Parameter(torch.ones(num_tasks))
        self.covariates = nn.Linear(max(num_covariates, 1), num_tasks)  # its bias is each task's base rate

    def forward(self, pooled: torch.Tensor, covariates: torch.Tensor | None) -> torch.Tensor:
        """Args: pooled: [B, D]; covariates: [B, num_covariates] or None (read as zeros). Returns [B, num_tasks]."""
        width = self.covariates.in_features
        if covariates is None or self.num_covariates == 0:
            covariates = pooled.new_zeros(pooled.shape[0], width)
        elif covariates.shape[-1] != self.num_covariates:
            raise ValueError(f"covariates has {covariates.shape[-1]} features but the model was built with "
                             f"model.num_covariates={self.num_covariates}")
        covariates = torch.nan_to_num(covariates.to(pooled.dtype), nan=0.0)
        scores = self.score(self.dropout(pooled))[:, self.score_of_task]  # (B, T): each task's direction
        return scores * self.scale + self.covariates(covariates)


def score_of_task(tasks: list[str], separate: list[str]) -> list[int]:
    """Score index of each task: the sharing tasks read score 0, each separate task a score of its own."""
    next_index = 1 if any(t not in separate for t in tasks) else 0
    index = []
    for task in tasks:
        if task in separate:
            index.append(next_index)
            next_index += 1
        else:
            index.append(0)
    return index


def masked_bce_per_task(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean binary cross-entropy of each task over its labelled rows.

    Args:
        logits: [B, T] raw scores.
        labels: [B, T] in {0, 1} (soft targets allowed), NaN where missing.

    Returns:
        (losses [T], has_label [T] bool). A task without labels has loss exactly 0 and zero gradient.
    """
    mask = ~torch.isnan(labels)
    targets = torch.where(mask, labels, torch.zeros_like(labels)).to(logits.dtype)  # no NaN enters the loss
    elementwise = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    elementwise = elementwise * mask.to(logits.dtype)
    counts = mask.sum(dim=0)
    return elementwise.sum(dim=0) / counts.clamp(min=1).to(logits.dtype), counts > 0


def masked_phase_loss(phase_logits: torch.Tensor, phase_labels: torch.Tensor,
                      keyframe_mask: torch.Tensor | None) -> torch.Tensor:
    """Cross-entropy over labelled, present keyframes; exactly 0 (with zero gradient) when none is labelled.

    Args:
        phase_logits: [B, K, P]; phase_labels: [B, K] long, -100 = no label; keyframe_mask: [B, K] bool or None.
    """
    labels = phase_labels.long()
    if keyframe_mask is not None:
        labels = labels.masked_fill(~keyframe_mask.bool(), -100)
    total = F.cross_entropy(phase_logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="sum")
    return total / (labels != -100).sum().clamp(min=1).to(total.dtype)


class TaskWeighting(nn.Module):
    """Combine per-task losses with fixed weights or learned homoscedastic uncertainty (Kendall et al., 2018).

    Uncertainty weighting: ``sum_j exp(-s_j) * L_j + s_j / 2`` with learned ``s_j = log sigma_j^2``.
    Tasks without a label in the batch are left out entirely (their ``s_j`` term too), so they add
    neither loss nor gradient.
    """

    def __init__(self, mode: str, weights: list[float]):
        super().__init__()
        self.mode = mode
        self.weights = [float(w) for w in weights]  # a list, not a buffer (see TimeEmbedding)
        if mode == "uncertainty":
            self.log_vars = nn.Parameter(torch.zeros(len(weights)))

    def forward(self, losses: torch.Tensor, has_label: torch.Tensor) -> torch.Tensor:
        """Args: losses: [T]; has_label: [T] bool. Returns the scalar total."""
        present = has_label.to(losses.dtype)
        if self.mode == "uncertainty":
            terms = torch.exp(-self.log_vars) * losses + 0.5 * self.log_vars
        else:
            terms = losses.new_tensor(self.weights) * losses
        return (terms * present).sum()
