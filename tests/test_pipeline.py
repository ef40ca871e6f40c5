"""``aivf run``: the whole journey on a tiny cohort, through the real command line, plus its config checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from aivf.config import ConfigError, load_config
from aivf.pipeline import STAGES, check_consistent

ROOT = Path(__file__).resolve().parents[1]
# ~40 embryos at 48 px, 8 keyframes, a few steps: every stage runs, nothing is expected to be learned.
TINY = [
    "sim.num_patients=10", "sim.workers=1", "sim.contact_sheet=false", "sim.imaging.image_size=48",
    "sim.imaging.frame_interval_h=2.0", "data.keyframes.num_keyframes=8", "data.keyframes.size=32",
    "dataset.workers=0", "dataset.embryos_per_shard=16", "dataset.splits.num_folds=3", "model.num_frames=8",
    "model.image_size=32", "train.max_steps=4", "train.per_device_batch_size=4", "train.warmup_steps=1",
    "train.eval_every=2", "train.log_every=2", "train.prefetch_batches=0", "eval.n_bootstrap=20",
    "eval.attribution_embryos=1",
]


def test_default_config_is_consistent():
    check_consistent(load_config([ROOT / "configs" / "default.yaml"]))


@pytest.mark.parametrize("override, named", [
    ("model.num_frames=8", "data.keyframes.num_keyframes"),
    ("model.image_size=96", "data.keyframes.size"),
    ("model.channels=3", "dataset.num_planes"),
    ("sim.format=none", "sim.format"),
    ("train.dataset_path=/elsewhere", "train.dataset_path"),
])
def test_inconsistent_config_fails_before_any_work(override, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        check_consistent(load_config([ROOT / "configs" / "default.yaml"], [override]))


@pytest.mark.slow
def test_aivf_run_end_to_end(tmp_path):
    cmd = [sys.executable, "-m", "aivf", "run", "-c", "configs/default.yaml", *TINY, f"output_dir={tmp_path}",
           "name=tiny", "--no-progress"]
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    run = tmp_path / "tiny"
    for i, stage in enumerate(STAGES, 1):
        assert f"[{i}/{len(STAGES)}] {stage}:" in out  # progress: every stage announced in order
    result = json.loads((run / "pipeline.json").read_text())
    assert set(STAGES) <= set(result["seconds"]) and result["seconds"]["total"] > 0
    report, ranked = Path(result["report"]), Path(result["ranked_csv"])
    assert f"report:         {report}" in out and str(ranked) in out  # the closing printout says where
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html") or "<html" in html[:500]
    assert "AUC" in html and "transfers per pregnancy" in html.lower()
    table = pd.read_csv(ranked)
    splits = json.loads((run / "dataset" / "splits.json").read_text())
    assert set(table["embryo_id"]) == set(splits["kfold"]["0"]["test"]["embryo_ids"])  # held-out patients only
    assert (table.groupby("patient_id")["rank"].min() == 1).all()
    metrics = json.loads(Path(result["metrics"]).read_text())
    assert metrics["split"] == "kfold/0/test" and set(metrics["tasks"]) == {"d3_fhb", "d5_fhb", "euploid"}
    assert set(result["summary"]["transfers_per_pregnancy"]) >= {"random", "model", "bayes"}
