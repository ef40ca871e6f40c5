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
