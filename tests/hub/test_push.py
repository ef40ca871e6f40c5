"""``aivf push``: weights + code, preprocessing, calibration and a ModelCard, uploaded to a local Hub stub;
the uploaded folder alone loads, describes its inputs and ranks recordings with ``aivf rank``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hub_stub import HubStub
from safetensors.torch import load_file

TOKEN = "hf_" + "SeCrEt" * 6
RUN = """
name: hubtest
output_dir: {out}
sim: {{num_patients: 3, format: mp4, workers: 1, contact_sheet: false,
       imaging: {{image_size: 64, frame_interval_h: 2.0}}}}
data: {{keyframes: {{size: 64, num_keyframes: 8, crop_fraction: 0.8}}}}
dataset: {{loader: {{pixel_mean: 0.4, pixel_std: 0.3}}}}
model: {{backbone: videomae, size: micro, num_frames: 8, image_size: 64, channels: 1}}
eval: {{n_bootstrap: 200}}
"""


def _predictions(n: int = 60) -> pd.DataFrame:
    """aivf evaluate's predictions.csv: embryo ids that do NOT encode the patient (E000...), real patient_id."""
    rng = np.random.default_rng(0)
    patients = [f"patient-{i % 17:02d}" for i in range(n)]
    d5 = rng.integers(0, 2, n).astype(float)
    table = pd.DataFrame({"embryo_id": [f"E{i:03d}" for i in range(n)], "patient_id": patients,
                          "prob_d3_fhb": rng.uniform(size=n), "label_d3_fhb": np.where(np.arange(n) % 3 == 0, 1.0, 0.0),
                          "prob_d5_fhb": np.clip(0.3 * d5 + rng.uniform(0, 0.7, n), 0, 1), "label_d5_fhb": d5,
                          "prob_euploid": 0.4, "label_euploid": np.nan})
    return table


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run as aivf train + aivf evaluate leave it: best/ (weights, config, metrics, calibration), eval/, sim/."""
    from aivf.config import load_config, save_config
    from aivf.eval.calibration import Calibrator
    from aivf.model import build_model
    from aivf.sim.simulate import simulate

    root = tmp_path_factory.mktemp("hub")
    (root / "run.yaml").write_text(RUN.format(out=root / "outputs"))
    cfg = load_config(root / "run.yaml")
    run = root / "outputs" / "hubtest"
    best = run / "best"
    torch.manual_seed(0)
    build_model(cfg.model).save_pretrained(best, safe_serialization=True)
    save_config(cfg, best)
    (best / "metrics.json").write_text('{"step": 12, "best_metric": "auc_mean", "auc_mean": 0.7}')
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, (40, 3)).astype(float)
    Calibrator("platt", ("d3_fhb", "d5_fhb", "euploid")).fit(rng.normal(size=(40, 3)) + labels, labels).save(best)
    (run / "eval").mkdir()
    _predictions().to_csv(run / "eval" / "predictions.csv", index=False)
    (run / "eval" / "metrics.json").write_text(json.dumps({"split": "kfold/0/test"}))
    simulate(cfg.sim, run / "sim", cfg.seed, experiment=cfg, progress=False)
    return run


@pytest.fixture(scope="module")
def pushed(trained_run, tmp_path_factory):
    """``aivf push`` against the stub: (stub, captured stdout/stderr/log text, the uploaded files as a folder)."""
    from aivf.cli import main

    with pytest.MonkeyPatch.context() as mp, HubStub() as hub:
        mp.setenv("HF_TOKEN", TOKEN)
        mp.delenv("HF_HUB_OFFLINE", raising=False)
        # The test command sets HF_HUB_OFFLINE=1 and huggingface_hub reads it once at import: lift it here
        # only, where every request goes to the local stub.
        import huggingface_hub.constants

        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
        mp.setenv("HF_HUB_DISABLE_TELEMETRY", "1")  # else a telemetry ping tries huggingface.co
        mp.setenv("HF_ENDPOINT", hub.url)
        code = main(["push", str(trained_run), "--repo-id", "org/embryo", "--endpoint", hub.url,
                     "--dataset", "org/embryo-cohort", "--base-model", "MCG-NJU/videomae-base"])
    assert code == 0
    downloaded = tmp_path_factory.mktemp("downloaded") / "embryo"
    downloaded.mkdir()
    for name, content in hub.files.items():
        (downloaded / name).write_bytes(content)
    return hub, downloaded


def test_push_uploads_what_inference_needs_and_never_logs_the_token(pushed, trained_run):
    hub, downloaded = pushed
    assert hub.repos and hub.repos[0]["name"] == "embryo" and hub.repos[0]["visibility"] == "private"
    assert {"README.md", "config.json", "model.safetensors", "config.yaml", "calibration.json",
            "preprocessor_config.json", "configuration_aivf_embryo.py", "modeling_aivf_embryo.py"} <= set(hub.files)
    auth = [v for r in hub.requests for k, v in r["headers"].items() if k.lower() == "authorization"]
    assert auth and set(auth) == {f"Bearer {TOKEN}"}  # the token was sent, to the stub only
    original = load_file(trained_run / "best" / "model.safetensors")
    uploaded = load_file(downloaded / "model.safetensors")
    assert all(torch.equal(uploaded[k], v) for k, v in original.items())
    assert json.loads(hub.files["config.json"])["auto_map"]["AutoModel"] == "modeling_aivf_embryo.EmbryoModel"
    assert hub.files["calibration.json"] == (trained_run / "best" / "calibration.json").read_bytes()


def test_uploaded_folder_loads_without_aivf_and_reproduces_its_outputs(pushed, trained_run, tmp_path):
    from safetensors.torch import load_file as load

    from aivf.config import load_config
    from aivf.model import EmbryoModel
    from tests.model.remote_probe import run_without_aivf, write_inputs

    _, downloaded = pushed
    x = write_inputs(load_config(trained_run / "best" / "config.yaml"), tmp_path / "inputs.safetensors")
    run_without_aivf(downloaded, tmp_path / "inputs.safetensors", tmp_path / "out.safetensors", tmp_path)
    model = EmbryoModel.from_pretrained(str(trained_run / "best")).eval()
    with torch.no_grad():
        ours = model(pixel_values=x["pixel_values"], keyframe_hpi=x["keyframe_hpi"], covariates=x["covariates"],
                     keyframe_mask=x["keyframe_mask"].bool()).logits
    assert torch.allclose(load(tmp_path / "out.safetensors")["logits"], ours, atol=1e-6, rtol=1e-5)


def test_token_never_printed_or_logged(trained_run, monkeypatch, caplog, capfd):
    from aivf.cli import main

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    with HubStub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert main(["push", str(trained_run), "--repo-id", "org/embryo", "--endpoint", hub.url]) == 0
    out, err = capfd.readouterr()
    assert "org/embryo" in out
    for text in (out, err, caplog.text):
        assert TOKEN not in text and "SeCrEt" not in text


def test_model_card_parses_with_eval_results_from_the_real_patients(pushed):
    from huggingface_hub import ModelCard

    from aivf.eval.bootstrap import bootstrap_ci
    from aivf.eval.metrics import roc_auc

    _, downloaded = pushed
    card = ModelCard.load(downloaded / "README.md")
    data = card.data
    assert data.pipeline_tag == "video-classification" and data.library_name == "transformers"
    assert data.datasets == ["org/embryo-cohort"] and data.base_model == "MCG-NJU/videomae-base"
    results = {(r.metric_type, r.metric_config): r for r in data.eval_results}
    auc = results[("roc_auc", "d5_fhb")]
    assert "fetal heartbeat after a day-5 transfer" in auc.metric_name and "95% CI" in auc.metric_name
    assert auc.dataset_type == "org/embryo-cohort" and auc.dataset_split == "kfold/0/test"
    # The CI resamples the real patient_id column (17 patients), not a prefix of the embryo ids (60 "patients").
    table = _predictions()
    y, p = table["label_d5_fhb"].to_numpy(), table["prob_d5_fhb"].to_numpy()
    expected = bootstrap_ci(lambda i: roc_auc(y[i], p[i]), table["patient_id"].to_numpy(), 200, 0.95, 0)
    assert auc.metric_value == pytest.approx(expected["value"], abs=1e-4)
    assert auc.metric_args["ci_low"] == pytest.approx(expected["low"], abs=1e-4)
    assert auc.metric_args["ci_high"] == pytest.approx(expected["high"], abs=1e-4)
    assert auc.metric_args["ci_level"] == 0.95 and auc.metric_args["resampled"] == "patient"
    assert {("roc_auc", "d3_fhb"), ("brier", "d3_fhb"), ("brier", "d5_fhb")} < set(results)
    assert not any(r.metric_config == "euploid" for r in data.eval_results)  # no labels: no result
    text = card.text
    for needed in ("not a medical device", "## Data", "## Test metrics", "95% CI", "## Limitations",
                   "## Training configuration", "## How to load", "trust_remote_code=True", "calibration.json",
                   "| euploid by PGT-A (day 5-6 biopsy) | 0 (0) | n/a (no labels) | n/a (no labels) |"):
        assert needed in text, needed
    assert f"{expected['value']:.3f} [{expected['low']:.3f}, {expected['high']:.3f}]" in text


def test_model_card_without_evaluation_says_so(trained_run, tmp_path):
    import shutil

    from aivf.hub.push import model_card

    run = tmp_path / "run"
    shutil.copytree(trained_run / "best", run / "best")  # no eval/ folder: aivf evaluate never ran
    card = model_card(run / "best", "org/embryo")
    assert card.data.eval_results is None and card.data.base_model is None
    assert "run `aivf evaluate <run>` before `aivf push`" in card.text


def test_preprocessor_config_describes_the_training_keyframes(pushed, trained_run):
    from aivf.config import load_config
    from aivf.data.keyframes import grid_targets
    from aivf.model import EmbryoVideoProcessor

    _, downloaded = pushed
    cfg = load_config(trained_run / "best" / "config.yaml")
    processor = EmbryoVideoProcessor.from_pretrained(str(downloaded), local_files_only=True)
    saved = json.loads((downloaded / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "EmbryoVideoProcessor"
    assert processor.num_keyframes == 8 and processor.size == 64 and processor.crop_fraction == 0.8
    assert (processor.pixel_mean, processor.pixel_std, processor.num_planes) == (0.4, 0.3, 1)
    np.testing.assert_allclose(processor.grid_hpi, grid_targets(cfg.data.keyframes))
    assert processor.keyframe_config() == cfg.data.keyframes.__class__(
        **{**vars(cfg.data.keyframes), "grid_hpi": list(grid_targets(cfg.data.keyframes))})


def test_rank_works_from_the_downloaded_folder_alone(pushed, trained_run, tmp_path):
    """The uploaded files (without config.yaml, to prove the processor is what sets the keyframes) rank the
    simulated recordings exactly as the training run's own folder does, with its calibration."""
    import shutil

    from aivf.eval.rank_cli import rank_cohort

    downloaded = shutil.copytree(pushed[1], tmp_path / "embryo")  # a copy: the other tests keep the full folder
    (downloaded / "config.yaml").unlink()  # default config: 16 keyframes at 128 px, were it not for the processor
    videos = trained_run / "sim" / "videos"
    alone = rank_cohort(downloaded, videos, out=tmp_path / "alone")
    assert alone["meta"]["preprocessing"].endswith("preprocessor_config.json")
    assert "calibration.json" in alone["meta"]["calibration"] and not alone["meta"]["skipped"]
    run = rank_cohort(trained_run, videos, out=tmp_path / "run")
    assert run["meta"]["preprocessing"] == "the run's config"
    assert len(alone["table"]) == len(list(videos.glob("*.mp4"))) > 0
    merged = alone["table"].merge(run["table"], on="embryo_id", suffixes=("_alone", "_run"))
    for task in ("d3_fhb", "d5_fhb", "euploid"):
        np.testing.assert_allclose(merged[f"prob_{task}_alone"], merged[f"prob_{task}_run"], rtol=1e-6, atol=1e-7)


def test_cli_has_no_token_option():
    from aivf.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["push", "run", "--repo-id", "a/b", "--token", "x"])
    del sys.modules["hub_stub"]  # keep the stub module private to this file
    assert Path(__file__).with_name("hub_stub.py").is_file()
