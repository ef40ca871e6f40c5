"""``aivf evaluate`` and ``aivf rank`` end to end: tiny simulated cohort -> dataset -> untrained micro model.

The model is untrained (training is the trainer's test), so only the plumbing is checked here:
files written, calibration saved beside the checkpoint, every input layout ranked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TINY = """
name: tiny
output_dir: {out}
sim: {{num_patients: 6, format: mp4, workers: 1, contact_sheet: false,
       imaging: {{image_size: 64, frame_interval_h: 2.0}}}}
dataset: {{embryos_per_shard: 16, workers: 0, splits: {{num_folds: 3}}}}
data: {{keyframes: {{size: 64, num_keyframes: 8}}}}
model: {{backbone: videomae, size: micro, num_frames: 8, image_size: 64, channels: 1}}
eval: {{n_bootstrap: 50, attribution_embryos: 1}}
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from aivf.config import load_config, save_config
    from aivf.dataset.build import build_dataset
    from aivf.dataset.cli import resolve_paths
    from aivf.model import build_model
    from aivf.sim.simulate import simulate

    root = tmp_path_factory.mktemp("eval_cli")
    (root / "tiny.yaml").write_text(TINY.format(out=root / "outputs"))
    cfg = load_config(root / "tiny.yaml")
    run = root / "outputs" / "tiny"
    simulate(cfg.sim, run / "sim", cfg.seed, experiment=cfg, progress=False)
    clinical, dataset = resolve_paths(cfg, None, None)
    build_dataset(cfg.dataset, clinical, dataset, cfg.data)
    build_model(cfg.model).save_pretrained(run / "final")
    save_config(cfg, run / "final")
    return run


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


@pytest.mark.slow
def test_evaluate_writes_metrics_report_and_calibration(run_dir):
    from aivf.eval import evaluate_cli

    assert _run(evaluate_cli, [str(run_dir)]) == 0
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert set(metrics["tasks"]) == {"d3_fhb", "d5_fhb", "euploid"}
    assert "random" in metrics["transfers"]["orderings"] and "bayes" in metrics["transfers"]["orderings"]
    page = (run_dir / "eval" / "report.html").read_text()
    assert "data:image/png;base64," in page and "Highest- and lowest-ranked" in page
    assert (run_dir / "final" / "calibration.json").is_file()
    preds = pd.read_csv(run_dir / "eval" / "predictions.csv")
    assert preds["prob_d5_fhb"].between(0, 1).all() and len(preds) == metrics["n_embryos"]


@pytest.mark.slow
def test_rank_dataset_and_simulated_videos(run_dir, tmp_path):
    from aivf.eval import rank_cli

    assert _run(rank_cli, [str(run_dir), str(run_dir / "dataset"), "--out", str(tmp_path / "ds")]) == 0
    ranked = pd.read_csv(tmp_path / "ds" / "ranked.csv")
    assert (ranked.groupby("patient_id")["rank"].apply(lambda r: sorted(r) == list(range(1, len(r) + 1)))).all()
    videos = run_dir / "sim" / "videos"
    argv = [str(run_dir), str(videos), "--clinical", str(run_dir / "sim" / "clinical.csv"), "--out", str(tmp_path / "v")]
    assert _run(rank_cli, argv) == 0
    ranked = pd.read_csv(tmp_path / "v" / "ranked.csv")
    assert len(ranked) == len(list(videos.glob("*.mp4")))
    first = ranked.sort_values(["patient_id", "rank"]).groupby("patient_id").head(1)
    assert (first.set_index("patient_id")["prob_d5_fhb"] >= ranked.groupby("patient_id")["prob_d5_fhb"].max() - 1e-12).all()
    assert "mean nothing clinically" in (tmp_path / "v" / "ranked.html").read_text()


@pytest.mark.slow
def test_rank_real_samples(run_dir, tmp_path):
    from aivf.eval import rank_cli

    if not SHARED.is_dir():
        pytest.skip("../shared (real samples) is absent")
    for name, expected in (("gomez_sample", 3), ("stork_sample", 14)):
        assert _run(rank_cli, [str(run_dir), str(SHARED / "data" / name), "--out", str(tmp_path / name)]) == 0
        assert len(pd.read_csv(tmp_path / name / "ranked.csv")) == expected
