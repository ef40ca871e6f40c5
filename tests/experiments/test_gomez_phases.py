"""experiments/gomez_phases: the protocol's metrics by hand, and the whole experiment on the real samples."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EXPERIMENT = Path(__file__).resolve().parents[2] / "experiments" / "gomez_phases"
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "gomez_sample"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"gomez_phases_{name}", EXPERIMENT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


protocol = load("protocol")


def test_frame_scores_by_hand():
    truth = np.array([-1, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([5, 0, 1, 1, 1, 1, 2, 0])  # frame 0 is unlabelled and not scored
    scores = protocol.frame_scores(truth, pred)
    assert scores["frames"] == 7
    assert scores["accuracy"] == pytest.approx(4 / 7)
    assert scores["within_one"] == pytest.approx(6 / 7)  # only the last frame (2 -> 0) is two stages off
    # F1 per class present in the truth: 0: precision 1/2, recall 1/2; 1: 2/4 and 2/2; 2: 1/1 and 1/3
    f1 = [0.5, 2 * (1 / 2) / (1 / 2 + 1), 2 * (1 / 3) / (1 + 1 / 3)]
    assert scores["macro_f1"] == pytest.approx(np.mean(f1))
    with pytest.raises(ValueError, match="differ in length"):
        protocol.frame_scores(truth, pred[:-1])
    assert protocol.frame_scores(np.array([-1, -1]), np.array([0, 0]))["frames"] == 0


def test_event_errors_in_hours_and_missed_events():
    hpi = np.arange(8) * 0.5
    truth = np.array([-1, 0, 0, 1, 1, 2, 2, 3])
    decoded = np.array([0, 0, 1, 1, 1, 1, 2, 2])  # never reaches phase 3
    errors = protocol.event_errors(truth, decoded, hpi)
    assert errors[0] == pytest.approx(0.5) and errors[1] == pytest.approx(0.5) and errors[2] == pytest.approx(0.5)
    assert np.isnan(errors[3])
    rows = protocol.summarise_events([errors, {0: 1.5, 1: float("nan")}], ["a", "b", "c", "d", "e"])
    assert [r["event"] for r in rows] == ["a", "b", "c", "d"]
    assert rows[0] == {"event": "a", "annotated": 2, "missed": 0, "median_abs_h": 1.0, "mean_abs_h": 1.0}
    assert rows[1]["missed"] == 1 and rows[1]["median_abs_h"] == pytest.approx(0.5)
    assert rows[3]["missed"] == 1 and np.isnan(rows[3]["median_abs_h"])


@pytest.mark.slow
def test_experiment_end_to_end_on_the_real_samples(tmp_path, monkeypatch):
    """Build, train (the project's loop) and evaluate per frame on the 3 real videos with synthetic labels (~35 s)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data/gomez_sample is absent (real samples not available)")
    monkeypatch.setenv("WANDB_MODE", "offline")
    root = load("sample_root").write_sample_root(SHARED, tmp_path / "root")
    out = tmp_path / "out"
    metrics = load("run").main(["--gomez", str(root), "--out", str(out), "-c", str(EXPERIMENT / "config.yaml"),
                                "-c", str(EXPERIMENT / "tiny.yaml"), "train.max_steps=2"])
    # kfold/2 of the three couples tests on AA83-7; the split is by couple, so it was not trained on
    splits = json.loads((out / "dataset" / "splits.json").read_text())["kfold"]["2"]
    assert splits["test"]["embryo_ids"] == ["AA83-7"] and "AA83-7" not in splits["train"]["embryo_ids"]
    assert metrics["split"] == "kfold/2/test" and metrics["embryos"] == 1
    annotated = sum(b - a + 1 for _, a, b in pd.read_csv(root / "embryo_dataset_annotations" / "AA83-7_phases.csv",
                                                         header=None).itertuples(index=False))
    assert metrics["decoded"]["frames"] == annotated  # every labelled frame was scored, not only keyframes
    for kind in ("decoded", "argmax"):
        assert 0 <= metrics[kind]["accuracy"] <= metrics[kind]["within_one"] <= 1
        assert 0 <= metrics[kind]["macro_f1"] <= 1
    events = pd.read_csv(out / "per_event.csv")
    assert events["event"].iloc[0] == "tPB2" and (events["annotated"] == 1).all()
    assert json.loads((out / "metrics.json").read_text())["seconds"]["train"] > 0
    for suffix in ("_phases.csv", "_events.csv", "_phases.png"):
        assert (out / "annotations" / f"AA83-7{suffix}").is_file()
    assert (out / "train" / "final" / "config.json").is_file()


def test_on_device_wrapper_returns_the_models_phase_logits():
    """run.py moves clips to the GPU through this wrapper; on CPU it must give the model's own logits."""
    import torch

    from aivf.model import build_model
    from aivf.model_config import ModelConfig

    torch.manual_seed(0)
    model = build_model(ModelConfig(num_frames=4, image_size=32, phase_head=True)).eval()
    inputs = {"pixel_values": torch.randn(2, 4, 1, 32, 32), "keyframe_hpi": torch.tensor([[10.0, 30, 50, 70]] * 2),
              "keyframe_mask": torch.ones(2, 4, dtype=torch.bool)}
    with torch.no_grad():
        expected = model(**inputs).phase_logits
    wrapped = load("run").OnDevice(model, "cpu")
    assert wrapped.config is model.config
    torch.testing.assert_close(wrapped(**inputs).phase_logits, expected.float())


@pytest.mark.slow
def test_experiment_end_to_end_on_a_layout_fixture(tmp_path, monkeypatch):
    """The same run on the 7-plane Gomez fixture of the build tests (no ../shared needed), two planes stored."""
    from tests.dataset.test_gomez_layout import DEFECTS, write_gomez_root

    monkeypatch.setenv("WANDB_MODE", "offline")
    root = write_gomez_root(tmp_path / "gomez")
    out = tmp_path / "out"
    metrics = load("run").main(["--gomez", str(root), "--out", str(out), "-c", str(EXPERIMENT / "config.yaml"),
                                "-c", str(EXPERIMENT / "tiny.yaml"), "train.max_steps=2", "train.split=kfold/0",
                                "data.keyframes.tolerance_h=2.0", "data.planes=[F0,F30]", "dataset.num_planes=2",
                                "model.channels=2", "--layout", "shifted"])
    splits = json.loads((out / "dataset" / "splits.json").read_text())["kfold"]["0"]
    test_ids = splits["test"]["embryo_ids"]
    assert metrics["embryos"] == len(test_ids) > 0 and not set(test_ids) & set(splits["train"]["embryo_ids"])
    per_embryo = pd.read_csv(out / "per_embryo.csv")
    assert per_embryo["embryo_id"].tolist() == sorted(test_ids)
    # every labelled frame is scored: 30 runs, fewer for the video with the defects
    expected = {e: (27 - 2 - 2 if e == DEFECTS else 30) for e in test_ids}
    assert dict(zip(per_embryo["embryo_id"], per_embryo["frames"])) == expected
    assert metrics["layout"] == "shifted" and 0 <= metrics["decoded"]["accuracy"] <= 1
