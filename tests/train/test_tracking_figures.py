"""The W&B figures draw the report's curves (one ROC, one equal-mass binning) and leave pyplot alone."""

from __future__ import annotations

import matplotlib
import numpy as np
import torch

from aivf.eval.metrics import reliability_curve, roc_curve
from aivf.train.tracking import Tracker, keyframe_strip_figure, roc_and_calibration_figure


def test_figure_lines_are_the_metrics_curves_and_the_backend_is_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    probs = rng.beta(1, 6, (200, 2))  # crowded near 0: fixed-width bins would leave most bins empty
    labels = (rng.random((200, 2)) < probs).astype(float)
    labels[:40, 1] = np.nan
    backend = matplotlib.get_backend()
    fig = roc_and_calibration_figure(probs, labels, ("a", "b"))
    assert matplotlib.get_backend() == backend  # a notebook's inline backend survives training
    axes = np.array(fig.axes).reshape(2, 2)
    for t in range(2):
        fpr, tpr = roc_curve(labels[:, t], probs[:, t])
        line = axes[0, t].lines[0]
        np.testing.assert_allclose(line.get_xdata(), fpr)
        np.testing.assert_allclose(line.get_ydata(), tpr)
        curve = reliability_curve(labels[:, t], probs[:, t], 10)
        np.testing.assert_allclose(axes[1, t].lines[0].get_xdata(), curve["mean_pred"])
        np.testing.assert_allclose(axes[1, t].lines[0].get_ydata(), curve["frac_pos"])
        assert len(curve["count"]) == 10
    strip = keyframe_strip_figure(torch.zeros(2, 3, 1, 8, 8), torch.ones(2, 3), ["e1", "e2"])
    assert len(strip.axes) == 6
    fig.savefig(tmp_path / "f.png")  # a bare Figure renders without pyplot
    assert (tmp_path / "f.png").stat().st_size > 1000
    tracker = Tracker(tmp_path, {}, enabled=True, use_wandb=True, project="p", name="n", mode="offline")
    tracker.log_figures({"val/roc_calibration": fig, "train/keyframes": strip}, step=0)  # real wandb, offline
    tracker.finish()
    assert list(tmp_path.glob("wandb/offline-run-*/files/media/images/val/roc_calibration_0_*.png"))
