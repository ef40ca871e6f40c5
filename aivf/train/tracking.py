"""Experiment tracking: a local ``metrics.jsonl`` always, W&B when asked (offline unless logged in).

Only the main process tracks; on other ranks :class:`Tracker` is a no-op, so the loop can call
it everywhere without ``if is_main_process`` clutter. wandb is imported only when used.
"""

from __future__ import annotations

import json
import math
import netrc
import os
from pathlib import Path
from typing import Any

import numpy as np


def resolve_wandb_mode(mode: str) -> str:
    """``auto`` -> WANDB_MODE if set, ``online`` if an API key is known, else ``offline``.

    Offline is the default here because the server cannot be reached; a user who ran
    ``wandb login`` (key in ~/.netrc) or set WANDB_API_KEY gets online runs unchanged.
    """
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("//")[-1]
        if netrc.netrc().authenticators(host):
            return "online"
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        pass
    return "offline"


class Tracker:
    """Writes metrics to ``<run>/metrics.jsonl`` and, if configured, to a W&B run (main process only)."""

    def __init__(self, run_dir: Path, config: dict, *, enabled: bool, use_wandb: bool, project: str,
                 name: str, mode: str = "auto", run_id: str | None = None):
        self.enabled = enabled
        self.run_id = run_id
        self._wandb = None
        if not enabled:
            return
        run_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(run_dir / "metrics.jsonl", "a")  # noqa: SIM115 - closed in finish()
        if use_wandb and resolve_wandb_mode(mode) != "disabled":
            import wandb

            run = wandb.init(project=project, name=name, config=config, dir=str(run_dir),
                             mode=resolve_wandb_mode(mode), id=run_id, resume="allow")
            self._wandb, self.run_id = wandb, run.id

    def log(self, metrics: dict[str, float], step: int) -> None:
        if not self.enabled:
            return
        record = {"step": step, **{k: _finite_or_none(_plain(v)) for k, v in metrics.items()}}
        # allow_nan=False: NaN is not JSON (strict readers reject the whole file); a missing value is null
        self._jsonl.write(json.dumps(record, allow_nan=False) + "\n")
        self._jsonl.flush()
        if self._wandb is not None:
            self._wandb.log(metrics, step=step)

    def log_figures(self, figures: dict[str, Any], step: int) -> None:
        """Log matplotlib figures (as images) to W&B; frees them either way."""
        if self.enabled and self._wandb is not None:
            self._wandb.log({k: self._wandb.Image(_png(fig)) for k, fig in figures.items()}, step=step)
        for fig in figures.values():
            fig.clear()  # bare Figures (no pyplot): nothing else holds them

    def finish(self) -> None:
        if not self.enabled:
            return
        self._jsonl.close()
        if self._wandb is not None:
            self._wandb.finish()


def _finite_or_none(value):
    """NaN / inf -> None, so that every line of metrics.jsonl is strict JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _png(fig):
    """A Figure as a PIL image (wandb.Image reads Figures through pyplot, which these never touch)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    buf.seek(0)
    return Image.open(buf)


def _figure(figsize: tuple[float, float]):
    """A bare matplotlib Figure: pyplot and its backend are left alone.

    Switching the backend (``matplotlib.use("Agg")``) from inside training would silence a notebook's
    inline plots for the rest of its session; a Figure made this way renders to PNG anywhere.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def roc_and_calibration_figure(probs: np.ndarray, labels: np.ndarray, tasks: tuple[str, ...], n_bins: int = 10):
    """One figure: ROC curve (top) and reliability diagram (bottom) per task.

    The curves are the evaluation report's own (``aivf.eval.metrics``: the ROC points and the
    equal-mass bins of the ECE), so W&B and report.html draw the same thing.

    Args:
        probs: (N, T) predicted probabilities.
        labels: (N, T) 0/1 with NaN where missing.
        tasks: T task names.
        n_bins: equal-mass bins of the reliability diagram (``eval.ece_bins`` in the report).
    """
    from aivf.eval.metrics import reliability_curve, roc_curve  # pure numpy; eval never imports train

    fig = _figure((3.2 * len(tasks), 6.4))
    axes = fig.subplots(2, len(tasks), squeeze=False)
    for t, task in enumerate(tasks):
        y, p = labels[:, t], probs[:, t]
        known = y[~np.isnan(y)]
        roc_ax, cal_ax = axes[0, t], axes[1, t]
        roc_ax.set_title(f"{task} (n={len(known)})")
        if len(np.unique(known)) == 2:
            roc_ax.plot(*roc_curve(y, p))
        roc_ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        roc_ax.set(xlabel="false positive rate", ylabel="true positive rate")
        curve = reliability_curve(y, p, n_bins)
        if len(curve["count"]):
            cal_ax.plot(curve["mean_pred"], curve["frac_pos"], "o-")
        cal_ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        cal_ax.set(xlabel="predicted probability (equal-mass bins)", ylabel="observed frequency",
                   xlim=(0, 1), ylim=(0, 1))
    fig.tight_layout()
    return fig


def keyframe_strip_figure(pixel_values, keyframe_hpi, embryo_ids: list[str], max_rows: int = 4):
    """Keyframes of the first embryos of a batch, one row each, titled with hours post insemination.

    Args:
        pixel_values: (B, K, C, H, W) normalised keyframes (plane 0 is shown).
        keyframe_hpi: (B, K) hours post insemination.
        embryo_ids: B ids.
    """
    rows, k = min(max_rows, pixel_values.shape[0]), pixel_values.shape[1]
    fig = _figure((1.2 * k, 1.3 * rows))
    axes = fig.subplots(rows, k, squeeze=False)
    for r in range(rows):
        for j in range(k):
            ax = axes[r, j]
            ax.imshow(pixel_values[r, j, 0].float().cpu().numpy(), cmap="gray")
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{float(keyframe_hpi[r, j]):.0f}h", fontsize=6)
        axes[r, 0].set_ylabel(embryo_ids[r], fontsize=6)
    fig.tight_layout()
    return fig
