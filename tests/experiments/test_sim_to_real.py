"""experiments/sim_to_real/phase_report.py: the per-phase table, by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

PATH = Path(__file__).resolve().parents[2] / "experiments" / "sim_to_real" / "phase_report.py"


def load():
    spec = importlib.util.spec_from_file_location("phase_report", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_per_phase_rows_by_hand():
    truth = np.array([-1, 0, 0, 0, 2, 2])
    argmax = np.array([1, 0, 1, 0, 2, 0])
    decoded = np.array([0, 0, 0, 1, 2, 1])
    rows = load().per_phase(truth, argmax, decoded, ["a", "b", "c"])
    assert [r["phase"] for r in rows] == ["a", "c", "all"]  # b has no annotated frame; frame 0 is unlabelled
    a, c, everything = rows
    assert a["frames"] == 3 and a["argmax_acc"] == pytest.approx(2 / 3) and a["decoded_acc"] == pytest.approx(2 / 3)
    assert a["decoded_within_one"] == 1.0
    assert c["frames"] == 2 and c["argmax_acc"] == 0.5 and c["decoded_acc"] == 0.5 and c["decoded_within_one"] == 1.0
    assert everything["frames"] == 5 and everything["decoded_acc"] == pytest.approx(3 / 5)


def test_real_stage_agreement_against_the_eye_read_windows_by_hand(tmp_path):
    """AB028-6's windows (zygote 1-120, 2-cell 130-176, 4-cell 190-240, 8-cell 252-291) against written calls."""
    exact = tmp_path / "exact.csv"  # the eye's stages, named by one phase each
    exact.write_text("tPNa,1,125\nt2,126,185\nt4,186,245\nt8,246,291\n")
    late = tmp_path / "late.csv"  # every stage called one stage late, but in order
    late.write_text("t2,1,125\nt4,126,185\nt8,186,245\nt9+,246,291\n")
    flat = tmp_path / "flat.csv"  # one call throughout
    flat.write_text("t2,1,291\n")
    module = load()
    (right, everything) = module.real_stage_agreement({"AB028-6": exact})
    assert right["frames"] == 120 + 47 + 51 + 40 == everything["frames"]
    assert right["stage_acc"] == 1.0 and right["rank_corr"] == pytest.approx(1.0)
    (shifted, _) = module.real_stage_agreement({"AB028-6": late})
    assert shifted["stage_acc"] == 0.0 and shifted["within_one_stage"] == 1.0 and shifted["rank_corr"] == pytest.approx(1.0)
    (constant, _) = module.real_stage_agreement({"AB028-6": flat})
    assert constant["stage_acc"] == pytest.approx(47 / 258) and constant["rank_corr"] == 0.0
    assert module.real_stage_agreement({"not-a-sample": exact}) == []
