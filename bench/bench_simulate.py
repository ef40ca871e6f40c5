"""Speed of the simulator's render + encode: the issue's target is a 200-embryo cohort at 256 px,
to 120 hpi every 0.25 h, in under 2 minutes with 2 worker processes on a 2-core machine.

    .venv/bin/python bench/bench_simulate.py                 # 200 embryos, mp4, 2 workers
    .venv/bin/python bench/bench_simulate.py --embryos 20 --format gomez --workers 1

Prints embryos/s, ms per frame (wall clock, all workers together) and the total. The cohort model
samples the embryos (as in ``aivf simulate``); videos go to a temporary folder that is deleted.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import tempfile
import time
from pathlib import Path

from aivf.config import load_config
from aivf.sim.cohort import sample_cohort
from aivf.sim.render import frame_times
from aivf.sim.simulate import RenderTask, clinic_imaging_of, render_all

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embryos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=["mp4", "gomez"], default="mp4")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--interval", type=float, default=0.25, help="hours between frames (all clinics)")
    args = parser.parse_args()
    cfg = load_config(ROOT / "configs" / "sim" / "bench200.yaml").sim
    cfg = dataclasses.replace(cfg, num_patients=max(4, math.ceil(args.embryos / 3)))
    cohort = sample_cohort(cfg, seed=0)
    if len(cohort.embryos) < args.embryos:
        raise SystemExit(f"the cohort has only {len(cohort.embryos)} embryos; raise num_patients")
    with tempfile.TemporaryDirectory() as out:
        tasks = []
        for truth in cohort.embryos[: args.embryos]:
            # The bench pins every clinic to the imaging (size, 0.25 h, 120 hpi, full recording).
            imaging = dataclasses.replace(clinic_imaging_of(cohort, truth.clinic, cfg.imaging), image_size=args.size,
                                          frame_interval_h=args.interval, end_hpi=120.0)
            tasks.append(RenderTask(dataclasses.replace(truth, recording_end_hpi=120.0), imaging, out, args.format))
        frames = sum(len(frame_times(t.truth, t.imaging)) for t in tasks)
        start = time.perf_counter()
        results = render_all(tasks, args.workers)
        total = time.perf_counter() - start
        size_mb = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file()) / 1e6
    failed = sum(1 for _, _, error in results if error)
    print(f"{len(tasks)} embryos, {frames} frames ({args.size} px, {args.format}, {args.workers} workers): "
          f"{total:.1f} s total, {len(tasks) / total:.2f} embryos/s, {1e3 * total / frames:.2f} ms/frame, "
          f"{size_mb:.0f} MB written, {failed} failed")


if __name__ == "__main__":
    main()
