"""Which checkpoint and split evaluation picks, without a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from aivf.config import load_config
from aivf.eval.evaluate_cli import sibling_split
from aivf.eval.scoring import eval_split, resolve_checkpoint


def test_split_defaults_follow_the_trainers_fold():
    cfg = load_config(overrides=["train.split=kfold/2"])
    assert eval_split(cfg) == "kfold/2/test" and eval_split(cfg, part="val") == "kfold/2/val"
    cfg = load_config(overrides=["eval.split=loco/C1/test"])
    assert eval_split(cfg, part="val") == "loco/C1/val" and eval_split(cfg, "kfold/0/test") == "kfold/0/test"
    assert sibling_split("kfold/0/test", "train") == "kfold/0/train"


def test_resolve_checkpoint_prefers_best_then_final(tmp_path):
    with pytest.raises(FileNotFoundError, match="aivf train"):
        resolve_checkpoint(tmp_path)
    for name in ("final", "best"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        assert resolve_checkpoint(tmp_path) == tmp_path / name
    assert resolve_checkpoint(tmp_path / "final") == tmp_path / "final"


def test_a_relative_output_dir_is_read_from_the_run_folder_not_the_current_directory(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from aivf.eval.scoring import anchor_to_run, run_paths

    for project in ("project", "elsewhere"):  # a same-named run under the current directory must not be used
        (tmp_path / project / "outputs" / "main" / "best").mkdir(parents=True)
        (tmp_path / project / "outputs" / "main" / "config.yaml").write_text("name: main\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = SimpleNamespace(output_dir="outputs", name="main", train=SimpleNamespace(dataset_path=""),
                          dataset=SimpleNamespace(clinical_csv="", output="dataset"), sim=SimpleNamespace(output="sim"))
    anchor_to_run(cfg, tmp_path / "project" / "outputs" / "main" / "best")
    clinical, dataset = run_paths(cfg)
    assert Path(dataset) == tmp_path / "project" / "outputs" / "main" / "dataset"
    assert clinical == tmp_path / "project" / "outputs" / "main" / "sim" / "clinical.csv"
    lone = SimpleNamespace(output_dir="outputs", name="main")
    anchor_to_run(lone, tmp_path / "downloaded-checkpoint")  # not inside a run folder: left as it is
    assert lone.output_dir == "outputs"


def test_the_day5_factor_is_calibrated_without_pgt_selected_transfers_and_composes_with_the_gate():
    import numpy as np
    import pandas as pd

    from aivf.eval.scoring import add_probabilities, fit_calibrator

    rng = np.random.default_rng(0)
    n = 400
    z = rng.normal(size=n)
    biopsied = rng.random(n) < 0.5
    # untested transfers succeed at sigmoid(z - 1); PGT-selected (euploid) ones far more often
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 1 + 3 * biopsied)))).astype(float)
    val = pd.DataFrame({"embryo_id": [f"e{i}" for i in range(n)], "patient_id": "p", "logit_d3_fhb": 0.0,
                        "logit_d5_fhb": z, "logit_euploid": 0.0, "logit_usable_d5": rng.normal(size=n),
                        "label_d3_fhb": np.nan, "label_d5_fhb": y, "label_euploid": np.nan,
                        "label_usable_d5": (rng.random(n) < 0.5).astype(float)})
    fair = add_probabilities(val.copy(), fit_calibrator(val, "platt", biopsied))
    pooled = add_probabilities(val.copy(), fit_calibrator(val, "platt"))
    untested = ~biopsied
    assert abs(fair["prob_d5_fhb_if_transferred"][untested].mean() - y[untested].mean()) < 0.05
    assert pooled["prob_d5_fhb_if_transferred"][untested].mean() > y[untested].mean() + 0.1
    assert np.allclose(fair["prob_d5_fhb"], fair["prob_usable_d5"] * fair["prob_d5_fhb_if_transferred"])


def test_the_day5_gate_is_the_day6_call_where_the_model_predicts_it_and_short_recordings_map_the_day3_call():
    import numpy as np
    import pandas as pd

    from aivf.eval.scoring import FROM_DAY3, add_probabilities, fit_calibrator, gate_of

    rng = np.random.default_rng(1)
    n = 300
    d3 = rng.normal(size=n)
    val = pd.DataFrame({"embryo_id": [f"e{i}" for i in range(n)], "patient_id": "p", "logit_d3_fhb": 0.0,
                        "logit_d5_fhb": rng.normal(size=n), "logit_euploid": 0.0, "logit_usable_d3": d3,
                        "logit_usable_d5": rng.normal(size=n), "logit_usable_d6": rng.normal(size=n),
                        "label_d3_fhb": np.nan, "label_d5_fhb": (rng.random(n) < 0.5).astype(float),
                        "label_euploid": np.nan, "label_usable_d3": (rng.random(n) < 0.7).astype(float),
                        "label_usable_d5": (rng.random(n) < 0.3).astype(float),
                        # the day-6 call follows the day-3 one: the map for short recordings must learn that
                        "label_usable_d6": (d3 + rng.normal(scale=0.3, size=n) > 0).astype(float),
                        "last_keyframe_hpi": np.where(np.arange(n) < 50, 66.7, 115.0)})
    assert gate_of("d5_fhb", val.columns) == "usable_d6"
    assert gate_of("d5_fhb", val.drop(columns=["logit_usable_d6"]).columns) == "usable_d5"  # older checkpoints
    assert gate_of("euploid", val.columns) is None
    cal = fit_calibrator(val, "platt")
    assert cal.params[FROM_DAY3]["a"] > 2  # fitted on the day-6 labels, which the day-3 logit predicts well
    pred = add_probabilities(val.copy(), cal)
    assert np.allclose(pred["prob_d5_fhb"], pred["prob_usable_d6"] * pred["prob_d5_fhb_if_transferred"])
    short = pred["last_keyframe_hpi"] < 96
    assert np.allclose(pred.loc[short, "prob_usable_d6"], cal.transform_task(FROM_DAY3, d3[short.to_numpy()]))
    assert not np.allclose(pred.loc[~short, "prob_usable_d6"], cal.transform_task(FROM_DAY3, d3[~short.to_numpy()]))


def test_a_short_recordings_day5_fhb_factor_comes_from_the_day3_head_not_an_extrapolating_day5_head():
    import numpy as np
    import pandas as pd

    from aivf.eval.scoring import D5_FHB_FROM_DAY3, add_probabilities, fit_calibrator

    rng = np.random.default_rng(2)
    n = 300
    quality = rng.normal(size=n)
    short = np.arange(n) < 60
    # the day-5 head reads the frames: on a clip cut at day 3 it extrapolates to a hugely negative logit
    d5 = np.where(short, -20.0, quality + rng.normal(scale=0.5, size=n))
    d3 = quality + rng.normal(scale=0.7, size=n)  # the day-3 head (day-3 view) also reads quality
    fhb = (rng.random(n) < 1 / (1 + np.exp(-(quality - 0.5)))).astype(float)
    val = pd.DataFrame({"embryo_id": [f"e{i}" for i in range(n)], "patient_id": "p", "logit_d3_fhb": d3,
                        "logit_d5_fhb": d5, "logit_euploid": 0.0, "logit_usable_d3": rng.normal(size=n),
                        "logit_usable_d6": rng.normal(size=n), "label_d3_fhb": np.nan,
                        "label_d5_fhb": np.where(short, np.nan, fhb),  # day-5 labels only on full recordings
                        "label_euploid": np.nan, "label_usable_d3": (rng.random(n) < 0.7).astype(float),
                        "label_usable_d6": (rng.random(n) < 0.4).astype(float),
                        "last_keyframe_hpi": np.where(short, 66.7, 115.0)})
    cal = fit_calibrator(val, "platt")
    assert cal.params[D5_FHB_FROM_DAY3]["a"] > 0.3  # the day-3 logit predicts the day-5 outcome here
    pred = add_probabilities(val.copy(), cal)
    factor = pred["prob_d5_fhb_if_transferred"]
    assert np.allclose(factor[short], cal.transform_task(D5_FHB_FROM_DAY3, d3[short]))
    assert factor[short].min() > 0.05  # not the day-5 head's 2e-9
    assert np.allclose(factor[~short], cal.transform_task("d5_fhb", d5[~short]))
    assert np.allclose(pred["prob_d5_fhb"], pred["prob_usable_d6"] * factor)


def test_day3_predictions_read_only_the_keyframes_a_day3_transfer_sees():
    """A full recording's day-3 logits equal those of the same recording cut at the day-3 transfer; the
    day-5 logits still read every keyframe."""
    import numpy as np
    import torch

    from aivf.eval.scoring import DAY3_VIEW_HPI, day3_view, predict
    from aivf.model import ModelConfig, build_model

    cfg = ModelConfig(backbone="videomae", size="micro", num_frames=8, image_size=32, head_dropout=0.0,
                      drop_path_rate=0.0, aux_tasks=["usable_d3", "usable_d6"])
    model = build_model(cfg).eval()
    g = torch.Generator().manual_seed(0)
    hpi = torch.linspace(12, 116, 8).repeat(2, 1)
    full = {"pixel_values": torch.randn(2, 8, 1, 32, 32, generator=g), "keyframe_hpi": hpi,
            "covariates": torch.zeros(2, 2), "keyframe_mask": torch.ones(2, 8, dtype=torch.bool),
            "embryo_id": ["a", "b"], "patient_id": ["p", "p"]}
    cut = dict(full, keyframe_mask=hpi <= DAY3_VIEW_HPI)
    assert torch.equal(day3_view(full), hpi <= DAY3_VIEW_HPI)
    assert day3_view(cut) is None  # nothing beyond day 3: one forward pass
    whole, short = predict(model, [full], progress=False), predict(model, [cut], progress=False)
    for column in ("logit_d3_fhb", "logit_usable_d3"):
        assert np.allclose(whole[column], short[column], atol=1e-5)
    assert not np.allclose(whole["logit_usable_d6"], short["logit_usable_d6"], atol=1e-3)
