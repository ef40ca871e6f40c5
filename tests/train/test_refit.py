"""Head refit on frozen features: recovers a known linear signal from sparse labels, picks l2 on validation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from aivf.model.heads import MultiTaskHead, SharedScoreHead
from aivf.train import refit as refit_module
from aivf.train.refit import RefitError, canonical_state, fit_scale_on_validation, refit_heads

TRUE_W = torch.tensor([2.0, -1.0, 0.0, 0.0, 0.0])


class FrozenFeatures(nn.Module):
    """A stand-in backbone whose head features ARE the batch's pixel_values (a [B, 5] table)."""

    def __init__(self, heads: nn.Module):
        super().__init__()
        self.heads = heads

    def forward(self, pixel_values, covariates=None, **_):
        return SimpleNamespace(head_features=pixel_values, logits=self.heads(pixel_values, covariates))


def sparse_batches(n: int, seed: int, batch: int = 50) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g) * torch.tensor([1.0, 3.0, 0.5, 1.0, 1.0])  # unequal feature scales
    logit = (x @ TRUE_W)[:, None] * torch.tensor([1.0, 0.7, 0.4]) + torch.tensor([-0.5, 0.5, 0.0])
    labels = (torch.rand(n, 3, generator=g) < torch.sigmoid(logit)).float()
    labels[torch.rand(n, 3, generator=g) < 0.75] = float("nan")  # ~1 label in 4, as in the cohorts
    cov = torch.zeros(n, 2)
    return [{"pixel_values": x[i:i + batch], "covariates": cov[i:i + batch], "labels": labels[i:i + batch]}
            for i in range(0, n, batch)]


def test_refit_recovers_the_shared_direction_and_lowers_validation_loss():
    torch.manual_seed(0)
    model = FrozenFeatures(SharedScoreHead(5, 3, 2, dropout=0.1))
    report = refit_heads(model, sparse_batches(800, 1), sparse_batches(400, 2))
    w = model.heads.score.weight.detach()[0] * model.heads.scale.detach()[0]
    assert torch.cosine_similarity(w, TRUE_W, dim=0) > 0.95
    assert report["val_loss_after"] < report["val_loss_before"]
    assert report["l2"] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0) and len(report["val_loss_by_l2"]) == 5
    assert report["val_loss_after"] == min(report["val_loss_by_l2"].values())
    assert all(150 < n < 250 for n in report["train_labels_per_task"])


def test_refit_works_for_separate_linear_heads_and_refuses_an_mlp():
    torch.manual_seed(0)
    model = FrozenFeatures(MultiTaskHead(5, 3, 2, "concat", hidden_size=0, dropout=0.0))
    report = refit_heads(model, sparse_batches(800, 1), sparse_batches(400, 2))
    assert report["val_loss_after"] < report["val_loss_before"]
    assert torch.cosine_similarity(model.heads.mlp.weight.detach()[0, :5], TRUE_W, dim=0) > 0.9
    with pytest.raises(RefitError, match="linear heads"):
        refit_heads(FrozenFeatures(MultiTaskHead(5, 3, 2, "concat", hidden_size=4, dropout=0.0)),
                    sparse_batches(100, 1), sparse_batches(100, 2))


def test_refit_without_any_training_label_leaves_the_heads_alone():
    model = FrozenFeatures(SharedScoreHead(5, 3, 2, dropout=0.0))
    before = {k: v.clone() for k, v in model.heads.state_dict().items()}
    unlabelled = sparse_batches(100, 1)
    for batch in unlabelled:
        batch["labels"][:] = float("nan")
    report = refit_heads(model, unlabelled, sparse_batches(100, 2))
    assert report["skipped"] and all(torch.equal(v, model.heads.state_dict()[k]) for k, v in before.items())


def test_a_single_l2_is_used_as_given():
    model = FrozenFeatures(SharedScoreHead(5, 3, 2, dropout=0.0, score_of_task=[1, 0, 0]))
    report = refit_heads(model, sparse_batches(800, 1), sparse_batches(400, 2), grid=[1e-4])
    assert report["l2"] == 1e-4 and list(report["val_loss_by_l2"]) == ["0.0001"]
    w = model.heads.score.weight.detach()
    assert torch.cosine_similarity(w[0] * model.heads.scale.detach()[1], TRUE_W, dim=0) > 0.9  # d5 + euploid


def test_canonical_form_keeps_every_logit_and_averages_the_first_task_exactly():
    torch.manual_seed(0)
    heads = [SharedScoreHead(5, 3, 2, dropout=0.0, score_of_task=[1, 0, 0]) for _ in range(2)]
    x, cov = torch.randn(20, 5), torch.randn(20, 2)
    with torch.no_grad():
        for h in heads:
            h.scale.copy_(torch.tensor([-0.5, 2.0, 0.7]))  # a negative scale flips the direction too
            h.score.weight.normal_()
        logits = [h(x, cov) for h in heads]
        canonical = [canonical_state(h) for h in heads]
        heads[0].load_state_dict(canonical[0])
        assert torch.allclose(heads[0](x, cov), logits[0], atol=1e-5)  # same model, other parametrisation
        heads[0].load_state_dict({k: (canonical[0][k] + canonical[1][k]) / 2 for k in canonical[0]})
        averaged = heads[0](x, cov)
    mean = (logits[0] + logits[1]) / 2
    assert torch.allclose(averaged[:, :2], mean[:, :2], atol=1e-5)  # d3 (own score) and d5 (first sharer)


def test_bagged_refit_recovers_the_direction_and_reports_its_bags():
    torch.manual_seed(0)
    model = FrozenFeatures(SharedScoreHead(5, 3, 2, dropout=0.0, score_of_task=[1, 0, 0]))
    report = refit_heads(model, sparse_batches(800, 1), sparse_batches(400, 2), grid=[1e-4], bags=5)
    assert report["bags"] == 5 and report["val_loss_after"] < report["val_loss_before"]
    w = model.heads.score.weight.detach()[0] * model.heads.scale.detach()[1]
    assert torch.cosine_similarity(w, TRUE_W, dim=0) > 0.9


def test_scale_on_validation_keeps_the_order_inside_a_cohort_and_lowers_validation_loss():
    torch.manual_seed(0)
    heads = SharedScoreHead(5, 3, 2, dropout=0.0, score_of_task=[1, 0, 0])
    with torch.no_grad():
        heads.score.weight.copy_(torch.stack([TRUE_W, -TRUE_W]) * 4)  # right direction, far too confident
        heads.scale.copy_(torch.tensor([1.0, 1.0, -0.5]))
    val = FrozenFeatures(heads)
    data = refit_module.head_inputs(val, sparse_batches(600, 3))
    data["labels"][:, 2] = float("nan")  # no validation label for the third task: its terms stay
    x = torch.randn(12, 5)
    cohort = torch.tensor([[0.3, 1.0]]).expand(12, 2)  # one patient: same covariates
    with torch.no_grad():
        before_logits, before_loss = heads(x, cohort), float(refit_module._loss(heads, data))
    fitted = fit_scale_on_validation(heads, data)
    with torch.no_grad():
        after_logits, after_loss = heads(x, cohort), float(refit_module._loss(heads, data))
    assert fitted == [True, True, False] and after_loss < before_loss
    assert heads.scale[2] == -0.5 and torch.all(heads.scale[:2] > 0)  # signs kept; an unlabelled task untouched
    for t in range(3):
        assert torch.equal(after_logits[:, t].argsort(), before_logits[:, t].argsort())


def tiny_batches(counts: list[int], seed: int) -> list[dict]:
    """A walkthrough-sized split: separable features and only ``counts`` labels per task (e.g. [7, 2, 0])."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 5, generator=g) * 3
    labels = torch.full((40, 3), float("nan"))
    for t, n in enumerate(counts):
        labels[:n, t] = (x[:n, 0] > 0).float()  # perfectly separable by the first feature
    return [{"pixel_values": x, "covariates": torch.zeros(40, 2), "labels": labels}]


def test_a_tiny_cohort_never_refits_to_nan_and_keeps_the_loop_heads():
    torch.manual_seed(0)
    model = FrozenFeatures(SharedScoreHead(5, 3, 2, dropout=0.0, score_of_task=[1, 0, 0]))
    before = {k: v.clone() for k, v in model.heads.state_dict().items()}
    report = refit_heads(model, tiny_batches([7, 2, 0], 1), tiny_batches([6, 3, 1], 2), grid=[1e-4], bags=5,
                         scale_on_val=True)
    assert "skipped" in report and report["refused"] == [0, 1, 2]
    assert all(torch.equal(v, model.heads.state_dict()[k]) for k, v in before.items())


def test_a_task_with_too_few_labels_is_left_out_of_the_fit_and_the_rest_stay_finite():
    torch.manual_seed(0)
    model = FrozenFeatures(SharedScoreHead(5, 3, 2, dropout=0.0, score_of_task=[1, 0, 0]))
    train, val = sparse_batches(800, 1), sparse_batches(400, 2)
    for batch in train:  # day-3 labels: only 7 in the whole training split
        keep = torch.zeros(len(batch["labels"]), dtype=torch.bool)
        batch["labels"][~keep, 0] = float("nan")
    train[0]["labels"][:7, 0] = torch.tensor([1.0, 0, 1, 0, 1, 0, 1])
    d3_before = model.heads.state_dict()["score.weight"][1].clone()
    report = refit_heads(model, train, val, grid=[1e-4], bags=3, scale_on_val=True)
    assert report["refused"] == [0] and "skipped" not in report
    assert all(torch.isfinite(v).all() for v in model.heads.state_dict().values())
    assert math.isfinite(report["val_loss_after"])
    # the refused task keeps its own direction exactly: it is not fitted to 7 labels
    assert torch.equal(model.heads.state_dict()["score.weight"][1], d3_before)
