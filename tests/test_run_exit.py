"""``aivf run`` stops with exit 1 when the build produced nothing usable, as ``aivf build`` does (issue 14 item 9)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from aivf import run_cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ["sim.num_patients=3", "sim.workers=1", "sim.contact_sheet=false", "sim.imaging.image_size=32",
        "sim.imaging.frame_interval_h=4.0", "data.keyframes.num_keyframes=8", "data.keyframes.size=32",
        "dataset.workers=0", "dataset.splits.num_folds=3", "model.num_frames=8", "model.image_size=32"]


def test_aivf_run_stops_when_no_embryo_was_built(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    run_cli.add_arguments(parser)
    # every recording is "too short" for this min_frames: the build completes with no embryo in it
    args = parser.parse_args(["-c", str(ROOT / "configs" / "default.yaml"), *TINY, "dataset.min_frames=100000",
                              f"output_dir={tmp_path}", "name=empty", "--no-progress"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run_cli.run(args) == 1
    printed = capsys.readouterr().out
    assert "aivf run: build: nothing usable was built" in printed and "build_report.csv" in printed
    assert not (tmp_path / "empty" / "final").exists() and not (tmp_path / "empty" / "checkpoints").exists()
