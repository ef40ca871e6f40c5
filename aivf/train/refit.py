"""Refit the task heads on frozen features after training: full batch, L2 penalty chosen on validation.

Why: about one embryo in four has an outcome label (FHB of a transferred embryo, PGT-A of a biopsied
one), so a training batch of 16 holds ~4 labels per task. Adam on such gradients leaves even a linear
read-out far from its optimum: in the main job the in-loop heads ranked a cohort's blastocysts no better
than chance while a logistic regression on the same frozen features did (docs/training.md). Once the
backbone is trained, the heads are a small convex problem on fixed features; this solves it properly:

    minimise  sum_t mean_i BCE(head(x_i)_t, y_it)  +  l2 * ||scaled head weights||^2

over the labelled training embryos with L-BFGS, for each ``l2`` in a grid, and keeps the one with the
lowest validation loss. Weights are penalised as if the features were standardised (each input weight is
scaled by its feature's SD), so rare phases are not penalised more than common ones.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from aivf.model.heads import MultiTaskHead, SharedScoreHead, masked_bce_per_task
from aivf.train.config import REFIT_L2_GRID as L2_GRID

INPUTS = ("pixel_values", "keyframe_hpi", "keyframe_mask", "covariates")
# A task is refitted only with at least this many training labels, this many of each class: on fewer, a weakly
# penalised logistic fit separates them perfectly and its weights run off (the walkthrough's 7 day-3 labels
# gave a validation loss of 2.03 -> 1078, then NaN). Such a task keeps the terms the loop trained.
MIN_LABELS, MIN_PER_CLASS = 20, 5


class RefitError(ValueError):
    """The heads cannot be refitted (kind of head, or no labels); says what to change."""


@torch.no_grad()
def head_inputs(model: nn.Module, batches: Iterable[dict]) -> dict[str, torch.Tensor]:
    """What the heads read for every embryo of ``batches``: features [N, F], covariates [N, C], labels [N, T]."""
    model.eval()
    feats, covs, labels = [], [], []
    for batch in batches:
        out = model(**{k: batch[k] for k in INPUTS if k in batch})
        feats.append(out.head_features.float())
        covs.append(batch["covariates"].float())
        labels.append(batch["labels"].float())
    return {"features": torch.cat(feats), "covariates": torch.cat(covs), "labels": torch.cat(labels)}


def snapshot(heads: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the heads' parameters (to restore, compare or average fits)."""
    return {k: v.detach().clone() for k, v in heads.state_dict().items()}


def check_linear(heads: nn.Module) -> None:
    """Raise RefitError unless ``heads`` is a kind this module can solve."""
    linear = isinstance(heads, SharedScoreHead) or (isinstance(heads, MultiTaskHead) and isinstance(
        heads.mlp, nn.Linear) and heads.fusion in ("none", "concat"))
    if not linear:
        raise RefitError("train.refit_heads needs linear heads: model.task_head=shared_score, or separate heads with "
                     "model.head_hidden_size=0 and covariate_fusion none/concat")


def _penalised_weights(heads: nn.Module, feature_sd: torch.Tensor) -> list[torch.Tensor]:
    """The weights the L2 term sees, each input column scaled by its feature's SD (covariates are standardised)."""
    if isinstance(heads, SharedScoreHead):
        return [heads.score.weight * feature_sd, heads.covariates.weight, heads.scale - 1.0]
    n = feature_sd.numel()
    return [heads.mlp.weight[:, :n] * feature_sd, heads.mlp.weight[:, n:]]


def _loss(heads: nn.Module, data: dict[str, torch.Tensor]) -> torch.Tensor:
    losses, _ = masked_bce_per_task(heads(data["features"], data["covariates"]), data["labels"])
    return losses.sum()


def fit_heads(heads: nn.Module, train: dict[str, torch.Tensor], l2: float, max_iter: int = 200) -> float:
    """Minimise the penalised training loss in place (L-BFGS, full batch); returns the final training loss."""
    sd = train["features"].std(dim=0).clamp(min=1e-3)
    params = [p for p in heads.parameters() if p.requires_grad]
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        penalty = sum((w ** 2).sum() for w in _penalised_weights(heads, sd))
        total = _loss(heads, train) + l2 * penalty
        total.backward()
        return total

    heads.train(False)  # no dropout while solving
    optimizer.step(closure)
    with torch.no_grad():
        return float(_loss(heads, train))


def canonical_state(heads: nn.Module) -> dict[str, torch.Tensor]:
    """The heads' parameters with each shared score direction carrying its first task's scale.

    ``scale_t * w`` is what a task's logit sees; folding the first task's scale into ``w`` makes the
    average of several fits give exactly the average of that task's logits (the day-5 score ranks).
    """
    state = snapshot(heads)
    if isinstance(heads, SharedScoreHead):
        for score in range(state["score.weight"].shape[0]):
            users = [t for t, s in enumerate(heads.score_of_task) if s == score]
            ref = state["scale"][users[0]].clone() if users else torch.tensor(0.0)
            if ref.abs() > 1e-6:
                state["score.weight"][score] *= ref
                state["scale"][users] /= ref
    return state


def fit_bagged(heads: nn.Module, train: dict[str, torch.Tensor], l2: float, bags: int, seed: int = 0) -> None:
    """Average of ``bags`` fits on bootstrap resamples of the training embryos (in place).

    A weakly penalised fit on ~400 labels is a high-variance estimate: on five main-job backbones one fit's
    within-cohort rank agreement with the Bayes posterior ranged 0.11-0.37 (mean 0.29), the average of 30
    fits 0.24-0.43 (mean 0.36).
    """
    start = snapshot(heads)
    generator = torch.Generator().manual_seed(seed)
    n = train["labels"].shape[0]
    fits = []
    for _ in range(bags):
        rows = torch.randint(n, (n,), generator=generator).to(train["labels"].device)
        heads.load_state_dict(start)
        fit_heads(heads, {k: v[rows] for k, v in train.items()}, l2)
        fits.append(canonical_state(heads))
    heads.load_state_dict({k: torch.stack([f[k] for f in fits]).mean(0) for k in fits[0]})


def fit_scale_on_validation(heads: SharedScoreHead, val: dict[str, torch.Tensor], penalty: float = 1e-3) -> list[bool]:
    """Refit each task's scale and covariate terms on validation with the score directions fixed (in place).

    A weakly penalised direction ranks a patient's embryos well but is overconfident, and its size
    against the age terms decides how patients mix in a pooled AUC. Covariates are patient-level and the
    scale keeps its sign, so the order inside every cohort is unchanged; only that mix and the calibration
    move. Returns, per task, whether it had both classes on validation (tasks without keep their terms).
    """
    labels = val["labels"]
    known = ~torch.isnan(labels)
    fitted = [bool(((labels == 1) & known)[:, t].any() and ((labels == 0) & known)[:, t].any())
              for t in range(labels.shape[1])]
    fixed = snapshot(heads)
    sign = torch.where(fixed["scale"] < 0, -1.0, 1.0)
    log_scale = fixed["scale"].abs().clamp(min=1e-3).log().requires_grad_(True)
    weight = fixed["covariates.weight"].clone().requires_grad_(True)
    bias = fixed["covariates.bias"].clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([log_scale, weight, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        params = {**fixed, "scale": sign * log_scale.exp(), "covariates.weight": weight, "covariates.bias": bias}
        logits = torch.func.functional_call(heads, params, (val["features"], val["covariates"]))
        losses, _ = masked_bce_per_task(logits, labels)
        total = losses.sum() + penalty * (log_scale ** 2).sum()  # keeps a task with separable labels finite
        total.backward()
        return total

    heads.train(False)
    optimizer.step(closure)
    keep = torch.tensor(fitted)
    with torch.no_grad():
        heads.scale.copy_(torch.where(keep, sign * log_scale.exp(), fixed["scale"]))
        heads.covariates.weight.copy_(torch.where(keep[:, None], weight, fixed["covariates.weight"]))
        heads.covariates.bias.copy_(torch.where(keep, bias, fixed["covariates.bias"]))
    return fitted


def refittable_tasks(labels: torch.Tensor, min_labels: int = MIN_LABELS, min_per_class: int = MIN_PER_CLASS
                     ) -> list[bool]:
    """Per task: enough training labels (``min_labels`` in all, ``min_per_class`` of each class) to refit it."""
    known = ~torch.isnan(labels)
    positives = ((labels == 1) & known).sum(0)
    negatives = ((labels == 0) & known).sum(0)
    return [bool(n >= min_labels and p >= min_per_class and q >= min_per_class)
            for n, p, q in zip(known.sum(0).tolist(), positives.tolist(), negatives.tolist())]


def restore_tasks(heads: nn.Module, start: dict[str, torch.Tensor], tasks: list[int]) -> None:
    """Put back the own terms of ``tasks`` (and a score direction only they read) from ``start`` (in place)."""
    if not tasks:
        return
    state = snapshot(heads)
    if isinstance(heads, SharedScoreHead):
        for key in ("scale", "covariates.weight", "covariates.bias"):
            state[key][tasks] = start[key][tasks]
        for score in set(heads.score_of_task):
            readers = [t for t, s in enumerate(heads.score_of_task) if s == score]
            if all(t in tasks for t in readers):
                state["score.weight"][score] = start["score.weight"][score]
    else:
        state["mlp.weight"][tasks] = start["mlp.weight"][tasks]
        state["mlp.bias"][tasks] = start["mlp.bias"][tasks]
    heads.load_state_dict(state)


def _finite(heads: nn.Module) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in heads.state_dict().values())


def refit_heads(model: nn.Module, train_batches: Iterable[dict], val_batches: Iterable[dict],
                grid: Sequence[float] = L2_GRID, bags: int = 0, scale_on_val: bool = False,
                min_labels: int = MIN_LABELS, min_per_class: int = MIN_PER_CLASS) -> dict:
    """Refit ``model.heads`` on the training split's labels, ``l2`` chosen by validation loss.

    With ``bags`` > 0 each ``l2`` gets the average of that many bootstrap fits (``fit_bagged``). With
    ``scale_on_val`` (shared-score heads only) the chosen fit's scales and covariate terms are then refitted
    on validation (``fit_scale_on_validation``); ``val_loss_after`` is measured after that step.

    Returns:
        A report: chosen ``l2``, validation loss per ``l2``, the number of labels per task used, and the
        validation loss of the heads as trained in the loop (``val_loss_before``).

        With no task that has enough labels (``refittable_tasks``) the heads are left as they are and the
        report says ``skipped``. A task with too few labels is left out of the fit (``refused``) and keeps
        its own terms (only the penalty moves them). A fit that yields a non-finite weight or validation
        loss is discarded and the heads stay as trained (``skipped`` says so): a refit never writes NaN.

    Raises:
        RefitError: the heads are not linear.
    """
    check_linear(model.heads)  # before the feature pass over two splits
    train, val = head_inputs(model, train_batches), head_inputs(model, val_batches)
    # Solve in float32 on a copy (under DeepSpeed bf16 the module itself is bf16), then copy back.
    heads = copy.deepcopy(model.heads).float().to(train["features"].device)
    counts = (~torch.isnan(train["labels"])).sum(0).tolist()
    usable = refittable_tasks(train["labels"], min_labels, min_per_class)
    refused = [t for t, ok in enumerate(usable) if not ok]
    if not any(usable):
        return {"skipped": f"no task has {min_labels} training labels with {min_per_class} of each class",
                "l2": None, "train_labels_per_task": counts, "refused": refused}
    for split in (train, val):  # refused tasks leave the fit: their labels would only be memorised
        split["labels"][:, refused] = float("nan")
    start = snapshot(heads)
    with torch.no_grad():
        before = float(_loss(heads, val))
    results = {}
    for l2 in sorted(grid, reverse=True):  # ties (e.g. no validation label) go to the strongest penalty
        heads.load_state_dict(start)
        if bags > 0:
            fit_bagged(heads, train, l2, bags)
        else:
            fit_heads(heads, train, l2)
        with torch.no_grad():
            results[l2] = (float(_loss(heads, val)), snapshot(heads))
    finite = {l2: r for l2, r in results.items() if math.isfinite(r[0])}
    best = min(finite, key=lambda l2: finite[l2][0]) if finite else None
    heads.load_state_dict(finite[best][1] if best is not None else start)
    after = finite[best][0] if best is not None else before
    scaled_on_val = None
    if scale_on_val and isinstance(heads, SharedScoreHead) and best is not None:
        scaled_on_val = fit_scale_on_validation(heads, val)
        with torch.no_grad():
            after = float(_loss(heads, val))
    restore_tasks(heads, start, refused)
    if not _finite(heads) or not math.isfinite(after):
        return {"skipped": "the refit gave non-finite weights or validation loss", "l2": None,
                "train_labels_per_task": counts, "refused": refused}
    model.heads.load_state_dict(heads.state_dict())  # cast back to the model's dtype
    return {"l2": best, "refused": refused, "bags": bags, "val_loss_by_l2": {str(k): v[0] for k, v in results.items()},
            "val_loss_before": before, "train_labels_per_task": [int(c) for c in counts],
            "val_labels_per_task": [int(c) for c in (~torch.isnan(val["labels"])).sum(0).tolist()],
            "scale_fitted_on_val": scaled_on_val, "val_loss_after": after}

