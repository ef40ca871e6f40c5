"""Masked multi-task losses: missing labels add exactly zero loss and zero gradient."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aivf.model.heads import (
    MultiTaskHead,
    SharedScoreHead,
    TaskWeighting,
    TimeEmbedding,
    masked_bce_per_task,
    masked_phase_loss,
    score_of_task,
)

NAN = float("nan")


def test_masked_bce_equals_plain_bce_on_labelled_rows():
    logits = torch.tensor([[0.3, -1.0, 2.0], [1.5, 0.2, -0.7], [-0.4, 0.9, 0.1]])
    labels = torch.tensor([[1.0, NAN, 0.0], [0.0, NAN, NAN], [1.0, NAN, 1.0]])
    losses, has = masked_bce_per_task(logits, labels)
    assert has.tolist() == [True, False, True]
    expected0 = F.binary_cross_entropy_with_logits(logits[:, 0], labels[:, 0])
    expected2 = F.binary_cross_entropy_with_logits(logits[[0, 2], 2], labels[[0, 2], 2])
    torch.testing.assert_close(losses[0], expected0)
    torch.testing.assert_close(losses[2], expected2)
    assert losses[1].item() == 0.0


def test_task_without_labels_has_zero_gradient_and_no_nan():
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([[1.0, NAN, 0.0], [0.0, NAN, 1.0], [NAN, NAN, NAN], [1.0, NAN, NAN]])
    for mode in ("fixed", "uncertainty"):
        weighting = TaskWeighting(mode, [1.0, 2.0, 0.5])
        losses, has = masked_bce_per_task(logits, labels)
        total = weighting(losses, has)
        grad, *rest = torch.autograd.grad(total, [logits, *weighting.parameters()])
        assert torch.isfinite(total) and torch.isfinite(grad).all()
        assert (grad[:, 1] == 0).all()  # the unlabelled task: exactly zero
        assert (grad[2] == 0).all()  # the unlabelled row
        assert (grad[0, [0, 2]] != 0).all()
        if mode == "uncertainty":
            assert rest[0][1] == 0 and rest[0][0] != 0  # its log-variance gets no gradient either


def test_all_missing_batch_gives_zero_loss():
    logits = torch.randn(2, 3, requires_grad=True)
    losses, has = masked_bce_per_task(logits, torch.full((2, 3), NAN))
    total = TaskWeighting("fixed", [1.0, 1.0, 1.0])(losses, has)
    total.backward()
    assert total.item() == 0.0 and (logits.grad == 0).all()


def test_uncertainty_weighting_formula():
    weighting = TaskWeighting("uncertainty", [1.0, 1.0])
    with torch.no_grad():
        weighting.log_vars.copy_(torch.tensor([math.log(4.0), 0.0]))
    total = weighting(torch.tensor([2.0, 3.0]), torch.tensor([True, True]))
    torch.testing.assert_close(total, torch.tensor(2.0 / 4 + 0.5 * math.log(4.0) + 3.0))


def test_phase_loss_ignores_unlabelled_and_missing_keyframes():
    logits = torch.randn(2, 3, 16, requires_grad=True)
    labels = torch.tensor([[0, -100, 5], [-100, -100, -100]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    loss = masked_phase_loss(logits, labels, mask)
    torch.testing.assert_close(loss, F.cross_entropy(logits[0, :1], labels[0, :1]))
    empty = masked_phase_loss(logits, torch.full((2, 3), -100), None)
    empty.backward()
    assert empty.item() == 0.0 and (logits.grad == 0).all()


def test_time_embedding_starts_at_zero_and_learns():
    embed = TimeEmbedding(8)
    hpi = torch.tensor([[10.0, 50.0, 110.0]])
    assert (embed(hpi) == 0).all()  # a pretrained backbone sees its usual tokens at step 0
    embed.mlp[2].weight.data.normal_()
    out = embed(hpi)
    assert out.shape == (1, 3, 8) and not torch.allclose(out[0, 0], out[0, 2])


def test_covariate_fusion_variants():
    pooled = torch.randn(4, 6)
    cov = torch.tensor([[0.0, 1.0], [1.0, 0.0], [NAN, 1.0], [-1.0, 0.0]])
    for fusion in ("none", "concat", "film"):
        head = MultiTaskHead(6, 3, 2, fusion, hidden_size=5, dropout=0.0)
        out = head(pooled, cov)
        assert out.shape == (4, 3) and torch.isfinite(out).all()
    concat = MultiTaskHead(6, 3, 2, "concat", hidden_size=0, dropout=0.0)
    assert not torch.allclose(concat(pooled, cov), concat(pooled, None))  # age matters


def test_shared_score_head_ranks_alike_and_every_task_trains_the_score():
    torch.manual_seed(0)
    head = SharedScoreHead(6, 3, 2, dropout=0.0)
    pooled, cov = torch.randn(8, 6), torch.tensor([[0.5, 1.0]]).expand(8, 2)  # one patient: same covariates
    logits = head(pooled, cov)
    order = logits[:, 0].argsort()
    assert all(torch.equal(logits[:, t].argsort(), order) for t in range(3))  # one ranking while scales > 0
    for task in range(3):  # a label of ANY task moves the shared score direction
        head.zero_grad()
        labels = torch.full((8, 3), NAN)
        labels[:, task] = torch.tensor([1.0, 0.0] * 4)
        losses, has = masked_bce_per_task(head(pooled, cov), labels)
        losses.sum().backward()
        assert head.score.weight.grad.abs().sum() > 0 and has.tolist() == [t == task for t in range(3)]
    assert not torch.allclose(head(pooled, cov), head(pooled, None))  # covariates enter per task


def test_a_separate_score_task_reads_its_own_direction_and_trains_only_it():
    assert score_of_task(["d3_fhb", "d5_fhb", "euploid"], ["d3_fhb"]) == [1, 0, 0]
    assert score_of_task(["d3_fhb", "d5_fhb", "euploid"], []) == [0, 0, 0]
    assert score_of_task(["a", "b"], ["a", "b"]) == [0, 1]
    torch.manual_seed(0)
    head = SharedScoreHead(6, 3, 2, dropout=0.0, score_of_task=[1, 0, 0])
    assert head.score.weight.shape == (2, 6)
    pooled, cov = torch.randn(16, 6), torch.tensor([[0.5, 1.0]]).expand(16, 2)
    logits = head(pooled, cov)
    assert torch.equal(logits[:, 1].argsort(), logits[:, 2].argsort())  # d5 and euploid still share one ranking
    assert not torch.equal(logits[:, 0].argsort(), logits[:, 1].argsort())  # d3 ranks by its own direction
    labels = torch.full((16, 3), NAN)
    labels[:, 0] = torch.tensor([1.0, 0.0] * 8)  # day-3 labels only
    losses, _ = masked_bce_per_task(head(pooled, cov), labels)
    losses.sum().backward()
    grad = head.score.weight.grad
    assert grad[1].abs().sum() > 0 and grad[0].abs().sum() == 0  # they leave the shared direction alone


def test_a_masked_auxiliary_label_contributes_zero_loss_and_zero_gradient():
    from aivf.model import EmbryoConfig, EmbryoModel

    config = EmbryoConfig(backbone_type="videomae", backbone_config=dict(
        image_size=16, patch_size=8, num_channels=1, num_frames=4, tubelet_size=2, hidden_size=16,
        num_hidden_layers=1, num_attention_heads=2, intermediate_size=32), num_frames=4, image_size=16,
        num_channels=1, aux_tasks=["usable_d3", "usable_d5", "icm_ab", "te_ab"])
    torch.manual_seed(0)
    model = EmbryoModel(config)
    x = torch.randn(3, 4, 1, 16, 16)
    aux = torch.full((3, 4), float("nan"))
    aux[:, 1] = torch.tensor([1.0, 0.0, 1.0])  # only usable_d5 recorded
    out = model(x, aux_labels=aux)
    out.loss.backward()
    grad = model.aux_head.weight.grad
    assert torch.isfinite(out.loss) and out.task_losses["aux_usable_d3"] == 0
    assert torch.all(grad[[0, 2, 3]] == 0) and grad[1].abs().sum() > 0
    model.zero_grad()
    out = model(x, aux_labels=torch.full((3, 4), float("nan")))  # nothing recorded: exactly zero
    out.loss.backward()
    assert out.loss == 0 and torch.all(model.aux_head.weight.grad == 0)
