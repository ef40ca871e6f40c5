"""The evaluate modules are self-contained: loaded by path, offline, in a process that cannot import aivf,
they give aivf's and scikit-learn's values; each has a metric card whose example is right (issue 15 item 9)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aivf.eval import metrics, transfers
from aivf.eval.modules import MODULES, module_path

pytest.importorskip("evaluate")

# Runs in a fresh interpreter: `import aivf` is made impossible, so any aivf import in a module fails.
CHILD = r"""
import json, re, sys
sys.modules["aivf"] = None  # an import of aivf (or aivf.eval.metrics) now raises ImportError
import evaluate
root, data = sys.argv[1], json.load(open(sys.argv[2]))
y, p, c, outcome = data["y"], data["p"], data["c"], data["outcome"]
def load(name):
    return evaluate.load(f"{root}/{name}")
out = {
    "pooled_auc": load("pooled_auc").compute(references=y, prediction_scores=p),
    "within_cohort_auc": load("within_cohort_auc").compute(references=y, prediction_scores=p, cohorts=c),
    "brier_score": load("brier_score").compute(references=y, prediction_probs=p),
    "cross_entropy": load("cross_entropy").compute(references=y, prediction_probs=p),
    "expected_calibration_error": load("expected_calibration_error").compute(references=y, prediction_probs=p, n_bins=5),
    "top1_rate": load("top1_rate").compute(references=y, prediction_scores=p, cohorts=c),
    "transfers_per_pregnancy": load("transfers_per_pregnancy").compute(
        references=outcome, prediction_scores=p, cohorts=c, transferable=data["transferable"]),
}
wc = load("within_cohort_auc")
for start in range(0, len(y), 20):  # add_batch then compute, as in an evaluation loop
    wc.add_batch(references=y[start:start + 20], prediction_scores=p[start:start + 20], cohorts=c[start:start + 20])
out["within_cohort_auc_batched"] = wc.compute()
examples = {}
for name in data["modules"]:  # each metric card's example, run as written
    card = open(f"{root}/{name}/README.md").read()
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1).replace("path/to/", root + "/")
    call = code[code.index("metric.compute("):code.index("\n#")]
    scope = {}
    exec(code[:code.index("metric.compute(")], scope)
    examples[name] = eval(call, scope)
out["examples"] = examples
assert not [m for m in sys.modules if m.startswith("aivf") and sys.modules[m] is not None]
print(json.dumps(out))
"""


def _data(seed=0, n=60):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    y[:5] = np.nan
    p = np.round(rng.random(n), 2)  # some ties
    return y, p, [f"P{k}" for k in rng.integers(0, 10, n)]


@pytest.fixture(scope="module")
def child_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("modules")
    root = tmp / "modules"  # a copy outside the aivf package, as after downloading from the Hub
    for name in MODULES:
        shutil.copytree(module_path(name), root / name)
    y, p, c = _data()
    outcome = (np.random.default_rng(5).random(len(y)) < 0.4).astype(float)
    transferable = (np.arange(len(y)) % 4 != 0).astype(int)
    data = {"y": y.tolist(), "p": p.tolist(), "c": c, "outcome": outcome.tolist(),
            "transferable": transferable.tolist(), "modules": list(MODULES)}
    (tmp / "data.json").write_text(json.dumps(data))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
           "HF_HOME": str(tmp / "hf"), "HF_MODULES_CACHE": str(tmp / "hf_modules"), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", CHILD, str(root), str(tmp / "data.json")], cwd=tmp,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return out, (y, p, c, outcome, transferable.astype(bool))


def test_modules_match_aivf_and_sklearn(child_results):
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    out, (y, p, c, outcome, transferable) = child_results
    known = ~np.isnan(y)
    assert out["pooled_auc"]["pooled_auc"] == pytest.approx(metrics.roc_auc(y, p))
    assert out["pooled_auc"]["pooled_auc"] == pytest.approx(roc_auc_score(y[known], p[known]))
    wc = metrics.within_cohort_auc(y, p, c)
    assert (out["within_cohort_auc"]["within_cohort_auc"], out["within_cohort_auc"]["n_cohorts"],
            out["within_cohort_auc"]["n_pairs"]) == (pytest.approx(wc[0]), wc[1], wc[2])
    assert out["within_cohort_auc_batched"] == out["within_cohort_auc"]
    assert out["brier_score"]["brier"] == pytest.approx(metrics.brier(y, p))
    assert out["brier_score"]["brier"] == pytest.approx(brier_score_loss(y[known], p[known]))
    assert out["cross_entropy"]["cross_entropy"] == pytest.approx(metrics.cross_entropy(y, p))
    assert out["cross_entropy"]["cross_entropy"] == pytest.approx(log_loss(y[known], np.clip(p[known], 1e-7, 1 - 1e-7)))
    ece = out["expected_calibration_error"]
    assert ece["ece"] == pytest.approx(metrics.expected_calibration_error(y, p, 5))
    curve = metrics.reliability_curve(y, p, 5)
    for key in ("mean_pred", "frac_pos", "count"):
        np.testing.assert_allclose(ece[key], curve[key])
    rate, n = metrics.top1_rate(y, p, c)
    assert (out["top1_rate"]["top1_rate"], out["top1_rate"]["n_cohorts"]) == (pytest.approx(rate), n)
    want = transfers.summarize(transfers.simulate_transfers(np.array(c), p, outcome, transferable))
    assert out["transfers_per_pregnancy"] == pytest.approx(want)


def test_every_module_has_a_metric_card_whose_example_is_right(child_results):
    out, _ = child_results
    for name in MODULES:
        card = (Path(module_path(name)) / "README.md").read_text()
        assert card.startswith("---\n") and "- evaluate\n- metric\n" in card, name
        for section in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values",
                        "## Limitations and Bias"):
            assert section in card, (name, section)
        comment = re.search(r"# \{'(\w+)': ([0-9.]*[0-9])(\.\.\.)?", card)  # the example's first output as printed
        key, shown, cut = comment.group(1), comment.group(2), comment.group(3)
        value = out["examples"][name][key]
        digits = len(shown.split(".")[1]) if "." in shown else 0
        printed = math.floor(value * 10**digits) / 10**digits if cut else value  # "0.666..." is a truncation
        assert printed == pytest.approx(float(shown)), (name, key, value, shown)


def test_no_module_imports_aivf():
    for name in MODULES:
        source = (Path(module_path(name)) / f"{name}.py").read_text()
        assert not re.search(r"^\s*(from|import) aivf", source, re.M), name


def test_unknown_module_name_lists_choices():
    with pytest.raises(KeyError, match="within_cohort_auc"):
        module_path("roc_auc")
