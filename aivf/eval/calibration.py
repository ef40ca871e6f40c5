"""Per-task probability calibration fitted on validation, saved beside the checkpoint as JSON.

A network's sigmoid outputs are rarely calibrated (over-confident after long training, or
shifted by label prevalence); clinics read the probabilities, so ``aivf rank`` applies this map.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from aivf.sim.types import TASKS

CALIBRATION_FILE = "calibration.json"


def _fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T > 0 minimising the NLL of sigmoid(logits / T); searched on log T."""

    def nll(log_t: float) -> float:
        p = np.clip(expit(logits / np.exp(log_t)), 1e-7, 1 - 1e-7)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


class Calibrator:
    """Maps logits (N, T) to calibrated probabilities (N, T), one map per task.

    Args:
        method: ``temperature`` (one scale per task, keeps the ranking) or ``isotonic``
            (monotone step function; can create ties, and needs more validation labels).
        tasks: task names, in the column order of the logits.
    """

    def __init__(self, method: Literal["temperature", "isotonic"] = "temperature", tasks=TASKS):
        if method not in ("temperature", "isotonic"):
            raise ValueError(f"calibration method must be 'temperature' or 'isotonic', not {method!r}")
        self.method, self.tasks = method, tuple(tasks)
        self.params: dict[str, dict] = {}

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Calibrator:
        """Fit each task on its known labels (NaN skipped); a task with <2 classes stays identity.

        Args:
            logits: (N, T) raw model outputs.
            labels: (N, T) 0/1/NaN.
        """
        from sklearn.isotonic import IsotonicRegression

        logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
        for j, task in enumerate(self.tasks):
            known = ~np.isnan(labels[:, j])
            x, y = logits[known, j], labels[known, j]
            if len(np.unique(y)) < 2:
                self.params[task] = {"kind": "identity", "n": int(known.sum())}
            elif self.method == "temperature":
                self.params[task] = {"kind": "temperature", "temperature": _fit_temperature(x, y), "n": len(y)}
            else:
                iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
                self.params[task] = {"kind": "isotonic", "x": iso.X_thresholds_.tolist(),
                                     "y": iso.y_thresholds_.tolist(), "n": len(y)}
        return self

    def transform(self, logits: np.ndarray) -> np.ndarray:
        """(N, T) logits -> (N, T) calibrated probabilities (identity sigmoid for unfitted tasks)."""
        logits = np.asarray(logits, np.float64)
        out = expit(logits)
        for j, task in enumerate(self.tasks):
            p = self.params.get(task, {"kind": "identity"})
            if p["kind"] == "temperature":
                out[:, j] = expit(logits[:, j] / p["temperature"])
            elif p["kind"] == "isotonic":
                out[:, j] = np.interp(logits[:, j], p["x"], p["y"])
        return out

    def save(self, folder: str | Path) -> Path:
        """Write ``calibration.json`` into ``folder`` (the checkpoint folder)."""
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps({"method": self.method, "tasks": list(self.tasks), "params": self.params}, indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Calibrator:
        """Read ``calibration.json`` from a checkpoint folder (or the file itself).

        Raises:
            FileNotFoundError: no calibration there; run ``aivf rank`` with a validation split to fit one.
        """
        path = Path(folder)
        path = path / CALIBRATION_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no calibration; fit one on validation (aivf evaluate / aivf rank)")
        data = json.loads(path.read_text())
        cal = cls(data["method"], data["tasks"])
        cal.params = data["params"]
        return cal
