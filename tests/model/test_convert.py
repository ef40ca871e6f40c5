"""Converters: numerical parity with torchvision's Video Swin, official (mmaction) keys, VideoMAE folders.

The torchvision reference outputs were recorded once in a side environment (torchvision cannot be
installed beside the CPU torch here); tests/model/fixtures/make_torchvision_reference.py says how.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import VideoMAEConfig, VideoMAEForVideoClassification, VideoMAEModel

from aivf.model import ModelConfig, build_model
from aivf.model.convert import adapt_input_channels, load_video_swin_weights, resize_bias_table
from aivf.model.video_swin.configuration import VideoSwinConfig
from aivf.model.video_swin.modeling import VideoSwinModel

FIXTURES = Path(__file__).resolve().parent / "fixtures"
WEIGHTS = FIXTURES / "torchvision_swin3d_micro.safetensors"
OUTPUTS = FIXTURES / "torchvision_swin3d_micro_outputs.safetensors"


def _reference_module():
    spec = importlib.util.spec_from_file_location("make_torchvision_reference", FIXTURES / "make_torchvision_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REF = _reference_module()


def swin_like_reference(exact_clipped_bias: bool = True, channels: int = 3) -> VideoSwinModel:
    arch = REF.ARCH
    config = VideoSwinConfig(num_channels=channels, patch_size=arch["patch_size"], embed_dim=arch["embed_dim"],
                             depths=arch["depths"], num_heads=arch["num_heads"], window_size=arch["window_size"],
                             exact_clipped_bias=exact_clipped_bias)
    return VideoSwinModel(config).eval()


def reference_outputs() -> dict[str, torch.Tensor]:
    with safe_open(str(OUTPUTS), "pt") as f:
        meta = f.metadata()
        assert json.loads(meta["arch"]) == REF.ARCH, "fixture and script disagree: rerun the script"
        return {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)


def run_inputs(model: VideoSwinModel, names: list[str]) -> dict[str, torch.Tensor]:
    out = {}
    with torch.no_grad():
        for seed, (name, shape) in enumerate(REF.INPUTS.items()):
            if name in names:
                x = REF.lcg_input(shape, seed).transpose(1, 2)  # torchvision [B, C, T, H, W] -> [B, T, C, H, W]
                out[name] = model(x).last_hidden_state
    return out


def test_torchvision_parity():
    model = swin_like_reference()
    assert load_video_swin_weights(model, WEIGHTS) == []  # every weight came from the checkpoint
    ref = reference_outputs()
    for name, features in run_inputs(model, ["even", "ragged"]).items():
        assert features.shape == ref[f"features_{name}"].shape
        torch.testing.assert_close(features, ref[f"features_{name}"], atol=1e-4, rtol=1e-4)
    # The classifier head of torchvision applied to our pooled features gives its logits.
    head = load_file(str(WEIGHTS))
    pooled = run_inputs(model, ["even"])["even"].mean(dim=(1, 2, 3))
    logits = pooled @ head["head.weight"].T + head["head.bias"]
    torch.testing.assert_close(logits, ref["logits_even"], atol=1e-4, rtol=1e-4)


def test_clipped_windows_match_torchvision_only_in_legacy_mode():
    ref = reference_outputs()["features_clipped"]
    legacy = swin_like_reference(exact_clipped_bias=False)
    load_video_swin_weights(legacy, WEIGHTS)
    torch.testing.assert_close(run_inputs(legacy, ["clipped"])["clipped"], ref, atol=1e-4, rtol=1e-4)
    exact = swin_like_reference(exact_clipped_bias=True)
    load_video_swin_weights(exact, WEIGHTS)
    assert (run_inputs(exact, ["clipped"])["clipped"] - ref).abs().max() > 1e-3  # true offsets differ


def torchvision_to_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official Video Swin layout, written independently of aivf.model.convert (mmaction2 naming)."""
    out = {}
    for key, value in state.items():
        m = re.match(r"features\.(\d+)\.(\d+)\.(.*)", key)
        if m and int(m.group(1)) % 2 == 0:
            rest = m.group(3).replace("mlp.0", "mlp.fc1").replace("mlp.3", "mlp.fc2")
            key = f"backbone.layers.{int(m.group(1)) // 2}.blocks.{m.group(2)}.{rest}"
        elif (m := re.match(r"features\.(\d+)\.(.*)", key)):
            key = f"backbone.layers.{int(m.group(1)) // 2}.downsample.{m.group(2)}"
        elif key.startswith("head."):
            key = key.replace("head.", "cls_head.fc_cls.")
        else:
            key = f"backbone.{key}"
        out[key] = value
    return out


def test_official_checkpoint_parity(tmp_path):
    official = torchvision_to_official_keys(load_file(str(WEIGHTS)))
    assert "backbone.layers.0.blocks.1.attn.relative_position_bias_table" in official
    path = tmp_path / "swin_official.pth"
    torch.save({"meta": {}, "state_dict": official}, path)
    model = swin_like_reference()
    assert load_video_swin_weights(model, path) == []
    ref = reference_outputs()
    torch.testing.assert_close(run_inputs(model, ["even"])["even"], ref["features_even"], atol=1e-4, rtol=1e-4)


def test_channel_adaptation_preserves_the_response_to_grey_input():
    weight = torch.randn(8, 3, 2, 4, 4)
    grey = torch.randn(1, 1, 2, 4, 4)
    rgb_response = torch.nn.functional.conv3d(grey.expand(1, 3, -1, -1, -1), weight)
    for channels in (1, 3, 7):
        adapted = adapt_input_channels(weight, channels)
        assert adapted.shape == (8, channels, 2, 4, 4)
        response = torch.nn.functional.conv3d(grey.expand(1, channels, -1, -1, -1), adapted)
        torch.testing.assert_close(response, rgb_response, atol=1e-5, rtol=1e-5)


def test_focal_plane_model_loads_rgb_checkpoint():
    model = swin_like_reference(channels=7)
    load_video_swin_weights(model, WEIGHTS)
    x = REF.lcg_input((1, 3, 8, 128, 128), 0)[:, :1].transpose(1, 2)  # one grey plane, repeated x7
    rgb = swin_like_reference()
    load_video_swin_weights(rgb, WEIGHTS)
    with torch.no_grad():
        torch.testing.assert_close(model(x.expand(-1, -1, 7, -1, -1)).last_hidden_state,
                                   rgb(x.expand(-1, -1, 3, -1, -1)).last_hidden_state, atol=1e-4, rtol=1e-4)


def test_bias_table_resize():
    table = torch.randn(3 * 7 * 7, 2)
    assert resize_bias_table(table, [2, 4, 4], [2, 4, 4]) is table
    resized = resize_bias_table(table, [2, 4, 4], [4, 7, 7])
    assert resized.shape == (7 * 13 * 13, 2)
    grid_in, grid_out = table.T.reshape(2, 3, 7, 7), resized.T.reshape(2, 7, 13, 13)
    # align_corners: the zero offset (centre) and the extreme offsets keep their values.
    torch.testing.assert_close(grid_out[:, 3, 6, 6], grid_in[:, 1, 3, 3])
    torch.testing.assert_close(grid_out[:, 0, 0, 0], grid_in[:, 0, 0, 0])


def test_checkpoint_with_another_window_loads(tmp_path):
    model = swin_like_reference()
    model.config.window_size = [2, 2, 2]  # pretend the user asked for a smaller window
    small = VideoSwinModel(model.config).eval()
    assert load_video_swin_weights(small, WEIGHTS) == []
    assert small.layers[0].blocks[0].attn.relative_position_bias_table.shape == (27, 1)


def test_wrong_size_checkpoint_is_a_clear_error():
    model = VideoSwinModel(VideoSwinConfig(num_channels=3, embed_dim=16, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
                                           window_size=[2, 4, 4]))
    with pytest.raises(ValueError, match="model.size"):
        load_video_swin_weights(model, WEIGHTS)


def test_build_model_from_videomae_folder(tmp_path):
    torch.manual_seed(0)
    config = VideoMAEConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            image_size=32, patch_size=8, num_frames=4, num_channels=3, num_labels=4)
    source = VideoMAEForVideoClassification(config).eval()
    source.save_pretrained(tmp_path / "videomae")
    # Same grid, 3 channels: our features equal transformers' own VideoMAEModel output.
    cfg = ModelConfig(backbone="videomae", pretrained=str(tmp_path / "videomae"), channels=3, num_frames=4,
                      image_size=32)
    model = build_model(cfg).eval()
    reference = VideoMAEModel.from_pretrained(tmp_path / "videomae").eval()
    x = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        ours = model.backbone.features(x).flatten(1, 2)
        theirs = reference(x).last_hidden_state
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # One focal plane, another K and image size: adapted stem, resized position grid.
    cfg = ModelConfig(backbone="videomae", pretrained=str(tmp_path / "videomae"), channels=1, num_frames=8,
                      image_size=48)
    model = build_model(cfg).eval()
    assert model.backbone.embeddings.patch_embeddings.projection.weight.shape[1] == 1
    out = model(torch.randn(2, 8, 1, 48, 48), keyframe_hpi=torch.linspace(10, 100, 8).expand(2, 8))
    assert out.logits.shape == (2, 3) and torch.isfinite(out.logits).all()


def test_build_model_from_torchvision_file(tmp_path):
    cfg = ModelConfig(backbone="video_swin", size="micro", pretrained=str(WEIGHTS), channels=1,
                      backbone_overrides={"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 2, 4]})
    model = build_model(cfg)
    source = load_file(str(WEIGHTS))
    ours = model.backbone.layers[1].blocks[1].attn.qkv.weight
    torch.testing.assert_close(ours, source["features.2.1.attn.qkv.weight"])
    torch.testing.assert_close(model.backbone.patch_embed.proj.weight,
                               adapt_input_channels(source["patch_embed.proj.weight"], 1))
    save_file({}, str(tmp_path / "empty.safetensors"))
    with pytest.raises(ValueError, match="format"):
        build_model(ModelConfig(backbone="video_swin", pretrained=str(tmp_path / "empty.safetensors")))
