"""A Gomez-layout dataset root made of the three real sample videos and SYNTHETIC label files.

The samples in ``../shared/data/gomez_sample`` are real EmbryoScope frames (central plane only) but come
without their time-elapsed and phase files. To run the gomez_phases protocol end to end here, this writes
a root laid out exactly as the distributed dataset (formats.md section 1)::

    <root>/embryo_dataset/<video>  -> symlink to the real sample folder
    <root>/embryo_dataset_annotations/<video>_phases.csv      synthetic: typical event times, jittered
    <root>/embryo_dataset_time_elapsed/<video>_timeElapsed.csv synthetic: one row per RUN, 0.25 h apart
    <root>/embryo_dataset_grades.csv                           synthetic TE/ICM (one NA)

The phase files are NOT an embryologist's annotation of these embryos: they put each event at a typical
time (``TYPICAL_HPI``), so any score computed against them only shows that the pipeline runs. The time file
lists every RUN up to the last image, so AAL839-6 (RUN95 missing) also exercises the "more time rows than
images" defect.

    python experiments/gomez_phases/sample_root.py ../shared/data/gomez_sample outputs/gomez_sample_root
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

# Typical event times in hpi (round numbers in the range of published morphokinetic medians), in Gomez order.
TYPICAL_HPI = {"tPB2": 3.5, "tPNa": 9.0, "tPNf": 23.5, "t2": 26.0, "t3": 36.5, "t4": 38.0, "t5": 48.5, "t6": 51.0,
               "t7": 53.0, "t8": 56.0, "t9+": 68.0, "tM": 88.0, "tSB": 98.0, "tB": 106.0, "tEB": 113.0, "tHB": 125.0}
INTERVAL_H, FIRST_HPI = 0.25, 0.3  # the synthetic time file: RUN k at FIRST_HPI + INTERVAL_H (k - 1)
RUN = re.compile(r"_RUN(\d+)\.jpe?g$", re.I)


def synthetic_phases(last_run: int, seed: int) -> list[tuple[str, int, int]]:
    """Gomez ``phase,first,last`` rows for runs 1..last_run: the typical times stretched by a per-embryo factor."""
    rng = np.random.default_rng(seed)
    stretch = rng.uniform(0.9, 1.1)  # embryos develop at different paces
    starts = {p: int(round((t * stretch - FIRST_HPI) / INTERVAL_H)) + 1 for p, t in TYPICAL_HPI.items()}
    rows, names = [], list(starts)
    for i, phase in enumerate(names):
        first = starts[phase]
        last = (starts[names[i + 1]] - 1) if i + 1 < len(names) else last_run
        last = min(last, last_run)
        if first <= last:
            rows.append((phase, first, last))
    return rows  # frames before tPB2 stay unlabelled, as in the real files


def write_sample_root(samples: str | Path, root: str | Path) -> Path:
    """Lay out ``root`` as the Gomez dataset from the video folders in ``samples`` (see the module docstring)."""
    samples, root = Path(samples).resolve(), Path(root)
    videos = sorted(p for p in samples.iterdir() if p.is_dir())
    if not videos:
        raise FileNotFoundError(f"{samples}: no video folders (expected e.g. ../shared/data/gomez_sample)")
    for part in ("embryo_dataset", "embryo_dataset_annotations", "embryo_dataset_time_elapsed"):
        (root / part).mkdir(parents=True, exist_ok=True)
    grades = ["video_name,TE,ICM"]
    for i, video in enumerate(videos):
        link = root / "embryo_dataset" / video.name
        if not link.exists():
            link.symlink_to(video, target_is_directory=True)
        runs = [int(m[1]) for f in video.iterdir() if (m := RUN.search(f.name))]
        if not runs:
            raise FileNotFoundError(f"{video}: no *_RUN<k>.jpeg images")
        last = max(runs)
        rows = synthetic_phases(last, seed=i)
        (root / "embryo_dataset_annotations" / f"{video.name}_phases.csv").write_text(
            "".join(f"{p},{a},{b}\n" for p, a, b in rows))
        times = "".join(f"{k},{FIRST_HPI + INTERVAL_H * (k - 1):.2f}\n" for k in range(1, last + 1))
        (root / "embryo_dataset_time_elapsed" / f"{video.name}_timeElapsed.csv").write_text(f"frame_index,time\n{times}")
        grades.append(f"{video.name},{'ABC'[i % 3]},{'NA' if i == 0 else 'B'}")
    (root / "embryo_dataset_grades.csv").write_text("\n".join(grades) + "\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path, help="folder of Gomez video folders (../shared/data/gomez_sample)")
    parser.add_argument("root", type=Path, help="where to write the dataset root")
    args = parser.parse_args()
    print(write_sample_root(args.samples, args.root))


if __name__ == "__main__":
    main()
