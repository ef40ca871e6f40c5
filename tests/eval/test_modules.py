"""The evaluate modules load by path with the network off and agree with the pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.eval import metrics, transfers
from aivf.eval.modules import MODULES, module_path

evaluate = pytest.importorskip("evaluate")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    y[:5] = np.nan
    return y, rng.random(n), [f"P{k}" for k in rng.integers(0, 10, n)]


def test_every_module_loads_by_path():
    for name in MODULES:
        assert evaluate.load(module_path(name)).name.replace("_", "") in name.replace("_", "")


def test_auc_modules_match_functions_and_accept_batches():
    y, s, c = _data()
    wc = evaluate.load(module_path("within_cohort_auc"))
    for start in range(0, 60, 20):  # add_batch then compute, as in an evaluation loop
        wc.add_batch(references=y[start:start + 20], prediction_scores=s[start:start + 20], cohorts=c[start:start + 20])
    out = wc.compute()
    assert out["within_cohort_auc"] == pytest.approx(metrics.within_cohort_auc(y, s, c)[0])
    pooled = evaluate.load(module_path("pooled_auc")).compute(references=y, prediction_scores=s)
    assert pooled["pooled_auc"] == pytest.approx(metrics.roc_auc(y, s))


def test_probability_modules_match_functions():
    y, p, c = _data(1)
    assert evaluate.load(module_path("brier_score")).compute(references=y, prediction_probs=p)["brier"] == \
        pytest.approx(metrics.brier(y, p))
    assert evaluate.load(module_path("cross_entropy")).compute(references=y, prediction_probs=p)["cross_entropy"] == \
        pytest.approx(metrics.cross_entropy(y, p))
    ece = evaluate.load(module_path("expected_calibration_error")).compute(references=y, prediction_probs=p, n_bins=5)
    assert ece["ece"] == pytest.approx(metrics.expected_calibration_error(y, p, 5)) and len(ece["count"]) == 5
    top1 = evaluate.load(module_path("top1_rate")).compute(references=y, prediction_scores=p, cohorts=c)
    assert top1["top1_rate"] == pytest.approx(metrics.top1_rate(y, p, c)[0])


def test_transfers_module_on_three_tiny_cohorts():
    out = evaluate.load(module_path("transfers_per_pregnancy")).compute(
        references=[0, 1, 0, 1, 0, 0, 0], prediction_scores=[0.9, 0.5, 0.1, 0.7, 0.6, 0.4, 0.3],
        cohorts=list("AAABBCC"))
    assert out["transfers_per_pregnancy"] == pytest.approx(2.5)
    assert out == pytest.approx(transfers.summarize(transfers.simulate_transfers(
        np.array(list("AAABBCC")), np.array([0.9, 0.5, 0.1, 0.7, 0.6, 0.4, 0.3]), np.array([0, 1, 0, 1, 0, 0, 0.]))))


def test_unknown_module_name_lists_choices():
    with pytest.raises(KeyError, match="within_cohort_auc"):
        module_path("roc_auc")
