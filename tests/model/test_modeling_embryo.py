"""EmbryoModel end to end: shapes for every backbone, masking, time awareness, save/load, overfitting."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

import aivf.model
from aivf.config import load_config
from aivf.model import TASKS, EmbryoConfig, EmbryoModel, ModelConfig, build_model, embryo_config
from aivf.model.sizes import VIDEO_SWIN_SIZES, VIDEOMAE_SIZES

BACKBONES = ["videomae", "video_swin"]
NAN = float("nan")


def micro(backbone: str, **kwargs) -> ModelConfig:
    args = dict(backbone=backbone, size="micro", num_frames=4, image_size=32, head_dropout=0.0, drop_path_rate=0.0)
    args.update(kwargs)
    return ModelConfig(**args)


def batch(b: int = 2, k: int = 4, c: int = 1, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "pixel_values": torch.randn(b, k, c, size, size, generator=g),
        "keyframe_hpi": torch.linspace(12, 110, k).repeat(b, 1),
        "covariates": torch.randn(b, 2, generator=g),
    }


def test_phase_features_feed_the_heads_but_outcome_loss_leaves_the_phase_head_alone():
    model = build_model(micro("videomae", phase_head=True, phase_features=True))
    assert model.config.phase_features
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    model(**batch(), labels=labels).loss.backward()  # outcome loss only
    assert model.phase_head.weight.grad is None or model.phase_head.weight.grad.abs().sum() == 0
    plain = build_model(micro("videomae", phase_head=True))
    extra = sum(p.numel() for p in model.heads.parameters()) - sum(p.numel() for p in plain.heads.parameters())
    assert extra == len(TASKS) * 16  # the heads read 16 phase shares more
    assert not build_model(micro("videomae", phase_features=True)).config.phase_features  # needs the phase head


def test_phase_only_heads_read_just_the_phase_summary_and_covariates():
    model = build_model(micro("videomae", phase_head=True, phase_features=True, phase_only_heads=True))
    assert model.config.phase_only_heads
    assert sum(p.numel() for p in model.heads.parameters()) == len(TASKS) * (16 + 2 + 1)  # linear on [share, cov]
    model(**batch(), labels=torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])).loss.backward()
    backbone_grad = sum(p.grad.abs().sum() for p in model.backbone.parameters() if p.grad is not None)
    assert backbone_grad == 0  # outcome labels cannot bend the video features; only the phase loss trains them
    assert not build_model(micro("videomae", phase_only_heads=True)).config.phase_only_heads  # needs phase features


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("channels,k,size", [(1, 4, 32), (3, 6, 48), (7, 2, 32), (1, 5, 40)])
def test_shapes(backbone, channels, k, size):
    model = build_model(micro(backbone, channels=channels, phase_head=True, num_frames=4, image_size=32)).eval()
    inputs = batch(3, k, channels, size)
    labels = torch.tensor([[1.0, NAN, 0.0], [0.0, 1.0, NAN], [NAN, NAN, NAN]])
    out = model(**inputs, labels=labels, phase_labels=torch.randint(0, 16, (3, k)))
    assert out.logits.shape == (3, len(TASKS))
    assert out.phase_logits.shape == (3, k, 16)
    assert set(out.task_losses) == {*TASKS, "phase"}
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.pooled_output.shape[0] == 3


def count_videomae(size: str, channels: int = 1) -> int:
    """ViT parameters by hand: tubelet stem, L x (qkv+o with q/v/o biases, 2 LN, MLP), final LN."""
    s = VIDEOMAE_SIZES[size]
    d, i = s["hidden_size"], s["intermediate_size"]
    stem = d * channels * s["tubelet_size"] * s["patch_size"] ** 2 + d
    layer = 4 * d * d + 3 * d + 2 * 2 * d + 2 * d * i + i + d
    return stem + s["num_hidden_layers"] * layer + 2 * d


@pytest.mark.parametrize("backbone,size", [("videomae", s) for s in VIDEOMAE_SIZES] +
                         [("video_swin", s) for s in VIDEO_SWIN_SIZES])
def test_every_size_builds_on_meta_device(backbone, size):
    # Parameter counts do not depend on the input grid; a small grid keeps VideoMAE's numpy table cheap.
    cfg = ModelConfig(backbone=backbone, size=size, num_frames=4, image_size=64, time_embedding=False)
    with torch.device("meta"):
        model = EmbryoModel(embryo_config(cfg))
    n = sum(p.numel() for p in model.backbone.parameters())
    if backbone == "videomae":
        assert n == count_videomae(size)
    assert {"micro": 1e4, "tiny": 5e6, "small": 2e7, "base": 8e7, "large": 3e8}[size] < n


def test_unknown_size_is_a_clear_error():
    with pytest.raises(ValueError, match="model.size='large'"):
        build_model(ModelConfig(backbone="video_swin", size="large"))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_missing_keyframes_do_not_change_the_output(backbone):
    model = build_model(micro(backbone, num_frames=6)).eval()
    inputs = batch(2, 6)
    mask = torch.tensor([[True] * 6, [True, True, True, True, False, False]])
    base = model(**inputs, keyframe_mask=mask).logits
    changed = {k: v.clone() for k, v in inputs.items()}
    changed["pixel_values"][1, 4:] = torch.randn(2, 1, 32, 32) * 5  # garbage in missing frames
    changed["keyframe_hpi"][1, 4:] = NAN
    torch.testing.assert_close(model(**changed, keyframe_mask=mask).logits, base)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_time_embedding_makes_the_model_time_aware(backbone):
    torch.manual_seed(0)
    model = build_model(micro(backbone)).eval()
    torch.nn.init.normal_(model.time_embed.mlp[2].weight, std=1.0)  # as after training
    inputs = batch()
    slow = dict(inputs, keyframe_hpi=inputs["keyframe_hpi"] + 20.0)
    assert not torch.allclose(model(**inputs).logits, model(**slow).logits)
    assert model(inputs["pixel_values"]).logits.shape == (2, 3)  # no times: runs without the embedding
    off = build_model(micro(backbone, time_embedding=False)).eval()
    torch.testing.assert_close(off(**inputs).logits, off(**slow).logits)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_unlabelled_task_gets_zero_gradient_end_to_end(backbone):
    model = build_model(micro(backbone, task_weighting="uncertainty"))
    labels = torch.tensor([[1.0, NAN, 0.0], [0.0, NAN, 1.0]])
    model(**batch(), labels=labels).loss.backward()
    head = model.heads.mlp
    assert (head.weight.grad[1] == 0).all() and head.bias.grad[1] == 0
    assert (head.weight.grad[0] != 0).any()
    assert model.task_weighting.log_vars.grad[1] == 0


@pytest.mark.parametrize("backbone", BACKBONES)
def test_gradient_checkpointing_same_gradients(backbone):
    torch.manual_seed(0)
    plain = build_model(micro(backbone))
    checkpointed = build_model(micro(backbone, gradient_checkpointing=True))
    checkpointed.load_state_dict(plain.state_dict())
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, NAN]])
    for model in (plain, checkpointed):
        model.train()
        model(**batch(), labels=labels).loss.backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5, msg=name)


FRESH_PROCESS = textwrap.dedent("""
    import sys, torch
    import aivf.model  # registers the classes with AutoConfig / AutoModel
    from transformers import AutoModel
    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder).eval()
    assert type(model).__name__ == "EmbryoModel", type(model)
    inputs = torch.load(folder + "/inputs.pt")
    with torch.no_grad():
        torch.save(model(**inputs).logits, folder + "/logits_fresh.pt")
""")


@pytest.mark.slow
@pytest.mark.parametrize("backbone", BACKBONES)
def test_save_and_reload_in_a_fresh_process(backbone, tmp_path):
    torch.manual_seed(0)
    model = build_model(micro(backbone, phase_head=True, covariate_fusion="film", task_weighting="uncertainty",
                              head_hidden_size=8)).eval()
    with torch.no_grad():  # move the zero-initialised layers off zero so they are checked too
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    inputs = batch()
    with torch.no_grad():
        expected = model(**inputs).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    torch.save(inputs, tmp_path / "inputs.pt")
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert torch.equal(torch.load(tmp_path / "logits_fresh.pt"), expected)
    # And in this process, through the Auto classes.
    assert isinstance(AutoConfig.from_pretrained(tmp_path), EmbryoConfig)
    with torch.no_grad():
        assert torch.equal(AutoModel.from_pretrained(tmp_path).eval()(**inputs).logits, expected)


def simulated_embryos(n: int = 8, k: int = 8, size: int = 64) -> dict[str, torch.Tensor]:
    """n embryos from aivf.sim rendered at k keyframes, half of them arrested; labels from their simulated fate."""
    from aivf.sim.cohort import sample_cohort
    from aivf.sim.config import ImagingConfig, SimConfig
    from aivf.sim.render import render_embryo

    cohort = sample_cohort(SimConfig(num_patients=12), seed=0)
    arrested = [e for e in cohort.embryos if e.arrested][: n // 2]
    embryos = arrested + [e for e in cohort.embryos if not e.arrested][: n - len(arrested)]
    times = np.linspace(10.0, 66.0, k)  # inside every recording (day-3 transfers stop at 67 h)
    frames = np.stack([render_embryo(e, ImagingConfig(image_size=size), times) for e in embryos])
    labels = torch.tensor([[float(e.quality > 0), float(not e.arrested), float(e.ploidy == "euploid")]
                           for e in embryos])
    labels[::3, 2] = NAN  # some missing euploidy labels, as in a real cohort
    pixels = (torch.from_numpy(frames).float() / 255.0 - 0.5) / 0.25
    return {"pixel_values": pixels, "keyframe_hpi": torch.from_numpy(times).float().repeat(n, 1),
            "covariates": torch.tensor([[(e.maternal_age - 35) / 5, float(e.method == "ICSI")] for e in embryos]),
            "labels": labels}


def constant_predictor_loss(labels: torch.Tensor) -> float:
    """Summed BCE of the best input-blind prediction (each task's labelled mean): what base rates alone reach."""
    total = 0.0
    for column in labels.T:
        y = column[~torch.isnan(column)]
        p = y.mean().clamp(1e-6, 1 - 1e-6)
        total += float(-(y * p.log() + (1 - y) * (1 - p).log()).mean())
    return total


@pytest.mark.slow
@pytest.mark.parametrize("backbone", BACKBONES)
def test_tiny_model_overfits_eight_simulated_embryos(backbone):
    torch.manual_seed(0)
    data = simulated_embryos(8, k=4, size=48)
    model = build_model(micro(backbone, num_frames=4, image_size=48)).train()
    # Swin (post-merging LayerNorms, shifted windows) is unstable at VideoMAE's learning rate here.
    optimizer = torch.optim.AdamW(model.parameters(), lr={"videomae": 3e-3, "video_swin": 1e-3}[backbone])
    losses = []
    for _ in range(40):
        loss = model(**data).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # Beating the base rates by a clear margin means the model read the videos, not just the label means.
    assert losses[-1] < 0.8 * constant_predictor_loss(data["labels"]) < losses[0], losses[::5]


def test_shipped_model_configs_build(tmp_path):
    for name in ("videomae_micro", "video_swin_micro"):
        cfg = load_config(f"configs/model/{name}.yaml", ["model.image_size=32", "model.num_frames=4"]).model
        assert build_model(cfg)(**batch()).logits.shape == (2, 3)
    assert aivf.model.EmbryoModel is EmbryoModel


@pytest.mark.parametrize("backbone", BACKBONES)
def test_training_after_inference_mode(backbone):
    # Cached index / mask / position tables first built under inference_mode must not break a later backward.
    model = build_model(micro(backbone))
    with torch.inference_mode():
        model(**batch())
    model(**batch(), labels=torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])).loss.backward()
    assert all(p.grad is not None for p in model.backbone.parameters() if p.requires_grad)


def test_extra_batch_keys_are_ignored():
    model = build_model(micro("videomae"))
    out = model(**batch(), embryo_id=["a", "b"], patient_id=["p", "p"])  # model(**batch) from the loader
    assert out.logits.shape == (2, 3)


def test_conv_stem_keeps_the_token_grid_and_reloads(tmp_path):
    plain = build_model(micro("videomae", image_size=64))
    stem = build_model(micro("videomae", image_size=64, conv_stem=2, conv_stem_channels=16, phase_head=True,
                             task_head="shared_score", separate_score_tasks=["d3_fhb"])).eval()
    assert stem.heads.score_of_task == [1, 0, 0] and stem.heads.score.weight.shape[0] == 2
    assert stem.backbone.config.image_size == 16 and stem.backbone.config.patch_size == 4
    assert stem.backbone.config.num_channels == 16
    inputs = batch(size=64)
    with torch.no_grad():
        tokens = stem.backbone.features(stem.stem(inputs["pixel_values"]))
        assert tokens.shape == plain.backbone.features(inputs["pixel_values"]).shape  # same tokens, same cost after
        expected = stem(**inputs).logits
    stem.save_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(EmbryoModel.from_pretrained(tmp_path).eval()(**inputs).logits, expected)


# A stem with a pretrained folder: tests/model/test_pretraining_stem.py (the stem must be the folder's own).
@pytest.mark.parametrize("bad", [dict(backbone="video_swin"), dict(image_size=34)])
def test_conv_stem_refuses_what_it_cannot_do(bad):
    args = dict(image_size=64, conv_stem=2) | bad
    with pytest.raises(ValueError, match="conv_stem"):
        build_model(micro(args.pop("backbone", "videomae"), **args))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_phase_head_names_every_keyframe_of_a_tubelet(backbone):
    model = build_model(micro(backbone, num_frames=5, phase_head=True)).eval()
    with torch.no_grad():
        out = model(**batch(2, 5), phase_labels=torch.zeros(2, 5, dtype=torch.long))
    assert out.phase_logits.shape == (2, 5, 16)
    assert not torch.allclose(out.phase_logits[:, 0], out.phase_logits[:, 1])  # same tubelet, own logits


def test_an_unknown_separate_score_task_is_refused():
    with pytest.raises(ValueError, match="separate_score_tasks"):
        build_model(micro("videomae", task_head="shared_score", separate_score_tasks=["d4_fhb"]))
