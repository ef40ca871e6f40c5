"""The per-frame backbone (``model.backbone: frames``): a keyframe's phase call depends on that keyframe alone."""

from __future__ import annotations

import pytest
import torch

from aivf.config import load_config
from aivf.model import EmbryoModel, build_model

FRAMES = ["model.backbone=frames", "model.size=micro", "model.conv_stem=0", "model.time_embedding=false",
          "model.phase_head=true", "model.phase_features=true", "model.num_frames=6", "model.image_size=32"]


@pytest.fixture(scope="module")
def model() -> EmbryoModel:
    torch.manual_seed(0)
    return build_model(load_config(overrides=FRAMES).model).eval()


def test_changing_one_keyframe_changes_only_its_own_phase_call(model):
    clip = torch.randn(2, 6, 1, 32, 32)
    other = clip.clone()
    other[:, 3] = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        before, after = model(pixel_values=clip).phase_logits, model(pixel_values=other).phase_logits
    changed = (before - after).abs().amax(dim=(0, 2)) > 1e-5
    assert changed.tolist() == [False, False, False, True, False, False]


def test_a_keyframe_reads_the_same_in_any_slot_and_at_any_hour(model):
    """No position or time enters: the same frame gives the same call in every slot, whatever the hpi."""
    frame = torch.randn(1, 1, 1, 32, 32)
    clip = frame.expand(1, 6, 1, 32, 32)
    hpi = torch.tensor([[10.0, 30.0, 50.0, 70.0, 90.0, 110.0]])
    with torch.no_grad():
        logits = model(pixel_values=clip, keyframe_hpi=hpi).phase_logits[0]
    assert torch.allclose(logits, logits[:1].expand_as(logits), atol=1e-5)


def test_each_frame_is_standardised_so_exposure_does_not_change_the_call(model):
    clip = torch.rand(1, 6, 1, 32, 32)
    with torch.no_grad():
        plain = model(pixel_values=clip).phase_logits
        brighter = model(pixel_values=clip * 1.7 + 0.4).phase_logits  # another lamp and exposure
    assert torch.allclose(plain, brighter, atol=1e-4)


def test_trains_saves_and_reloads(tmp_path):
    torch.manual_seed(0)
    model = build_model(load_config(overrides=FRAMES).model)
    clip, phases = torch.randn(4, 6, 1, 32, 32), torch.randint(0, 16, (4, 6))
    optimizer = torch.optim.AdamW(model.parameters(), 3e-3)
    losses = []
    for _ in range(30):  # one batch, learnt by heart: the phase loss must fall
        loss = model(pixel_values=clip, phase_labels=phases).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval().save_pretrained(tmp_path)
    again = EmbryoModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(model(pixel_values=clip).phase_logits, again(pixel_values=clip).phase_logits)


def test_a_pretrained_path_is_refused_with_the_reason(tmp_path):
    cfg = load_config(overrides=[*FRAMES, f"model.pretrained={tmp_path}"])
    with pytest.raises(ValueError, match="frames backbone has no pretrained format"):
        build_model(cfg.model)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = build_model(load_config(overrides=FRAMES).model)
    torch.manual_seed(0)
    checkpointed = build_model(load_config(overrides=[*FRAMES, "model.gradient_checkpointing=true"]).model)
    assert checkpointed.backbone.gradient_checkpointing
    clip, phases = torch.randn(2, 6, 1, 32, 32), torch.randint(0, 16, (2, 6))
    grads = []
    for model in (plain, checkpointed):
        model.train()
        model(pixel_values=clip, phase_labels=phases).loss.backward()
        grads.append(model.backbone.stem[0].weight.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_a_stride_4_stem_reads_a_quarter_of_the_positions_and_survives_a_reload(tmp_path):
    """``model.frame_stem_stride: 4`` (the main job's frame encoder) is kept in the checkpoint."""
    torch.manual_seed(0)
    model = build_model(load_config(overrides=[*FRAMES, "model.frame_stem_stride=4"]).model).eval()
    plain = build_model(load_config(overrides=FRAMES).model).eval()
    clip = torch.randn(2, 6, 1, 32, 32)
    assert model.backbone.features(clip).shape[2] * 4 == plain.backbone.features(clip).shape[2]
    model.save_pretrained(tmp_path)
    again = EmbryoModel.from_pretrained(tmp_path).eval()
    assert again.backbone.stem_stride == 4
    with torch.no_grad():
        assert torch.equal(model(pixel_values=clip).phase_logits, again(pixel_values=clip).phase_logits)


def test_an_unknown_stem_stride_is_refused():
    with pytest.raises(ValueError, match="stride 2 or 4"):
        build_model(load_config(overrides=[*FRAMES, "model.frame_stem_stride=3"]).model)
