"""Calibration: recovers a known temperature, isotonic is monotone, and both survive a JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from aivf.eval.calibration import Calibrator
from aivf.eval.metrics import expected_calibration_error


def _data(n=4000, temperature=3.0, seed=0):
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 1.5, (n, 3))
    labels = (rng.random((n, 3)) < expit(true_logit)).astype(float)
    labels[: n // 4, 2] = np.nan  # unknown euploidy for most embryos in practice
    return true_logit * temperature, labels  # an over-confident model


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibration_reduces_ece_and_round_trips(method, tmp_path):
    logits, labels = _data()
    cal = Calibrator(method).fit(logits, labels)
    probs = cal.transform(logits)
    for j in range(3):
        before = expected_calibration_error(labels[:, j], expit(logits[:, j]))
        after = expected_calibration_error(labels[:, j], probs[:, j])
        assert after < before / 2
    assert np.all(np.diff(probs[np.argsort(logits[:, 0]), 0]) >= -1e-12)  # monotone
    cal.save(tmp_path)
    assert np.allclose(Calibrator.load(tmp_path).transform(logits), probs)


def test_temperature_recovered_and_single_class_task_is_identity():
    logits, labels = _data(temperature=3.0)
    labels[:, 1] = 1.0
    cal = Calibrator("temperature").fit(logits, labels)
    assert cal.params["d3_fhb"]["temperature"] == pytest.approx(3.0, rel=0.15)
    assert cal.params["d5_fhb"]["kind"] == "identity"
    assert np.allclose(cal.transform(logits)[:, 1], expit(logits[:, 1]))


def test_missing_file_names_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="fit one on validation"):
        Calibrator.load(tmp_path)
