"""Simulate a cohort folder: tables, truth, rendered recordings, config and contact sheet.

The folder layout is the contract of docs/architecture.md ("Simulated cohort folder"). Videos are
rendered and encoded in ``cfg.workers`` processes, one embryo per task. Every visual random number
comes from the embryo's own ``render_seed``, so the output does not depend on the worker count or
on the order in which tasks finish. An embryo whose rendering fails is listed in ``failures.csv``
(with the error) and gets an empty ``recording``; the run goes on.
"""

from __future__ import annotations

import csv
import multiprocessing
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from aivf.sim.config import ImagingConfig, SimConfig
from aivf.sim.render import EmbryoRenderer
from aivf.sim.types import EmbryoTruth
from aivf.sim.writers import write_gomez_grades, write_gomez_recording, write_mp4_recording


@dataclass
class RenderTask:
    """One embryo to render and write (pickled to a worker process)."""

    truth: EmbryoTruth
    imaging: ImagingConfig
    out_dir: str
    format: str  # "mp4" or "gomez"
    threads: int = 1  # encoder threads


def render_and_write(task: RenderTask) -> tuple[str, str, str]:
    """Render one embryo and write its recording.

    Returns:
        (embryo_id, recording path relative to the cohort folder or "", error text or "").
    """
    try:
        renderer = EmbryoRenderer(task.truth, task.imaging)
        video = renderer.render()  # (T, P, H, W) uint8
        if task.format == "mp4":
            path = write_mp4_recording(task.out_dir, task.truth.embryo_id, video, renderer.times, task.threads,
                                       events=task.truth.events)
        elif task.format == "gomez":
            path = write_gomez_recording(Path(task.out_dir) / "gomez", task.truth, video, renderer.times)
        else:
            raise ValueError(f"sim.format: unknown recording format {task.format!r} (use mp4, gomez or none)")
        return task.truth.embryo_id, path, ""
    except Exception as err:  # one broken embryo must not stop a cohort of hundreds
        detail = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return task.truth.embryo_id, "", f"{type(err).__name__}: {err} ({detail})"


def clinic_imaging_of(cohort: Any, clinic: str, default: ImagingConfig) -> ImagingConfig:
    """The imaging settings of ``clinic`` from the cohort's clinic profiles (``default`` if it has none)."""
    profile = getattr(cohort, "clinics", {}).get(clinic)
    return getattr(profile, "imaging", None) or default


def render_all(tasks: list[RenderTask], workers: int, progress: bool = True) -> list[tuple[str, str, str]]:
    """Run ``render_and_write`` over tasks in ``workers`` processes (in this process when workers <= 1).

    Returns:
        One (embryo_id, path, error) per task, in task order.
    """
    results: dict[str, tuple[str, str, str]] = {}
    bar = tqdm(total=len(tasks), desc="render+encode", unit="embryo", disable=not progress)
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            task.threads = 0 if workers <= 1 else 1  # 0 = x264 picks the thread count
            result = render_and_write(task)
            results[result[0]] = result
            bar.update()
    else:
        # forkserver (spawn where it is missing): safe whatever threads the parent runs (torch, tqdm),
        # and with the preload the heavy imports happen once, not in every worker.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            context.set_forkserver_preload(["aivf.sim.simulate"])
        with context.Pool(workers) as pool:
            for result in pool.imap_unordered(render_and_write, tasks, chunksize=1):
                results[result[0]] = result
                bar.update()
    bar.close()
    return [results[task.truth.embryo_id] for task in tasks]


def write_failures(path: Path, failures: list[tuple[str, str]]) -> Path:
    """``failures.csv``: embryo_id,error (header only when nothing failed)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["embryo_id", "error"])
        writer.writerows(failures)
    return path


def simulate(cfg: SimConfig, out_dir: str | Path, seed: int, experiment: Any = None,
             progress: bool = True) -> Path:
    """Sample a cohort and write its folder (see docs/architecture.md).

    Args:
        cfg: simulator settings (cohort size, format, imaging, workers, contact sheet).
        out_dir: the cohort folder to create.
        seed: master seed of the cohort (identical output for the same seed, any worker count).
        experiment: the full ExperimentConfig to save as config.yaml (default: one built around ``cfg``).
        progress: show a progress bar.

    Returns:
        The cohort folder.
    """
    from aivf.config import ExperimentConfig, save_config  # aivf.config imports aivf.sim: import late
    from aivf.sim.cohort import sample_cohort
    from aivf.sim.keyframe_oracle import KeyframeGrid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    experiment = experiment if experiment is not None else ExperimentConfig(seed=seed, sim=cfg)
    save_config(experiment, out)
    # the keyframe oracle of truth.csv conditions on the keyframe grid the dataset will be built with
    cohort = sample_cohort(cfg, seed, keyframes=KeyframeGrid.from_config(experiment.data.keyframes))
    recordings: dict[str, str] = {}
    failures: list[tuple[str, str]] = []
    if cfg.format != "none":
        tasks = [RenderTask(truth, clinic_imaging_of(cohort, truth.clinic, cfg.imaging), str(out), cfg.format)
                 for truth in cohort.embryos]
        for embryo_id, path, error in render_all(tasks, cfg.workers, progress):
            recordings[embryo_id] = path
            if error:
                failures.append((embryo_id, error))
        if cfg.format == "gomez":
            write_gomez_grades(out / "gomez", cohort.embryos)
    write_failures(out / "failures.csv", failures)
    clinical = cohort.clinical.copy()
    clinical["recording"] = [recordings.get(e, "") for e in clinical["embryo_id"]]
    clinical.to_csv(out / "clinical.csv", index=False)
    cohort.truth.to_csv(out / "truth.csv", index=False)
    if cfg.contact_sheet and cohort.embryos:
        from aivf.sim.contact_sheet import write_contact_sheet

        # Show the embryo furthest along by the sheet's last column (recorded, not just potential, events).
        pick = max(cohort.embryos, key=lambda e: (e.stage_at(min(e.recording_end_hpi, 115.0)), -e.fragmentation))
        write_contact_sheet(out / "contact_sheet.png", pick, clinic_imaging_of(cohort, pick.clinic, cfg.imaging),
                            cfg.real_sample_dir)
    if failures:
        print(f"aivf simulate: {len(failures)} of {len(cohort.embryos)} embryos failed; see {out / 'failures.csv'}")
    return out
