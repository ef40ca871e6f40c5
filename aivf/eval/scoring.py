"""Model side of evaluation and ranking: find the checkpoint and its run, score batches, read keyframes.

Everything here talks to other stages through their contracts (docs/architecture.md): a
checkpoint is a ``save_pretrained`` folder of ``aivf.model.EmbryoModel`` (the trainer writes
``<run>/best`` and ``<run>/final`` with the run's ``config.yaml`` beside the weights).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from tqdm.auto import tqdm

from aivf.eval.analysis import DAY5_VISIBLE_HPI
from aivf.eval.attribution import temporal_occlusion
from aivf.eval.grade_gate import apply_grade_gate, fit_grade_gate, has_grades
from aivf.sim.types import DAY3_VIEW_HPI, TASKS


def resolve_checkpoint(path: str | Path) -> Path:
    """The weights folder: ``path`` itself if it holds ``config.json``, else ``<run>/best`` or ``<run>/final``.

    Raises:
        FileNotFoundError: none of these exists (the message lists what was tried).
    """
    path = Path(path)
    for candidate in (path, path / "best", path / "final"):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(f"{path}: no checkpoint (config.json) here nor in {path}/best or {path}/final; "
                            "pass a folder written by aivf train")


def config_files(checkpoint: Path, extra: list[str] | None) -> list[str]:
    """The run's saved config (beside the weights, or in the run folder) followed by the user's ``-c`` files."""
    saved = [p for p in (checkpoint / "config.yaml", checkpoint.parent / "config.yaml") if p.is_file()]
    return [str(p) for p in saved[:1]] + list(extra or [])  # none saved: the defaults + -c files


def anchor_to_run(cfg, checkpoint: Path) -> None:
    """Read a relative ``output_dir`` from the run folder the checkpoint lives in (in place).

    A run's saved config says ``output_dir: outputs``; without this, ``aivf evaluate /elsewhere/outputs/run``
    would read the dataset and tables of a same-named run under the current directory.
    """
    if Path(cfg.output_dir).is_absolute():
        return
    for folder in (checkpoint, *checkpoint.resolve().parents):
        if folder.name == cfg.name and (folder / "config.yaml").is_file():
            cfg.output_dir = str(folder.resolve().parent)
            return


def run_paths(cfg, clinical: str | None = None, dataset: str | None = None) -> tuple[Path, str]:
    """(clinical CSV, built dataset) of a run: explicit arguments, else ``train.dataset_path``, else the build's."""
    from aivf.dataset.cli import resolve_paths

    if dataset is None and getattr(getattr(cfg, "train", None), "dataset_path", ""):
        dataset = cfg.train.dataset_path
    return resolve_paths(cfg, clinical, dataset)


def eval_split(cfg, split: str | None = None, part: str = "test") -> str:
    """The split to score: ``split``, else ``eval.split``, else ``<train.split>/<part>`` (the trainer's fold)."""
    if split:
        return split
    if cfg.eval.split:
        return cfg.eval.split if part == "test" else f"{cfg.eval.split.rsplit('/', 1)[0]}/{part}"
    return f"{getattr(getattr(cfg, 'train', None), 'split', 'kfold/0')}/{part}"


def load_model(checkpoint: Path) -> torch.nn.Module:
    """``EmbryoModel.from_pretrained`` offline, in eval mode, on CPU."""
    from aivf.model import EmbryoModel

    return EmbryoModel.from_pretrained(str(checkpoint)).eval()


# Outcome tasks whose shown probability is gated by the clinic's usable call learned for every embryo:
# outcome labels exist only for transferred (usable) embryos, so P(FHB | transferred) says nothing about
# an arrested one; P(FHB | day-5) = P(usable blastocyst by day 6) x P(FHB | transferred on day 5). The day-6
# call, not the day-5 one: a day-5 morula that blastulates on day 6 is frozen and can still give a heartbeat
# (seed-1 test split: 24 of 167 embryos with a potential heartbeat). The first gate the model predicts is used.
GATES = {"d3_fhb": ("usable_d3",), "d5_fhb": ("usable_d6", "usable_d5")}
# A recording that stops before DAY5_VISIBLE_HPI (a day-3 transfer leaves the incubator at 67 h) shows nothing
# of day 5: its day-5 gate is then the day-3 call mapped to the day-5 gate, fitted on validation embryos that
# have both, instead of the day-5 head reading frames that are not there.
FROM_DAY3 = "usable_d5_from_d3"  # the calibrator's name for that map (its logit is logit_usable_d3)
# The same holds for the other factor, P(FHB | transferred on day 5): the day-5 FHB head never gets a loss on a
# clip cut at day 3 (the loader's day-3 view keeps only the day-3 labels), so on one it extrapolates freely
# (seed-0 test split of the v2 main job, looked at when this was found: shown 1e-9 to 1e-4 for the day-3
# clinic's best embryos, which then ranked below arrested siblings). A short recording's factor is instead
# the day-3 FHB head (day-3 view, the frames such a recording has) mapped to the day-5 FHB labels of
# validation embryos, which have both.
D5_FHB_FROM_DAY3 = "d5_fhb_from_d3"  # the calibrator's name for that map (its logit is logit_d3_fhb)


def gate_of(task: str, columns) -> str | None:
    """The usable call that gates ``task``'s shown probability: the first of GATES[task] in ``columns``
    (as ``logit_<gate>`` or ``prob_<gate>``), None when the model predicts none."""
    columns = set(columns)
    return next((g for g in GATES.get(task, ()) if {f"logit_{g}", f"prob_{g}"} & columns), None)


# Day-3 predictions read only the keyframes a day-3 decision sees (DAY3_VIEW_HPI). Their labels come only from
# day-3 transfers, whose recordings end at 67 h: on a full recording the day-3 FHB head would read five days of
# frames it was never trained on (seed-1 dev cohort: shown P(FHB | day-3) averaged 0.59 over every embryo where the
# truth averages 0.25, ECE 0.33).
DAY3_TASKS = ("d3_fhb", "usable_d3")


def day3_view(batch: dict) -> torch.Tensor | None:
    """[B, K] keyframe mask keeping only keyframes up to DAY3_VIEW_HPI, or None when no keyframe lies beyond it."""
    hpi = batch.get("keyframe_hpi")
    if hpi is None:
        return None
    mask = batch.get("keyframe_mask")
    present = mask.bool() if mask is not None else torch.isfinite(hpi)
    seen_by_day3 = hpi.float() <= DAY3_VIEW_HPI  # NaN compares False
    if not (present & ~seen_by_day3).any():
        return None
    return present & seen_by_day3


def aux_tasks_of(model: torch.nn.Module) -> list[str]:
    """The clinic-record targets the model predicts (``config.aux_tasks``), [] for older checkpoints."""
    return list(getattr(getattr(model, "config", None), "aux_tasks", []) or [])


@torch.no_grad()
def predict(model: torch.nn.Module, batches, total: int | None = None, desc: str = "scoring",
            progress: bool = True) -> pd.DataFrame:
    """Logits of every embryo: one row per embryo with ``embryo_id``, ``patient_id``, ``logit_<task>``.

    With auxiliary heads also ``logit_<aux task>`` (e.g. ``logit_usable_d5``); with a phase head
    ``stage_index``: the phase predicted at the last present keyframe (index into the 16 Gomez phases).
    ``label_<task>`` columns where the batches carry labels. The day-3 tasks (DAY3_TASKS) are scored on
    ``day3_view``: the keyframes seen by a day-3 transfer, as their training labels were.

    Args:
        model: returns ``.logits`` [B, 3] for the training-batch inputs.
        batches: iterable of training-format batches (``pixel_values`` [B, K, C, H, W] ...).
        total: number of batches, for the progress bar; progress: show it.
    """
    aux = aux_tasks_of(model)
    rows = []
    for batch in tqdm(batches, total=total, desc=desc, unit="batch", disable=not progress):
        out = model(pixel_values=batch["pixel_values"], keyframe_hpi=batch.get("keyframe_hpi"),
                    covariates=batch.get("covariates"), keyframe_mask=batch.get("keyframe_mask"))
        frame = pd.DataFrame(out.logits.float().numpy(), columns=[f"logit_{t}" for t in TASKS])
        frame.insert(0, "embryo_id", batch["embryo_id"])
        frame.insert(1, "patient_id", batch["patient_id"])
        if out.aux_logits is not None:
            for j, task in enumerate(aux):
                frame[f"logit_{task}"] = out.aux_logits[:, j].float().numpy()
        day3_mask = day3_view(batch)
        if day3_mask is not None:
            day3 = model(pixel_values=batch["pixel_values"], keyframe_hpi=batch.get("keyframe_hpi"),
                         covariates=batch.get("covariates"), keyframe_mask=day3_mask)
            heads = {t: day3.logits[:, j] for j, t in enumerate(TASKS)}
            if day3.aux_logits is not None:
                heads |= {t: day3.aux_logits[:, j] for j, t in enumerate(aux)}
            for task in DAY3_TASKS:
                if task in heads:
                    frame[f"logit_{task}"] = heads[task].float().numpy()
        if out.phase_logits is not None:
            frame["stage_index"] = last_present_phase(out.phase_logits, batch)
        if batch.get("keyframe_hpi") is not None:
            frame["last_keyframe_hpi"] = last_keyframe_hpi(batch)
        if "labels" in batch:
            for j, task in enumerate(TASKS):
                frame[f"label_{task}"] = batch["labels"][:, j].numpy()
        if "aux_labels" in batch and aux and hasattr(model, "aux_columns"):
            for task, column in zip(aux, model.aux_columns):
                frame[f"label_{task}"] = batch["aux_labels"][:, column].numpy()
        rows.append(frame)
    if not rows:
        raise ValueError("nothing to score: the split or folder holds no embryos")
    return pd.concat(rows, ignore_index=True)


def last_present_phase(phase_logits: torch.Tensor, batch: dict) -> np.ndarray:
    """(B,) int: the most likely phase at each embryo's last present keyframe (-1 when none is present)."""
    k = phase_logits.shape[1]
    mask = batch.get("keyframe_mask")
    present = mask.bool()[:, :k] if mask is not None else torch.ones(phase_logits.shape[:2], dtype=torch.bool)
    hpi = batch.get("keyframe_hpi")
    if hpi is not None:
        present = present & torch.isfinite(hpi[:, :k])
    last = torch.where(present, torch.arange(k).expand_as(present), torch.full_like(present, -1, dtype=torch.long))
    last = last.max(dim=1).values
    phase = phase_logits.float().argmax(-1).gather(1, last.clamp(min=0)[:, None])[:, 0]
    return torch.where(last >= 0, phase, torch.full_like(phase, -1)).numpy()


def last_keyframe_hpi(batch: dict) -> np.ndarray:
    """(B,) hpi of each embryo's last present keyframe (NaN when none is present)."""
    hpi = batch["keyframe_hpi"].float()
    present = torch.isfinite(hpi)
    if batch.get("keyframe_mask") is not None:
        present = present & batch["keyframe_mask"].bool()
    last = torch.where(present, hpi, torch.full_like(hpi, float("-inf"))).max(dim=1).values
    return torch.where(torch.isinf(last), torch.full_like(last, float("nan")), last).numpy()


def calibrated_tasks(pred: pd.DataFrame) -> list[str]:
    """The tasks with a ``logit_`` column in ``pred``: the outcome TASKS, then any auxiliary ones."""
    return [c[len("logit_"):] for c in pred.columns if c.startswith("logit_")]


def fit_calibrator(val: pd.DataFrame, method: str, biopsied=None):
    """A Calibrator of every task of ``val`` (outcomes and clinic records) on its known validation labels.

    Where ``val`` carries the recorded day-5 grades (``grade_gate.GRADE_COLUMNS``), the day-5 gate is also
    fitted with them (``calibrator.grade_gate``; used by ``add_probabilities`` when its table has grades).

    ``biopsied`` (N,) marks embryos whose transfer followed a PGT-A result: their FHB labels are conditional
    on a euploid report (a PGT-A clinic transfers only those), so they would calibrate P(FHB | transferred)
    to the euploid rate, well above what an untested usable embryo gives (seed-0 validation: transferred
    0.72 vs usable not transferred 0.41). The day-5 FHB factor is calibrated without them.
    """
    from aivf.eval.calibration import Calibrator

    if biopsied is not None and "label_d5_fhb" in val:
        val = val.copy()
        val.loc[np.asarray(biopsied, dtype=float) == 1, "label_d5_fhb"] = np.nan
    tasks = [t for t in calibrated_tasks(val) if f"label_{t}" in val]
    logits, labels = val[[f"logit_{t}" for t in tasks]].to_numpy(), val[[f"label_{t}" for t in tasks]].to_numpy()
    day5_gate = gate_of("d5_fhb", val.columns)
    if day5_gate and {"logit_usable_d3", f"label_{day5_gate}"} <= set(val):
        tasks.append(FROM_DAY3)
        logits = np.column_stack([logits, val["logit_usable_d3"].to_numpy()])
        labels = np.column_stack([labels, val[f"label_{day5_gate}"].to_numpy()])
    if day5_gate and {"logit_d3_fhb", "label_d5_fhb"} <= set(val):
        tasks.append(D5_FHB_FROM_DAY3)
        logits = np.column_stack([logits, val["logit_d3_fhb"].to_numpy()])
        labels = np.column_stack([labels, val["label_d5_fhb"].to_numpy()])
    calibrator = Calibrator(method, tasks).fit(logits, labels)
    if day5_gate and has_grades(val) and f"label_{day5_gate}" in val and "last_keyframe_hpi" in val:
        full = (val["last_keyframe_hpi"].to_numpy(np.float64) >= DAY5_VISIBLE_HPI)
        calibrator.grade_gate = fit_grade_gate(val[full], val.loc[full, f"logit_{day5_gate}"].to_numpy(np.float64),
                                               val.loc[full, f"label_{day5_gate}"].to_numpy(np.float64))
    return calibrator


def add_probabilities(pred: pd.DataFrame, calibrator=None) -> pd.DataFrame:
    """``prob_<task>`` columns: calibrated when a calibrator is given (by task name), else the plain sigmoid.

    Where the model predicts a task's usable gate (GATES), ``prob_<task>`` is the composed probability
    ``prob_<gate> x prob_<task>_if_transferred`` (``gate_of``); the latter keeps the outcome head's own (calibrated on
    transferred embryos) probability. A recording that ends before ``DAY5_VISIBLE_HPI`` gets its day-5 gate
    from the day-3 call (``FROM_DAY3``) when the calibrator has that map. Where ``pred`` carries the recorded
    day-5 grades and the calibrator a ``grade_gate``, a day-5 recording's gate reads them too.
    """
    for task in calibrated_tasks(pred):
        logits = pred[f"logit_{task}"].to_numpy(np.float64)
        pred[f"prob_{task}"] = calibrator.transform_task(task, logits) if calibrator is not None else expit(logits)
    day5_gate = gate_of("d5_fhb", pred.columns)
    if calibrator is not None and "last_keyframe_hpi" in pred and day5_gate:
        cut_short = ~(pred["last_keyframe_hpi"].to_numpy(np.float64) >= DAY5_VISIBLE_HPI)
        if FROM_DAY3 in calibrator.tasks:
            pred.loc[cut_short, f"prob_{day5_gate}"] = calibrator.transform_task(
                FROM_DAY3, pred.loc[cut_short, "logit_usable_d3"].to_numpy(np.float64))
        if D5_FHB_FROM_DAY3 in calibrator.tasks and "prob_d5_fhb" in pred:
            pred.loc[cut_short, "prob_d5_fhb"] = calibrator.transform_task(
                D5_FHB_FROM_DAY3, pred.loc[cut_short, "logit_d3_fhb"].to_numpy(np.float64))
    grade_gate = getattr(calibrator, "grade_gate", None)
    if grade_gate and day5_gate and has_grades(pred) and "last_keyframe_hpi" in pred:
        full = pred["last_keyframe_hpi"].to_numpy(np.float64) >= DAY5_VISIBLE_HPI
        pred.loc[full, f"prob_{day5_gate}"] = apply_grade_gate(
            grade_gate, pred[full], pred.loc[full, f"logit_{day5_gate}"].to_numpy(np.float64))
    for task in GATES:
        gate = gate_of(task, pred.columns)
        if gate and f"prob_{task}" in pred:
            pred[f"prob_{task}_if_transferred"] = pred[f"prob_{task}"]
            pred[f"prob_{task}"] = pred[f"prob_{gate}"] * pred[f"prob_{task}_if_transferred"]
    return pred


def display_frames(pixel_values: torch.Tensor, mean: float, std: float) -> np.ndarray:
    """Normalised keyframes [K, C, H, W] back to uint8 [K, H, W] of the first focal plane, for thumbnails."""
    x = (pixel_values[:, 0].float() * std + mean).clamp(0, 1) * 255
    return x.round().to(torch.uint8).numpy()


def keyframe_strips(model, batch: dict, probs: np.ndarray, labels: np.ndarray, ranks: list[int],
                    task_index: int, mean: float, std: float) -> list[dict]:
    """Report entries for a batch of chosen embryos: thumbnails, hpi and occlusion attribution of one task."""
    attribution = temporal_occlusion(model, batch)[:, :, task_index].numpy()  # (B, K)
    out = []
    for i, embryo in enumerate(batch["embryo_id"]):
        hpi = batch["keyframe_hpi"][i].numpy()
        mask = batch["keyframe_mask"][i].numpy().astype(bool) if "keyframe_mask" in batch else np.isfinite(hpi)
        out.append({"embryo_id": embryo, "rank": ranks[i], "prob": float(probs[i]), "label": float(labels[i]),
                    "frames": display_frames(batch["pixel_values"][i][mask], mean, std), "hpi": hpi[mask],
                    "attribution": attribution[i][mask]})
    return out
