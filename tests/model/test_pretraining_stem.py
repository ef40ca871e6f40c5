"""Masked pretraining behind the conv stem (aivf/model/pretraining.py) and loading it into an EmbryoModel.

Tiny random models (micro VideoMAE, 4 keyframes of 64 px, a 2-layer stem: 16 px patches in the input, 4 px in
the stem's 16 px feature map); the CLI run is in tests/train/test_pretrain.py.
"""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from transformers import VideoMAEForPreTraining

from aivf.model import build_model, embryo_config
from aivf.model import pretraining as pretraining_module
from aivf.model.modeling_embryo import VIDEOMAE_KEYS
from aivf.model.pretraining import (
    STEM_FILE,
    EmbryoPretrainModel,
    hide_masked_pixels,
    patch_targets,
    pretraining_config,
    tube_mask,
)
from aivf.model_config import ModelConfig

PRETRAIN = SimpleNamespace(decoder_hidden_size=0, decoder_heads=0, decoder_layers=1, norm_pix_loss=True)


def stem_cfg(**kwargs) -> ModelConfig:
    args = dict(size="micro", num_frames=4, image_size=64, channels=1, conv_stem=2, conv_stem_channels=16,
                head_dropout=0.0) | kwargs
    return ModelConfig(**args)


def stem_model(seed: int = 0, **kwargs) -> EmbryoPretrainModel:
    torch.manual_seed(seed)
    return EmbryoPretrainModel(pretraining_config(stem_cfg(**kwargs), PRETRAIN))


def clips(b: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Keyframes [B, 4, 1, 64, 64] and a 75% tube mask over their (2, 4, 4) token grid."""
    x = torch.randn(b, 4, 1, 64, 64, generator=torch.Generator().manual_seed(seed))
    return x, tube_mask(b, (2, 4, 4), 0.75, torch.Generator().manual_seed(seed))


def masked_region(mask: torch.Tensor) -> torch.Tensor:
    """Brute-force reference: bool [B, 4, 1, 64, 64], True on every pixel of a masked tube (2 frames x 16 x 16)."""
    region = torch.zeros(mask.shape[0], 4, 1, 64, 64, dtype=torch.bool)
    for b in range(mask.shape[0]):
        for n in torch.nonzero(mask[b]).flatten().tolist():
            t, i, j = n // 16, n % 16 // 4, n % 4
            region[b, 2 * t: 2 * t + 2, :, 16 * i: 16 * i + 16, 16 * j: 16 * j + 16] = True
    return region


def test_the_backbone_behind_the_stem_is_the_one_build_model_makes():
    config = pretraining_config(stem_cfg(), PRETRAIN)
    supervised = embryo_config(stem_cfg()).backbone_config
    assert {k: getattr(config, k) for k in VIDEOMAE_KEYS if k in supervised} == {
        k: supervised[k] for k in VIDEOMAE_KEYS if k in supervised}
    assert (config.image_size, config.patch_size, config.num_channels) == (16, 4, 16)
    model = EmbryoPretrainModel(config)
    assert model.pixel_patch == 16 and model.token_grid(4, 64, 64) == (2, 4, 4)
    assert model.decoder.head.out_features == 2 * 16 * 16 * 1  # a tube of input pixels per token


def test_masked_pixels_never_reach_the_visible_tokens_and_stay_the_targets(monkeypatch):
    model = stem_model().eval()
    x, mask = clips()
    region = masked_region(mask)
    assert torch.equal(hide_masked_pixels(x, mask, 2, 16), x.masked_fill(region, 0.0))
    changed = torch.where(region, torch.randn(x.shape) * 10 + 5, x)  # other content in the masked tubes only
    with torch.no_grad():
        visible = model.encode(x, mask)
        assert visible.shape == (2, 8, 64)  # 4 of 16 tubes visible at each of 2 time steps
        assert torch.equal(model.encode(changed, mask), visible)
        out = model(x, mask)
        target = patch_targets(x, 2, 16)[mask].reshape(2, -1, 512)  # the ORIGINAL pixels, at input resolution
        assert torch.allclose(out.loss, (out.logits - target).pow(2).mean(), atol=1e-6)
        assert not torch.allclose(model(changed, mask).loss, out.loss)
    # Without the zeroing, masked content reaches the visible tokens (the 3x3 convs at tube borders, GroupNorm).
    monkeypatch.setattr(pretraining_module, "hide_masked_pixels", lambda pixels, *args: pixels)
    with torch.no_grad():
        assert not torch.allclose(model.encode(changed, mask), model.encode(x, mask), atol=1e-3)


def pretrained_stem_model(steps: int = 15) -> tuple[EmbryoPretrainModel, list[float]]:
    """A few AdamW steps of masked autoencoding on one smooth batch; returns the model and the losses."""
    model = stem_model()
    x, mask = clips()
    x = torch.nn.functional.avg_pool2d(x.flatten(0, 1), 5, 1, 2).view_as(x)  # some structure to learn
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(steps):
        loss = model(x, mask).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def test_loss_decreases_and_the_stem_learns():
    start = {k: v.clone() for k, v in stem_model().stem.state_dict().items()}
    model, losses = pretrained_stem_model()
    assert losses[-1] < 0.9 * losses[0], losses
    assert any(not torch.equal(start[k], v) for k, v in model.stem.state_dict().items())


def test_bf16_weights_behind_the_stem_give_a_float32_loss_and_gradients():
    model = stem_model().to(torch.bfloat16)  # as DeepSpeed bf16 keeps them; the input stays float32
    x, mask = clips()
    out = model(x, mask)
    out.loss.backward()
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    assert torch.isfinite(model.stem.net[0].weight.grad.float()).all()


def test_folder_round_trips_into_videomae_for_pretraining_and_an_embryo_model_that_fine_tunes(tmp_path):
    model, _ = pretrained_stem_model(steps=2)
    model.eval().save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["VideoMAEForPreTraining"]
    assert config["aivf_conv_stem"] == dict(layers=2, channels=16, in_channels=1, weights=STEM_FILE)
    beside = load_file(tmp_path / STEM_FILE)
    assert beside and all(k.startswith("stem.") for k in beside)
    assert not any(k.startswith("stem.") for k in load_file(tmp_path / "model.safetensors"))
    # 16 stem channels = 1 plane x 4**2: upstream's pixel head has the size of ours, so nothing is missing
    upstream, info = VideoMAEForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    x, mask = clips()
    with torch.no_grad():
        assert torch.equal(EmbryoPretrainModel.from_pretrained(tmp_path).eval()(x, mask).logits, model(x, mask).logits)

    embryo = build_model(stem_cfg(pretrained=str(tmp_path)))
    stem = embryo.stem.state_dict()
    assert set(stem) == {k.removeprefix("stem.") for k in beside}
    assert all(torch.equal(stem[k.removeprefix("stem.")], v) for k, v in beside.items())
    backbone = embryo.backbone.state_dict()  # upstream's names (the file keeps VideoMAE's legacy q_bias/v_bias)
    encoder = {k.removeprefix("videomae."): v for k, v in upstream.state_dict().items() if k.startswith("videomae.")}
    assert set(backbone) == set(encoder) and all(torch.equal(backbone[k], v) for k, v in encoder.items())

    optimizer = torch.optim.AdamW(embryo.parameters(), lr=1e-3)
    labels = torch.tensor([[1.0, float("nan"), 0.0], [0.0, 1.0, float("nan")]])
    out = embryo(pixel_values=x, keyframe_hpi=torch.linspace(12, 110, 4).repeat(2, 1), covariates=torch.zeros(2, 2),
                 labels=labels)
    out.loss.backward()
    optimizer.step()
    assert torch.isfinite(out.loss) and not torch.equal(embryo.stem.state_dict()["net.0.weight"],
                                                        beside["stem.net.0.weight"])


def test_a_pixel_head_upstream_has_no_place_for_is_saved_beside_and_reloads(tmp_path):
    model = stem_model(conv_stem_channels=8).eval()  # upstream's head: 8 x 2 x 4**2 = 256 values, ours 512
    model.save_pretrained(tmp_path)
    assert set(load_file(tmp_path / STEM_FILE)) >= {"decoder.head.weight", "decoder.head.bias"}
    _, info = VideoMAEForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == {"decoder.head.weight", "decoder.head.bias"} and not info["mismatched_keys"]
    x, mask = clips()
    with torch.no_grad():
        assert torch.equal(EmbryoPretrainModel.from_pretrained(tmp_path).eval()(x, mask).logits, model(x, mask).logits)
    build_model(stem_cfg(conv_stem_channels=8, pretrained=str(tmp_path)))  # the encoder loads as ever


@pytest.fixture(scope="module")
def stem_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stem_pretrained")
    stem_model().save_pretrained(folder)
    return folder


@pytest.mark.parametrize("override, message", [
    (dict(conv_stem=1), "model.conv_stem=1 but aivf_conv_stem.layers=2; set model.conv_stem=2"),
    (dict(conv_stem_channels=32), "model.conv_stem_channels=32 but aivf_conv_stem.channels=16; "
                                  "set model.conv_stem_channels=16"),
    (dict(channels=3), "model.channels=3 but aivf_conv_stem.in_channels=1; set model.channels=1"),
    (dict(conv_stem=0), "model.conv_stem=0 but aivf_conv_stem.layers=2; set model.conv_stem=2"),
])
def test_a_stem_other_than_the_saved_one_is_an_error_naming_key_value_and_fix(stem_folder, override, message):
    with pytest.raises(ValueError, match=message):
        build_model(stem_cfg(pretrained=str(stem_folder), **override))


def test_a_stemless_folder_with_conv_stem_and_a_lost_stem_file_are_errors(stem_folder, tmp_path):
    torch.manual_seed(0)
    plain = tmp_path / "plain"
    EmbryoPretrainModel(pretraining_config(stem_cfg(conv_stem=0), PRETRAIN)).save_pretrained(plain)
    assert not (plain / STEM_FILE).exists()
    with pytest.raises(ValueError, match="pretrained without a conv stem .*set model.conv_stem=0"):
        build_model(stem_cfg(pretrained=str(plain)))
    build_model(stem_cfg(conv_stem=0, pretrained=str(plain)))  # as before: stem-less folder, stem-less model

    lost = tmp_path / "lost"
    lost.mkdir()
    for name in ("config.json", "model.safetensors"):
        (lost / name).write_bytes((stem_folder / name).read_bytes())
    with pytest.raises(FileNotFoundError, match=re.escape(f"{lost / STEM_FILE} not found")):
        build_model(stem_cfg(pretrained=str(lost)))
