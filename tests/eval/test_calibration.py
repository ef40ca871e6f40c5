"""Calibration: Platt and temperature recover known maps, isotonic is monotone, degenerate tasks fall back, JSON round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import expit

from aivf.eval.calibration import Calibrator, binary_nll
from aivf.eval.metrics import expected_calibration_error


def _data(n=4000, temperature=3.0, seed=0):
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 1.5, (n, 3))
    labels = (rng.random((n, 3)) < expit(true_logit)).astype(float)
    labels[: n // 4, 2] = np.nan  # unknown euploidy for most embryos in practice
    return true_logit * temperature, labels  # an over-confident model


@pytest.mark.parametrize("method", ["platt", "temperature", "isotonic"])
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


def _platt_data(a=0.5, b=-1.0, n=6000, seed=1):
    """Logits whose true calibration map is sigmoid(a * z + b) in every task."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, 3))
    return z, (rng.random((n, 3)) < expit(a * z + b)).astype(float)


def test_platt_recovers_known_slope_and_intercept_and_is_default():
    z, y = _platt_data(a=0.5, b=-1.0)
    cal = Calibrator().fit(z, y)
    assert cal.method == "platt"
    for task in cal.tasks:
        assert cal.params[task]["a"] == pytest.approx(0.5, abs=0.06)
        assert cal.params[task]["b"] == pytest.approx(-1.0, abs=0.1)


def test_platt_fixes_prevalence_shift_that_temperature_cannot():
    """A weak task whose logits sit near 0 while the base rate is 1/3: the day-3 failure of temperature scaling."""
    rng = np.random.default_rng(2)
    z = rng.normal(0.1, 0.05, (300, 3))
    y = (rng.random((300, 3)) < 1 / 3).astype(float)
    platt = Calibrator("platt").fit(z, y).transform(z)
    temp = Calibrator("temperature").fit(z, y).transform(z)
    assert abs(platt[:, 0].mean() - y[:, 0].mean()) < 0.03
    assert abs(temp[:, 0].mean() - y[:, 0].mean()) > 0.1  # stuck near 0.5


@pytest.mark.parametrize("seed", range(5))
def test_platt_never_worse_nll_than_identity_on_fitting_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 200))
    z = rng.normal(rng.normal(0, 2), rng.uniform(0.01, 4), (n, 3))
    y = (rng.random((n, 3)) < rng.uniform(0.05, 0.95)).astype(float)
    y[0, :], y[1, :] = 0.0, 1.0  # both classes present
    cal = Calibrator("platt").fit(z, y)
    probs = np.clip(cal.transform(z), 1e-12, 1 - 1e-12)
    for j in range(3):
        after = -np.mean(y[:, j] * np.log(probs[:, j]) + (1 - y[:, j]) * np.log(1 - probs[:, j]))
        assert after <= binary_nll(z[:, j], y[:, j]) + 1e-9
        assert np.all(np.diff(probs[np.argsort(z[:, j]), j]) >= 0)  # a > 0: ranking kept


def test_platt_stays_finite_on_separable_data():
    z = np.linspace(-3, 3, 40)[:, None].repeat(3, 1)
    y = (z > 0).astype(float)
    cal = Calibrator("platt").fit(z, y)
    for p in cal.params.values():
        assert p["kind"] == "platt" and np.isfinite(p["a"]) and np.isfinite(p["b"]) and p["a"] <= 50


def test_degenerate_tasks_fall_back_to_identity():
    z, y = _platt_data(n=200)
    y[:, 0] = 1.0  # one class
    y[5:, 1] = np.nan  # 5 labels < min_labels
    y[:, 2] = np.nan  # no labels at all
    cal = Calibrator("platt").fit(z, y)
    assert [cal.params[t]["kind"] for t in cal.tasks] == ["identity"] * 3
    assert "one class" in cal.params["d3_fhb"]["reason"] and "5 label" in cal.params["d5_fhb"]["reason"]
    assert np.allclose(cal.transform(z), expit(z))


def test_platt_round_trip_and_version_1_files_still_load(tmp_path):
    z, y = _platt_data(n=500)
    cal = Calibrator("platt").fit(z, y)
    path = cal.save(tmp_path)
    assert json.loads(path.read_text())["version"] == 2
    back = Calibrator.load(path)
    assert back.method == "platt" and np.allclose(back.transform(z), cal.transform(z))
    old = {"method": "temperature", "tasks": ["d3_fhb", "d5_fhb", "euploid"],
           "params": {"d3_fhb": {"kind": "temperature", "temperature": 2.0, "n": 48},
                      "d5_fhb": {"kind": "identity", "n": 3}, "euploid": {"kind": "temperature", "temperature": 0.5}}}
    (tmp_path / "calibration.json").write_text(json.dumps(old))
    v1 = Calibrator.load(tmp_path).transform(z)
    assert np.allclose(v1, np.stack([expit(z[:, 0] / 2), expit(z[:, 1]), expit(z[:, 2] / 0.5)], 1))


def test_unknown_method_and_newer_file_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="eval.calibration"):
        Calibrator("beta")
    (tmp_path / "calibration.json").write_text(json.dumps({"version": 9, "method": "x", "tasks": [], "params": {}}))
    with pytest.raises(ValueError, match="refit"):
        Calibrator.load(tmp_path)
