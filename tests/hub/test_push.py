"""``aivf push``: save_pretrained + model card, create_repo + upload_folder against a local Hub stub."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch
from hub_stub import HubStub
from safetensors.torch import load_file

TOKEN = "hf_" + "SeCrEt" * 6


@pytest.fixture()
def trained_run(tmp_path):
    """A run folder as aivf.train writes it: best/ with save_pretrained weights, metrics, predictions, config."""
    import aivf.model  # noqa: F401 - registers the Auto classes
    from aivf.config import load_config, save_config
    from aivf.model import build_model

    cfg = load_config(None, ["model.num_frames=4", "model.image_size=32", "name=hubtest"])
    best = tmp_path / "hubtest" / "best"
    torch.manual_seed(0)
    build_model(cfg.model).save_pretrained(best, safe_serialization=True)
    save_config(cfg, best)
    (best / "metrics.json").write_text('{"step": 12, "auc_mean": 0.7}')
    rows = ["embryo_id,prob_d3_fhb,label_d3_fhb,prob_d5_fhb,label_d5_fhb,prob_euploid,label_euploid"]
    for i in range(40):
        rows.append(f"P{i // 3:03d}-{i % 3},{(i % 7) / 7:.3f},{int(i % 7 > 2)},{0.5},{int(i % 2)},0.4,")
    (best / "eval_predictions.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "hubtest"


def test_model_card_has_the_required_sections(trained_run):
    from aivf.hub.push import model_card

    card = model_card(trained_run / "best", "org/embryo")
    for needed in ("not a medical device", "## Data", "## Validation metrics", "95% CI", "## Limitations",
                   "## Training configuration", "## How to load", 'AutoModel.from_pretrained("org/embryo")'):
        assert needed in card
    assert "| fetal heartbeat after a day-3 transfer | 40 | 1.000 [1.000, 1.000] |" in card
    assert "| fetal heartbeat after a day-5 transfer | 40 | 0.500 [" in card  # constant scores: chance
    assert "| euploid by PGT-A (day 5-6 biopsy) | 0 | n/a (no labels) |" in card  # no labels: no AUC, no crash


def test_push_end_to_end_against_stub_and_token_never_logged(trained_run, monkeypatch, caplog, capfd):
    from aivf.cli import main

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    # The test command sets HF_HUB_OFFLINE=1 and huggingface_hub reads it once at import: lift it for this
    # test only, whose every request goes to the local stub.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")  # else a telemetry ping tries huggingface.co
    with HubStub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        code = main(["push", str(trained_run), "--repo-id", "org/embryo", "--endpoint", hub.url])
    assert code == 0
    assert hub.repos and hub.repos[0]["name"] == "embryo" and hub.repos[0]["visibility"] == "private"
    assert {"README.md", "config.json", "model.safetensors", "config.yaml"} <= set(hub.files)
    auth = [v for r in hub.requests for k, v in r["headers"].items() if k.lower() == "authorization"]
    assert auth and set(auth) == {f"Bearer {TOKEN}"}  # the token was sent, to the stub only
    assert b"not a medical device" in hub.files["README.md"]
    uploaded = trained_run / "uploaded.safetensors"
    uploaded.write_bytes(hub.files["model.safetensors"])
    original = load_file(trained_run / "best" / "model.safetensors")
    assert all(torch.equal(load_file(uploaded)[k], v) for k, v in original.items())
    out, err = capfd.readouterr()
    assert "org/embryo" in out
    for text in (out, err, caplog.text):
        assert TOKEN not in text and "SeCrEt" not in text


def test_cli_has_no_token_option():
    from aivf.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["push", "run", "--repo-id", "a/b", "--token", "x"])
    del sys.modules["hub_stub"]  # keep the stub module private to this file
    assert Path(__file__).with_name("hub_stub.py").is_file()
