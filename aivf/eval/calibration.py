"""Per-task probability calibration fitted on validation, saved beside the checkpoint as JSON.

A network's sigmoid outputs are rarely calibrated (over-confident after long training, or
shifted by label prevalence); clinics read the probabilities, so ``aivf rank`` applies this map.

Methods (one map per task):

- ``platt`` (default): ``sigmoid(a * z + b)``. The intercept ``b`` corrects a prevalence shift that a
  temperature cannot: with a weak task (day-3 FHB) temperature scaling can only flatten every
  probability towards 0.5, while Platt moves them to the base rate. ``a > 0`` keeps the ranking.
- ``temperature``: ``sigmoid(z / T)``, one scale, no intercept.
- ``isotonic``: monotone step function; can create ties and needs more labels.

A task with fewer than ``min_labels`` known labels, or only one class, stays identity (plain sigmoid).
``calibration.json`` carries ``"version": 2``; version-1 files (no ``version`` key) load unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit

from aivf.sim.types import TASKS

CALIBRATION_FILE = "calibration.json"
FORMAT_VERSION = 2  # 1: temperature/isotonic/identity; 2: adds platt entries and this key
METHODS = ("platt", "temperature", "isotonic")
PLATT_BOUNDS = ((1e-3, 50.0), (-15.0, 15.0))  # a > 0 keeps the ranking; bounds stop runaway fits on separable data


def binary_nll(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of 0/1 ``labels`` under ``sigmoid(scores)``, stable for large |scores|."""
    return float(np.mean(np.logaddexp(0.0, scores) - labels * scores))


def fit_platt(logits: np.ndarray, labels: np.ndarray, l2: float = 1e-3) -> tuple[float, float]:
    """(a, b) minimising NLL of ``sigmoid(a * logits + b)`` plus ``l2 * ((a - 1)^2 + b^2)``.

    The penalty pulls towards identity (a=1, b=0), so the penalised optimum can never have a higher
    NLL than identity on the fitting data; it also keeps (a, b) finite when the classes separate.

    Args:
        logits: (n,) raw model outputs of one task.
        labels: (n,) 0/1.
        l2: strength of the pull towards identity (per-sample NLL units).
    """
    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def objective(ab: np.ndarray) -> tuple[float, np.ndarray]:
        s = ab[0] * z + ab[1]
        resid = expit(s) - y  # d NLL / d s per sample
        value = binary_nll(s, y) + l2 * ((ab[0] - 1) ** 2 + ab[1] ** 2)
        grad = np.array([np.mean(resid * z) + 2 * l2 * (ab[0] - 1), np.mean(resid) + 2 * l2 * ab[1]])
        return value, grad

    res = minimize(objective, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B", bounds=PLATT_BOUNDS)
    return float(res.x[0]), float(res.x[1])


def _fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature T > 0 minimising the NLL of sigmoid(logits / T); searched on log T in [-4, 4]."""
    return float(np.exp(minimize_scalar(lambda log_t: binary_nll(logits / np.exp(log_t), labels),
                                        bounds=(-4.0, 4.0), method="bounded").x))


class Calibrator:
    """Maps logits (N, T) to calibrated probabilities (N, T), one map per task.

    Args:
        method: ``platt`` (a * z + b, keeps the ranking), ``temperature`` (z / T, keeps the ranking)
            or ``isotonic`` (monotone step function; can create ties, and needs more validation labels).
        tasks: task names, in the column order of the logits.
        min_labels: a task with fewer known labels than this stays identity.
        l2: Platt's pull towards identity (see ``fit_platt``).
    """

    def __init__(self, method: Literal["platt", "temperature", "isotonic"] = "platt", tasks=TASKS,
                 min_labels: int = 10, l2: float = 1e-3):
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {METHODS}, not {method!r} (eval.calibration)")
        self.method, self.tasks, self.min_labels, self.l2 = method, tuple(tasks), int(min_labels), float(l2)
        self.params: dict[str, dict] = {}
        self.grade_gate: dict | None = None  # aivf.eval.grade_gate: the day-5 gate read with recorded grades

    def _fit_task(self, x: np.ndarray, y: np.ndarray) -> dict:
        """Parameters of one task from its known (logit, label) pairs."""
        n = len(y)
        if n < self.min_labels or len(np.unique(y)) < 2:
            why = f"{n} label(s) < {self.min_labels}" if n < self.min_labels else "only one class"
            return {"kind": "identity", "n": n, "reason": why}
        if self.method == "platt":
            a, b = fit_platt(x, y, self.l2)
            before, after = binary_nll(x, y), binary_nll(a * x + b, y)
            if not after <= before:  # optimiser failure: never ship a map worse than the raw sigmoid
                return {"kind": "identity", "n": n, "reason": "platt fit did not improve NLL"}
            return {"kind": "platt", "a": a, "b": b, "n": n, "nll_before": before, "nll_after": after}
        if self.method == "temperature":
            return {"kind": "temperature", "temperature": _fit_temperature(x, y), "n": n}
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
        return {"kind": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist(), "n": n}

    def fit(self, logits: np.ndarray, labels: np.ndarray) -> Calibrator:
        """Fit each task on its known labels (NaN skipped).

        Args:
            logits: (N, T) raw model outputs.
            labels: (N, T) 0/1/NaN.
        """
        logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
        if logits.shape != labels.shape or logits.ndim != 2 or logits.shape[1] != len(self.tasks):
            raise ValueError(f"calibration needs logits and labels of shape (N, {len(self.tasks)}), "
                             f"got {logits.shape} and {labels.shape}")
        for j, task in enumerate(self.tasks):
            known = ~np.isnan(labels[:, j]) & np.isfinite(logits[:, j])
            self.params[task] = self._fit_task(logits[known, j], labels[known, j])
        return self

    def transform(self, logits: np.ndarray) -> np.ndarray:
        """(N, T) logits -> (N, T) calibrated probabilities (identity sigmoid for unfitted tasks)."""
        logits = np.asarray(logits, np.float64)
        out = expit(logits)
        for j, task in enumerate(self.tasks):
            out[:, j] = self.transform_task(task, logits[:, j])
        return out

    def transform_task(self, task: str, logits: np.ndarray) -> np.ndarray:
        """(N,) logits of one task -> calibrated probabilities (the plain sigmoid if ``task`` was not fitted)."""
        logits = np.asarray(logits, np.float64)
        p = self.params.get(task, {"kind": "identity"})
        if p["kind"] == "platt":
            return expit(p["a"] * logits + p["b"])
        if p["kind"] == "temperature":
            return expit(logits / p["temperature"])
        if p["kind"] == "isotonic":
            return np.interp(logits, p["x"], p["y"])
        return expit(logits)

    def save(self, folder: str | Path) -> Path:
        """Write ``calibration.json`` into ``folder`` (the checkpoint folder)."""
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps({"version": FORMAT_VERSION, "method": self.method, "tasks": list(self.tasks),
                                    "min_labels": self.min_labels, "l2": self.l2, "params": self.params,
                                    "grade_gate": self.grade_gate}, indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Calibrator:
        """Read ``calibration.json`` (version 1 or 2) from a checkpoint folder (or the file itself).

        Raises:
            FileNotFoundError: no calibration there; run ``aivf rank`` with a validation split to fit one.
            ValueError: a file written by a newer aivf (unknown version or kind).
        """
        path = Path(folder)
        path = path / CALIBRATION_FILE if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no calibration; fit one on validation (aivf evaluate / aivf rank)")
        data = json.loads(path.read_text())
        version = int(data.get("version", 1))
        kinds = {p.get("kind") for p in data["params"].values()}
        if version > FORMAT_VERSION or not kinds <= {"identity", *METHODS}:
            raise ValueError(f"{path}: calibration format version {version} with kinds {sorted(kinds)} is newer than "
                             f"this aivf reads (version {FORMAT_VERSION}); refit it with aivf evaluate")
        cal = cls(data["method"], data["tasks"], data.get("min_labels", 10), data.get("l2", 1e-3))
        cal.params = data["params"]
        cal.grade_gate = data.get("grade_gate")
        return cal
