"""``aivf annotate`` end to end with a tiny untrained phase model: MP4, Gomez folders, a corrupt file, real samples.

The model is random (training is the trainer's test), so what is checked is what must hold for any model:
every frame of every recording is covered by exactly one monotone row, the files are in the Gomez
format that aivf's own reader reads back, and a bad recording is reported without stopping the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from aivf.data import PHASES, open_recording
from aivf.data.gomez import read_phases
from tests.data.conftest import shared_data, synthetic_frames, write_mp4, write_runs

TINY = """
data: {{keyframes: {{size: 32, num_keyframes: 8, cutoff_hpi: 100.0}}}}
model: {{backbone: videomae, size: micro, num_frames: 8, image_size: 32, channels: 1, phase_head: true}}
output_dir: {out}
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A micro VideoMAE with a phase head built from a config (no download), saved like a run's final/."""
    from aivf.config import load_config, save_config
    from aivf.model import build_model

    root = tmp_path_factory.mktemp("annotate_ckpt")
    (root / "tiny.yaml").write_text(TINY.format(out=root))
    cfg = load_config(root / "tiny.yaml")
    model = build_model(cfg.model)
    model.save_pretrained(root / "final")
    save_config(cfg, root / "final")
    return root / "final"


def check_rows(csv_path: Path, numbers: np.ndarray) -> pd.DataFrame:
    """The phases CSV tiles numbers[0]..numbers[-1] with rows in phase order; returns the rows."""
    rows = pd.read_csv(csv_path, header=None, names=["phase", "first", "last"])
    assert rows["phase"].isin(PHASES).all()
    order = rows["phase"].map(PHASES.index).to_numpy()
    assert np.all(np.diff(order) > 0), "phases must appear once each, in developmental order"
    assert rows["first"].iloc[0] == numbers[0] and rows["last"].iloc[-1] == numbers[-1]
    assert (rows["first"].to_numpy()[1:] == rows["last"].to_numpy()[:-1] + 1).all(), "gap or overlap"
    assert (rows["first"] <= rows["last"]).all()
    labels = read_phases(csv_path, numbers)  # aivf's own Gomez reader labels every frame
    assert (labels >= 0).all() and np.all(np.diff(labels) >= 0)
    return rows


def write_gomez_video(root: Path, video: str, runs: list[int], hours: float = 0.5) -> Path:
    folder = root / "embryo_dataset" / video
    write_runs(folder, runs, size=48)
    times = root / "embryo_dataset_time_elapsed"
    times.mkdir(parents=True, exist_ok=True)
    lines = "\n".join(f"{r},{0.3 + hours * (r - 1):.3f}" for r in runs)
    (times / f"{video}_timeElapsed.csv").write_text(f"frame_index,time\n{lines}\n")
    return folder


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    """A folder with a real MP4 (+ time CSV), two Gomez videos (one with a missing run) and a corrupt MP4."""
    root = tmp_path / "cohort"
    root.mkdir()
    frames = synthetic_frames(40, 64)
    write_mp4(root / "E1-1.mp4", frames, 1.0 + 3.0 * np.arange(40))
    write_gomez_video(root / "gomez", "AA1-2", list(range(1, 31)), hours=4.0)
    write_gomez_video(root / "gomez", "AA1-3", [r for r in range(1, 26) if r != 9], hours=4.0)
    (root / "broken-1.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return root


def test_annotates_every_frame_and_reports_the_corrupt_recording(checkpoint, cohort, tmp_path):
    from aivf.annotate.cli import annotate

    out = tmp_path / "out"
    result = annotate(cohort, checkpoint, out=out, batch_size=4, progress=False)
    done = {row["embryo_id"]: row for row in result["done"]}
    assert set(done) == {"E1-1", "AA1-2", "AA1-3"}
    assert [Path(r["recording"]).name for r in result["failed"]] == ["broken-1.mp4"]
    assert "broken-1.mp4" in result["failed"][0]["error"] and "RecordingError" in result["failed"][0]["error"]

    check_rows(out / "E1-1_phases.csv", np.arange(1, 41))  # videos: frame index + 1
    assert done["E1-1"]["frames"] == 40 and done["E1-1"]["frames_per_s"] > 0
    check_rows(out / "AA1-2_phases.csv", np.arange(1, 31))  # Gomez: RUN numbers
    rows = check_rows(out / "AA1-3_phases.csv", np.array([r for r in range(1, 26) if r != 9]))
    assert rows["first"].iloc[0] == 1 and rows["last"].iloc[-1] == 25  # the missing RUN9 is inside a row

    events = pd.read_csv(out / "AA1-2_events.csv")
    assert list(events.columns) == ["event", "frame", "time_hpi"]  # a time file exists: event times in hpi
    first = pd.read_csv(out / "AA1-2_phases.csv", header=None, names=["phase", "first", "last"])
    assert events["event"].tolist() == first["phase"].tolist()
    assert np.allclose(events["time_hpi"], 0.3 + 4.0 * (events["frame"] - 1), atol=0.01)
    with Image.open(out / "AA1-2_phases.png") as strip:
        assert strip.size[0] >= 400 and strip.mode == "RGB"
    summary = pd.read_csv(result["summary"])
    assert len(summary) == 4 and summary["error"].notna().sum() == 1


def test_clips_predict_each_frame_at_its_own_time(checkpoint, tmp_path):
    """The per-frame log-probabilities equal a direct forward pass of the frame's own clip."""
    import torch

    from aivf.annotate.predict import predict_frames
    from aivf.annotate.windows import frame_windows
    from aivf.config import load_config
    from aivf.data.keyframes import grid_targets
    from aivf.eval.scoring import load_model

    path = write_mp4(tmp_path / "E2-1.mp4", synthetic_frames(30, 64), 2.0 + 3.5 * np.arange(30))
    cfg = load_config(checkpoint / "config.yaml")
    model = load_model(checkpoint)
    with open_recording(path, cfg.data) as rec:
        phases = predict_frames(model, rec, cfg.data.keyframes, 0.5, 0.5, batch_size=3, progress=False)
        frames = rec.read(np.arange(len(rec)), 32)
        times = rec.times_hpi
    windows = frame_windows(times, grid_targets(cfg.data.keyframes), cfg.data.keyframes.tolerance_h)
    t = 17
    clip = windows.clip_of_frame[t]
    pixels = torch.from_numpy(frames[np.clip(windows.indices[clip], 0, None)]).float().div(255).sub(0.5).div(0.5)
    with torch.no_grad():
        out = model(pixel_values=pixels[None], keyframe_hpi=torch.from_numpy(windows.hpi[clip])[None].float(),
                    keyframe_mask=torch.from_numpy(windows.mask[clip])[None])
    expected = out.phase_logits[0, windows.slot_of_frame[t]].log_softmax(-1).numpy()
    assert np.allclose(phases.log_probs[t], expected, atol=1e-5)
    assert phases.log_probs.shape == (30, 16) and phases.num_clips == 30  # swap: one clip per frame


def test_cli_exit_codes(checkpoint, cohort, tmp_path, capsys):
    from aivf.annotate import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(cohort / "gomez" / "embryo_dataset" / "AA1-2"), "--checkpoint", str(checkpoint),
                              "--out", str(tmp_path / "one"), "--no-progress", "--layout", "shifted"])
    assert cli.run(args) == 0
    assert "1 recording(s) annotated, 0 failed" in capsys.readouterr().out
    check_rows(tmp_path / "one" / "AA1-2_phases.csv", np.arange(1, 31))
    args = parser.parse_args([str(cohort / "broken-1.mp4"), "--checkpoint", str(checkpoint),
                              "--out", str(tmp_path / "bad"), "--no-progress"])
    assert cli.run(args) == 1  # nothing annotated
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "broken-1.mp4" in printed


def test_model_without_phase_head_is_refused(tmp_path, cohort):
    from aivf.annotate.cli import annotate
    from aivf.config import load_config
    from aivf.model import build_model

    (tmp_path / "c.yaml").write_text(TINY.format(out=tmp_path).replace("phase_head: true", "phase_head: false"))
    build_model(load_config(tmp_path / "c.yaml").model).save_pretrained(tmp_path / "nophase")
    with pytest.raises(ValueError, match="no phase head"):
        annotate(cohort, tmp_path / "nophase", out=tmp_path / "o", progress=False)


def test_real_gomez_samples(checkpoint, tmp_path):
    """The three real EmbryoScope videos (500 px JPEGs, AAL839-6 lacks RUN95; no time files)."""
    samples = shared_data("gomez_sample")
    from aivf.annotate.cli import annotate

    result = annotate(samples, checkpoint, out=tmp_path, batch_size=16, progress=False)
    assert not result["failed"]
    assert {r["embryo_id"] for r in result["done"]} == {"AA83-7", "AAL839-6", "AB028-6"}
    for row in result["done"]:
        with open_recording(samples / row["embryo_id"]) as rec:
            numbers = rec.runs
        check_rows(tmp_path / f"{row['embryo_id']}_phases.csv", numbers)
        assert row["frames"] == len(numbers)
        # no time file: the reader's constant-interval times are a guess, so no hpi column
        assert list(pd.read_csv(tmp_path / f"{row['embryo_id']}_events.csv").columns) == ["event", "frame"]


def test_pdb_slide_every_well(checkpoint, tmp_path):
    """An EmbryoScope .pdb slide: each well is one recording; a damaged .pdb beside it is reported."""
    from aivf.annotate.cli import annotate
    from tests.data.test_pdb import write_pdb

    folder = tmp_path / "slides"
    folder.mkdir()
    write_pdb(folder / "D2019.03.04_S00123_I3145_D1.pdb", {2: 20, 6: 14}, time_of=lambda run: 1.0 + 4.0 * (run - 1))
    (folder / "damaged.pdb").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    result = annotate(folder, checkpoint, out=tmp_path / "out", progress=False)
    assert sorted(r["embryo_id"] for r in result["done"]) == ["D2019.03.04_S00123_I3145_WELL2",
                                                              "D2019.03.04_S00123_I3145_WELL6"]
    assert [Path(r["recording"]).name for r in result["failed"]] == ["damaged.pdb"]
    check_rows(tmp_path / "out" / "D2019.03.04_S00123_I3145_WELL6_phases.csv", np.arange(1, 15))
    events = pd.read_csv(tmp_path / "out" / "D2019.03.04_S00123_I3145_WELL2_events.csv")
    assert np.allclose(events["time_hpi"], 1.0 + 4.0 * (events["frame"] - 1))
    # Time stored as dates: hours since the slide's first image are not hpi, so no event times are written
    write_pdb(folder / "dated.pdb", {1: 10}, time_of=lambda run: f"2019-03-04 {run:02d}:00:00")
    annotate(folder / "dated.pdb", checkpoint, out=tmp_path / "dated", progress=False)
    assert list(pd.read_csv(tmp_path / "dated" / "dated_WELL1_events.csv").columns) == ["event", "frame"]


def test_embryoscope_export_with_planes(checkpoint, tmp_path):
    """An EmbryoScope export (plane subfolders + the ES server's imageruns JSON); the model reads plane F0."""
    import json

    from aivf.annotate.cli import annotate

    embryo = tmp_path / "export" / "ES-3"
    for plane in ["F0", "F-15", "F15"]:
        write_runs(embryo / plane, list(range(1, 26)), size=48)
    runs = [{"Run": r, "Time": round(0.4 + 4.5 * (r - 1), 2)} for r in range(1, 26)]
    (embryo / "imageruns.json").write_text(json.dumps({"ImageRuns": runs}))
    result = annotate(tmp_path / "export", checkpoint, out=tmp_path / "out", progress=False)
    assert [r["embryo_id"] for r in result["done"]] == ["ES-3"] and not result["failed"]
    check_rows(tmp_path / "out" / "ES-3_phases.csv", np.arange(1, 26))
    events = pd.read_csv(tmp_path / "out" / "ES-3_events.csv")
    assert np.allclose(events["time_hpi"], 0.4 + 4.5 * (events["frame"] - 1), atol=0.01)


@pytest.fixture(scope="module")
def frame_checkpoint(tmp_path_factory) -> Path:
    """A micro per-frame model (``model.backbone: frames``) with a phase head, saved like a run's final/."""
    from aivf.config import load_config, save_config
    from aivf.model import build_model

    root = tmp_path_factory.mktemp("annotate_frames")
    (root / "tiny.yaml").write_text(TINY.format(out=root))
    cfg = load_config(root / "tiny.yaml", overrides=["model.backbone=frames", "model.conv_stem=0",
                                                     "model.time_embedding=false"])
    build_model(cfg.model).save_pretrained(root / "final")
    save_config(cfg, root / "final")
    return root / "final"


def test_packed_layout_puts_every_frame_once_at_its_own_time():
    from aivf.annotate.windows import frame_windows

    times = 0.5 + 0.25 * np.arange(21)
    windows = frame_windows(times, np.linspace(10, 100, 8), 2.0, layout="packed")
    assert windows.indices.shape == (3, 8)  # 21 frames, 8 per clip
    placed = windows.indices[windows.clip_of_frame, windows.slot_of_frame]
    assert (placed == np.arange(21)).all()
    assert np.allclose(windows.hpi[windows.clip_of_frame, windows.slot_of_frame], times)
    assert windows.mask.sum() == 21 and not windows.mask[2, 5:].any()  # the last clip's padding is masked out


def test_a_per_frame_model_annotates_packed_as_it_would_frame_by_frame(frame_checkpoint, tmp_path):
    """auto picks packed for a per-frame model; each frame's call equals the model on that frame alone."""
    import torch

    from aivf.annotate.cli import annotate, layout_for
    from aivf.annotate.predict import predict_frames
    from aivf.config import load_config
    from aivf.eval.scoring import load_model

    model = load_model(frame_checkpoint)
    assert layout_for(model, "auto") == "packed"
    path = write_mp4(tmp_path / "E3-1.mp4", synthetic_frames(19, 64), 2.0 + 5.0 * np.arange(19))
    cfg = load_config(frame_checkpoint / "config.yaml")
    with open_recording(path, cfg.data) as rec:
        phases = predict_frames(model, rec, cfg.data.keyframes, 0.5, 0.5, progress=False, layout="packed")
        frames = rec.read(np.arange(len(rec)), 32)
    assert phases.num_clips == 3  # 19 frames, 8 per clip
    t = 11
    pixels = torch.from_numpy(frames[t:t + 1]).float().div(255).sub(0.5).div(0.5)[None]  # a clip of one frame
    with torch.no_grad():
        alone = model(pixel_values=pixels).phase_logits[0, 0].log_softmax(-1).numpy()
    assert np.allclose(phases.log_probs[t], alone, atol=1e-5)
    result = annotate(path, frame_checkpoint, out=tmp_path / "out", progress=False)
    assert result["done"][0]["clips"] == 3
    check_rows(tmp_path / "out" / "E3-1_phases.csv", np.arange(1, 20))


def test_packed_layout_is_refused_for_a_video_model(checkpoint):
    from aivf.annotate.cli import layout_for
    from aivf.eval.scoring import load_model

    model = load_model(checkpoint)
    assert layout_for(model, "auto") == "swap"
    with pytest.raises(ValueError, match="needs a per-frame model"):
        layout_for(model, "packed")
