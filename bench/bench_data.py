"""Data-pipeline benchmark (issue 3, section 6): one command, one table, on the same simulated recordings.

    .venv/bin/python bench/bench_data.py                # ~2-4 min on 2 cores
    .venv/bin/python bench/bench_data.py --patients 1 --copies 16 --json results.json

Rows:
1. MP4 keyframes (K=16 of ~480 frames, 128 px): aivf.data ``read_keyframes`` vs (a) decoding every
   frame (decord and PyAV) then picking, vs (b) bare decord ``get_batch`` of the same indices.
   Run on the simulator's MP4s as written, and on a copy re-encoded with a short GOP (keyframe
   every 16 frames), which is what makes random access cheap.
2. JPEG folders (simulated Gomez layout at 256 px and the real 500 px Gomez sample): aivf.data vs
   full-size PIL decode + resize of the same 16 frames.
3. Loader (16x1x128x128 uint8 samples): ShardLoader (Arrow cache, parquet direct) against two
   baselines: plain ``datasets`` streaming with ``.shuffle()`` (the slowest), and a torch ``DataLoader``
   over the memory-mapped map-style ``datasets.Dataset`` (the standard path; shuffled, batch 8, with
   0 and 2 workers); also plain streaming and bare map-style reads. Augmentation is measured
   separately (it can run batched on the training device).

    .venv/bin/python bench/bench_data.py --loader-only --copies 64   # the loader rows only
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import av
import numpy as np
import pandas as pd
import torch
from PIL import Image

from aivf.data import open_recording
from aivf.data.config import DataConfig, KeyframeConfig
from aivf.dataset.augment import augment_batch
from aivf.dataset.build import build_dataset
from aivf.dataset.config import AugmentConfig, DatasetConfig, LoaderConfig, SplitConfig
from aivf.dataset.loader import ShardLoader

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "gomez_sample"
KF = KeyframeConfig(num_keyframes=16, cutoff_hpi=116.0, size=128)
ROWS: list[dict] = []


def timed(fn, repeat: int = 3) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls (one warm-up call first)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(section: str, name: str, seconds: float, unit_count: int, unit: str, ref: str | None = None) -> None:
    ROWS.append({"section": section, "method": name, "ms_per_item": 1000 * seconds / unit_count,
                 "per_s": unit_count / seconds, "unit": unit, "ref": ref})


# Row-name prefixes of each reference: a row's "vs ref" column is the reference's time / the row's time.
REFS = {"bare": "(b)", "full": "full", "shuffle": "plain datasets streaming +"}
DATALOADER = "torch DataLoader, memory-mapped Dataset, 0 workers"  # the loader's second baseline


def reencode_short_gop(src: Path, dst: Path, gop: int = 16) -> None:
    """The same frames as H.264 with a keyframe every ``gop`` frames (random access decodes <= gop frames)."""
    import decord

    frames = decord.VideoReader(str(src)).get_batch(range(len(decord.VideoReader(str(src))))).asnumpy()[..., 0]
    with av.open(str(dst), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "gray"
        stream.options = {"crf": "23", "preset": "ultrafast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")))
        container.mux(stream.encode())
    dst.with_suffix(".csv").write_text(src.with_suffix(".csv").read_text())  # same frame times


def bench_mp4(videos: list[Path], label: str, data: DataConfig) -> None:
    import decord

    def run_all(fn):
        return sum(timed(lambda v=v: fn(v)) for v in videos)

    def aivf_read(v):
        with open_recording(v, data) as rec:
            return rec.read_keyframes(KF)

    picks = {}
    for v in videos:
        with open_recording(v, data) as rec:
            picks[v] = rec.keyframes(KF).valid_indices.tolist()
            frames = len(rec)

    def bare(v):
        return decord.VideoReader(str(v), width=128, height=128).get_batch(picks[v]).asnumpy()[..., 0]

    def all_decord(v):
        vr = decord.VideoReader(str(v), width=128, height=128)
        return vr.get_batch(range(len(vr))).asnumpy()[picks[v], ..., 0]

    def all_pyav(v):
        with av.open(str(v)) as container:
            decoded = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        return np.stack([decoded[i] for i in picks[v]])

    opened = {v: open_recording(v, data) for v in videos}  # the decoder is kept open by the recording

    def aivf_read_only(v):
        return opened[v].read(picks[v], KF.size)

    n = len(videos)
    section = f"MP4 {label} ({frames} frames, 16 keyframes, per video)"
    row(section, "aivf.data open + read_keyframes (times CSV, select, decode)", run_all(aivf_read), n, "video", "bare")
    row(section, "aivf.data read of the 16 indices (recording open)", run_all(aivf_read_only), n, "video", "bare")
    row(section, "(b) bare decord get_batch, same indices", run_all(bare), n, "video", "bare")
    row(section, "(a) decord decode all frames, then pick", run_all(all_decord), n, "video", "bare")
    row(section, "(a) PyAV decode all frames, then pick", run_all(all_pyav), n, "video", "bare")


def bench_jpeg(folders: list[Path], label: str, data: DataConfig) -> None:
    def aivf_read(f):
        with open_recording(f, data) as rec:
            return rec.read_keyframes(KF)

    files = {}
    for f in folders:
        with open_recording(f, data) as rec:
            files[f] = [rec.files[i][0] for i in rec.keyframes(KF).valid_indices]

    def full(f):
        return np.stack([np.asarray(Image.open(p).convert("L").resize((128, 128), Image.BILINEAR)) for p in files[f]])

    opened = {f: open_recording(f, data) for f in folders}
    picks = {f: opened[f].keyframes(KF).valid_indices for f in folders}
    section = f"JPEG {label} (16 keyframes to 128 px, per video)"
    row(section, "aivf.data open folder + read_keyframes", sum(timed(lambda f=f: aivf_read(f)) for f in folders),
        len(folders), "video", "full")
    row(section, "aivf.data read of the 16 frames (folder open; draft decode)",
        sum(timed(lambda f=f: opened[f].read(picks[f], KF.size)) for f in folders), len(folders), "video", "full")
    row(section, "full-size decode + resize", sum(timed(lambda f=f: full(f)) for f in folders), len(folders), "video", "full")


def bench_loader(cohort: Path, work: Path, copies: int) -> None:
    import datasets

    clinical = pd.read_csv(cohort / "clinical.csv", dtype=str, keep_default_na=False)
    # Repeat each recording ``copies`` times (distinct ids and patients) to get enough samples.
    many = pd.concat([clinical.assign(embryo_id=clinical.embryo_id + f"x{c}", patient_id=clinical.patient_id + f"x{c}")
                      for c in range(copies)])
    many.to_csv(cohort / "clinical_many.csv", index=False)
    out = str(work / "dataset")
    start = time.perf_counter()
    report = build_dataset(DatasetConfig(embryos_per_shard=32, workers=2, splits=SplitConfig(num_folds=3)),
                           cohort / "clinical_many.csv", out, DataConfig(keyframes=KF), rank=0, world_size=1)
    row("Build (aivf build, 2 processes)", f"{report.num_built} embryos -> parquet shards", time.perf_counter() - start,
        report.num_built, "embryo")
    n = report.num_built
    section = f"Loader, {n} samples of 16x1x128x128 uint8, read + tensor (samples/s, one process)"

    def epoch(loader, e):
        return sum(len(b["embryo_id"]) for b in loader.iter_epoch(e))

    cfg = LoaderConfig(batch_size=8, shuffle_buffer=64, drop_last=False, augment=AugmentConfig(enabled=False))
    loader = ShardLoader(out, None, cfg, seed=0, rank=0, world_size=1)
    start = time.perf_counter()
    epoch(loader, 0)
    row("Loader one-off", "Arrow cache creation from parquet (first epoch)", time.perf_counter() - start, n, "sample")
    row(section, "ShardLoader, shuffled (Arrow cache, memory-mapped)", timed(lambda: epoch(loader, 1), 2), n, "sample", "shuffle")
    direct = ShardLoader(out, None, dataclasses.replace(cfg, cache="none"), seed=0, rank=0, world_size=1)
    row(section, "ShardLoader, shuffled, parquet direct (no cache)", timed(lambda: epoch(direct, 1), 1), n, "sample", "shuffle")
    files = f"{out}/data/*.parquet"
    limit = min(n, 96)

    def stream(shuffle: bool):
        ds = datasets.load_dataset("parquet", data_files=files, streaming=True, split="train").with_format("torch")
        ds = ds.shuffle(seed=0, buffer_size=64) if shuffle else ds
        for i, _ in enumerate(ds):
            if i + 1 == limit:
                break

    row(section, "plain datasets streaming + .shuffle(buffer 64)", timed(lambda: stream(True), 1), limit, "sample", "shuffle")
    row(section, "plain datasets streaming, no shuffle", timed(lambda: stream(False), 1), limit, "sample", "shuffle")
    mapped = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(work / "hf_cache"))
    # The standard path: a map-style Dataset (Arrow, memory-mapped), torch format, a shuffled DataLoader.
    # The torch formatter returns uint8 keyframes as int64 (8x the bytes); the "uint8" row asks for
    # dtype=torch.uint8, which ShardLoader's zero-copy reads match.
    columns = ["keyframes", "keyframe_hpi", "keyframe_mask"]
    variants = [("", 0, mapped.with_format("torch", columns=columns)),
                ("", 2, mapped.with_format("torch", columns=columns)),
                (" (uint8)", 0, mapped.with_format("torch", columns=["keyframes"], dtype=torch.uint8))]
    for tag, workers, ds in variants:
        def dataloader_epoch(ds=ds, workers=workers):
            loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=workers,
                                                 generator=torch.Generator().manual_seed(0))
            return sum(len(b["keyframes"]) for b in loader)

        row(section, f"torch DataLoader, memory-mapped Dataset, {workers} workers{tag}",
            timed(dataloader_epoch, 2), n, "sample", "shuffle")
    mapped = mapped.with_format("torch", columns=["keyframes"], dtype=torch.uint8, output_all_columns=True)
    order = np.random.default_rng(0).permutation(n).tolist()
    row(section, "memory-mapped arrow, map-style random reads (uint8)",
        timed(lambda: [mapped[i]["keyframes"] for i in order], 2), n, "sample", "shuffle")
    batch = next(ShardLoader(out, None, cfg, rank=0, world_size=1).iter_epoch(0))
    gen = torch.Generator().manual_seed(0)
    row("Augmentation (CPU, batch of 8, measured separately)", "augment_batch rotate/flip/scale/brightness/hpi",
        timed(lambda: augment_batch(batch["pixel_values"], batch["keyframe_hpi"], batch["keyframe_mask"],
                                    AugmentConfig(), gen)), 8, "sample")


def print_table() -> None:
    section = None
    for r in ROWS:
        if r["section"] != section:
            section = r["section"]
            second = any(x["method"] == DATALOADER for x in ROWS if x["section"] == section)
            print(f"\n{section}\n{'method':<62} {'ms/item':>9} {'items/s':>9} {'vs ref':>8}"
                  + (f" {'vs DataLoader':>14}" if second else ""))
        ref = [x for x in ROWS if x["section"] == section and r["ref"] and x["method"].startswith(REFS.get(r["ref"], "?"))]
        ratio = f"{ref[0]['ms_per_item'] / r['ms_per_item']:.2f}x" if ref else ""
        line = f"{r['method']:<62} {r['ms_per_item']:>9.2f} {r['per_s']:>9.1f} {ratio:>8}"
        if second:
            base = next(x for x in ROWS if x["section"] == section and x["method"] == DATALOADER)
            line += f" {base['ms_per_item'] / r['ms_per_item']:>13.2f}x"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2, help="simulated patients (~4 embryos each)")
    parser.add_argument("--videos", type=int, default=4, help="recordings timed in the MP4/JPEG rows")
    parser.add_argument("--copies", type=int, default=32, help="dataset rows per recording in the loader rows")
    parser.add_argument("--work", default="", help="scratch folder (default: a temporary one)")
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    parser.add_argument("--loader-only", action="store_true", help="only the build, loader and augmentation rows")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from aivf.sim.config import ImagingConfig, SimConfig
    from aivf.sim.simulate import simulate

    work = Path(args.work or tempfile.mkdtemp(prefix="aivf_bench_data_"))
    imaging = ImagingConfig(image_size=256, frame_interval_h=0.25, end_hpi=120.0)
    cohorts = {}
    for layout in ("mp4",) if args.loader_only else ("mp4", "gomez"):
        sim = SimConfig(num_patients=args.patients, num_clinics=1, format=layout, workers=2, contact_sheet=False,
                        imaging=imaging)
        cohorts[layout] = simulate(sim, work / f"sim_{layout}", seed=0, progress=False)
    if not args.loader_only:
        bench_readers(cohorts, work, args.videos)
    bench_loader(cohorts["mp4"], work, args.copies)
    print(f"\nscratch: {work}; torch threads {torch.get_num_threads()}")
    print_table()
    if args.json:
        Path(args.json).write_text(json.dumps(ROWS, indent=1))


def bench_readers(cohorts: dict[str, Path], work: Path, num_videos: int) -> None:
    """The MP4 and JPEG rows (sections 1 and 2)."""
    data = DataConfig()
    clinical = pd.read_csv(cohorts["mp4"] / "clinical.csv")
    videos = [cohorts["mp4"] / r for r in clinical["recording"][:num_videos]]
    bench_mp4(videos, "as simulated (libx264 default GOP)", data)
    short = []
    for v in videos:
        short.append(work / "short_gop" / v.name)
        short[-1].parent.mkdir(exist_ok=True)
        reencode_short_gop(v, short[-1])
    bench_mp4(short, "re-encoded, keyframe every 16 frames", data)
    gomez = pd.read_csv(cohorts["gomez"] / "clinical.csv")
    bench_jpeg([cohorts["gomez"] / r for r in gomez["recording"][:num_videos]], "simulated Gomez layout, 256 px", data)
    if SHARED.exists():
        bench_jpeg(sorted(p for p in SHARED.iterdir() if p.is_dir()), "real Gomez sample, 500 px", data)


if __name__ == "__main__":
    main()
