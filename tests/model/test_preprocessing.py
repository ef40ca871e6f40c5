"""EmbryoVideoProcessor: saved as preprocessor_config.json, read back the transformers way, and it turns a
real MP4 into the same model inputs as ``aivf rank`` builds from the run's config."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.data.conftest import synthetic_frames, write_mp4


@pytest.fixture()
def cfg():
    from aivf.config import load_config

    return load_config(None, ["data.keyframes.num_keyframes=6", "data.keyframes.size=32",
                              "data.keyframes.start_hpi=1", "data.keyframes.cutoff_hpi=6",
                              "data.keyframes.crop_fraction=0.75", "model.channels=2",
                              "dataset.loader.pixel_mean=0.45", "dataset.loader.pixel_std=0.25"])


def test_save_and_load_round_trip(cfg, tmp_path):
    from transformers import AutoConfig  # noqa: F401 - the processor must not need aivf.model imported first

    from aivf.model.preprocessing import EmbryoVideoProcessor

    processor = EmbryoVideoProcessor.from_experiment(cfg)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["grid_hpi"] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # the grid written out, not just start/stop
    assert saved["image_processor_type"] == "EmbryoVideoProcessor"
    loaded = EmbryoVideoProcessor.from_pretrained(str(tmp_path), local_files_only=True)
    assert loaded.to_dict() == processor.to_dict()
    assert EmbryoVideoProcessor.from_pretrained(str(tmp_path), local_files_only=True, size=48).size == 48
    applied = loaded.apply_to(cfg)
    assert applied.data.keyframes.num_keyframes == 6 and applied.data.keyframes.crop_fraction == 0.75
    assert (applied.dataset.loader.pixel_mean, applied.dataset.loader.pixel_std) == (0.45, 0.25)
    assert cfg.data.keyframes.grid_hpi == []  # apply_to copies; the caller's config is untouched


def test_bad_settings_name_the_setting():
    from aivf.model.preprocessing import EmbryoVideoProcessor

    with pytest.raises(ValueError, match="grid_hpi has 2 values for num_keyframes=3"):
        EmbryoVideoProcessor(num_keyframes=3, grid_hpi=[1, 2])
    with pytest.raises(ValueError, match="keyframe_method='random'"):
        EmbryoVideoProcessor(keyframe_method="random")
    with pytest.raises(ValueError, match=r"frames of shape \(4, 8, 8\)"):
        EmbryoVideoProcessor().normalize(np.zeros((4, 8, 8), np.uint8))


def test_read_mp4_matches_what_rank_builds_from_the_config(cfg, tmp_path):
    from aivf.eval.rank_cli import recording_batch
    from aivf.model.preprocessing import EmbryoVideoProcessor

    times = 0.5 + 0.25 * np.arange(28)
    path = write_mp4(tmp_path / "P1-1.mp4", synthetic_frames(28), times)
    processor = EmbryoVideoProcessor.from_experiment(cfg)
    inputs = processor.read(path)
    assert inputs["pixel_values"].shape == (1, 6, 2, 32, 32)  # one recorded plane, repeated to the model's 2
    assert torch.equal(inputs["pixel_values"][:, :, 0], inputs["pixel_values"][:, :, 1])
    np.testing.assert_allclose(inputs["keyframe_hpi"][0].numpy(), [1, 2, 3, 4, 5, 6], atol=0.13)
    model_cfg = type("C", (), {"num_channels": 2})()
    batch, _ = recording_batch(path, None, cfg, model_cfg, np.full(2, np.nan))
    assert torch.allclose(batch["pixel_values"], inputs["pixel_values"], atol=1e-6)
    assert torch.equal(batch["keyframe_mask"], inputs["keyframe_mask"])
    raw = processor.read(path, return_tensors=None)["pixel_values"]
    assert isinstance(raw, np.ndarray) and raw.dtype == np.float32
