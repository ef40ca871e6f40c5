"""``aivf pretrain``: VideoMAE masked autoencoding through the one training loop (issue 13, section 1).

Fast tests build tiny models in the test (no downloads); the slow ones simulate and build two small cohorts
with the real ``aivf simulate`` / ``aivf build`` and run the real CLI in subprocesses.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import torch
from launch import ROOT, env
from safetensors.torch import load_file
from transformers import VideoMAEForPreTraining

from aivf.model.pretraining import EmbryoPretrainModel, patchify, pretraining_config, tube_mask, unpatchify
from aivf.model_config import ModelConfig

SIM = ["-c", "configs/train/tiny.yaml", "sim.num_patients=6", "sim.imaging.frame_interval_h=2.0", "sim.workers=1"]
PRETRAIN = ["-c", "configs/pretrain_tiny.yaml", "train.per_device_batch_size=2", "train.grad_accum_steps=2",
            "train.log_every=1"]


def tiny_model(channels: int = 1, frames: int = 4, size: int = 32, seed: int = 0) -> EmbryoPretrainModel:
    torch.manual_seed(seed)
    model_cfg = ModelConfig(size="micro", num_frames=frames, image_size=size, channels=channels)
    pretrain_cfg = SimpleNamespace(decoder_hidden_size=0, decoder_heads=0, decoder_layers=1, norm_pix_loss=True)
    return EmbryoPretrainModel(pretraining_config(model_cfg, pretrain_cfg))


def aivf(*args: str, timeout: int = 400) -> str:
    proc = subprocess.run([sys.executable, "-m", "aivf", *args], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"aivf {args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def records(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------- fast: model, masks, loss, bf16


def test_tube_mask_hides_the_same_patches_at_every_time_step():
    mask = tube_mask(5, (4, 3, 3), 0.9, torch.Generator().manual_seed(1))
    assert mask.shape == (5, 36) and mask.dtype == torch.bool
    per_step = mask.view(5, 4, 9)
    assert (per_step == per_step[:, :1]).all()  # a tube: the same spatial positions masked at every step
    assert (per_step.sum(-1) == 8).all()  # int(0.9 * 9) = 8 of 9, the same count in every clip
    assert not (per_step[0, 0] == per_step[1, 0]).all() or not (per_step[1, 0] == per_step[2, 0]).all()
    assert tube_mask(2, (2, 2, 2), 0.99, torch.Generator().manual_seed(0)).view(2, 2, 4).sum(-1).max() == 3  # one visible


def test_patchify_inverts_and_targets_are_normalised_per_patch():
    x = torch.randn(2, 4, 1, 32, 32)
    assert torch.equal(unpatchify(patchify(x, 2, 16), tuple(x.shape), 2, 16), x)
    from aivf.model.pretraining import patch_targets

    target = patch_targets(x * 7 + 3, 2, 16)  # an affine change of the pixels does not move the target
    assert torch.allclose(target, patch_targets(x, 2, 16), atol=1e-4)
    assert torch.allclose(target.mean(-1), torch.zeros(()), atol=1e-5)


def test_checkpoint_round_trips_through_transformers_videomae_for_pretraining(tmp_path):
    model = tiny_model().eval()
    x = torch.randn(2, 4, 1, 32, 32)
    mask = tube_mask(2, (2, 2, 2), 0.75, torch.Generator().manual_seed(0))
    mine = model(x, mask)
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["VideoMAEForPreTraining"]
    upstream, info = VideoMAEForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    theirs = upstream.eval()(x, bool_masked_pos=mask)
    assert torch.allclose(theirs.logits, mine.logits, atol=1e-6)
    assert torch.allclose(theirs.loss, mine.loss, atol=1e-6)  # same targets and loss when no keyframe is missing


def test_missing_keyframes_leave_the_loss():
    model = tiny_model().eval()
    x = torch.randn(1, 4, 1, 32, 32)
    mask = tube_mask(1, (2, 2, 2), 0.75, torch.Generator().manual_seed(0))
    present = torch.tensor([[True, True, False, False]])
    base = model(x, mask, keyframe_mask=present).loss
    noisy = x.clone()
    noisy[:, 2:] = torch.randn(1, 2, 1, 32, 32) * 100  # the missing keyframes' content is zeroed and not scored
    assert torch.allclose(model(noisy, mask, keyframe_mask=present).loss, base)
    assert not torch.allclose(model(noisy, mask).loss, base)


def test_bf16_training_step_gives_a_finite_loss():
    """Both ways bf16 reaches the loss (transformers issue 27295 fails the second): CPU autocast, and bf16 weights."""
    x = torch.randn(2, 4, 1, 32, 32)
    mask = tube_mask(2, (2, 2, 2), 0.9, torch.Generator().manual_seed(0))
    model = tiny_model()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, mask)
    assert out.logits.dtype == torch.bfloat16 and out.loss.dtype == torch.float32
    out.loss.backward()
    assert math.isfinite(out.loss.item()) and all(torch.isfinite(p.grad).all() for p in model.parameters()
                                                  if p.grad is not None)
    model = tiny_model().to(torch.bfloat16)  # weights in bf16, as DeepSpeed bf16 keeps them; input stays float32
    out = model(x, mask)
    out.loss.backward()
    assert math.isfinite(out.loss.item()) and out.loss.dtype == torch.float32


def test_other_backbones_and_a_stem_that_does_not_fit_the_frames_are_refused_with_a_reason():
    pretrain_cfg = SimpleNamespace(decoder_hidden_size=0, decoder_heads=0, decoder_layers=1, norm_pix_loss=True)
    with pytest.raises(ValueError, match="model.conv_stem=2 shrinks frames by 4: model.image_size=34"):
        pretraining_config(ModelConfig(conv_stem=2, image_size=34), pretrain_cfg)
    with pytest.raises(ValueError, match="model.backbone=videomae"):
        pretraining_config(ModelConfig(backbone="video_swin"), pretrain_cfg)


# ---------------------------------------------------------------- slow: real datasets, the CLI, resume


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """Two small simulated cohorts (seeds 0 and 1), built with the real CLI."""
    root = tmp_path_factory.mktemp("pretrain_data")
    paths = []
    for seed in (0, 1):
        where = [f"output_dir={root}", f"name=c{seed}", f"seed={seed}"]
        aivf("simulate", *SIM, *where)
        aivf("build", *SIM, *where)
        paths.append(root / f"c{seed}" / "dataset")
    return paths


def _data(paths, world_size=1, rank=0):
    from aivf.config import load_config
    from aivf.train.objectives import PretrainData

    loader = load_config("configs/train/tiny.yaml").dataset.loader
    return PretrainData([str(p) for p in paths], "kfold/0", loader, 2, 0, rank, world_size, 0, (4, 4, 4), 0.9, 4)


@pytest.mark.slow
def test_pretraining_reads_only_the_training_patients_of_the_split(two_datasets):
    from aivf.dataset.loader import read_splits

    for path in two_datasets:
        splits = read_splits(str(path))["kfold"]["0"]
        held_out = set(splits["val"]["patient_ids"]) | set(splits["test"]["patient_ids"])
        data = _data([path])
        seen_ids, seen_patients = set(), set()
        for epoch in (0, 1):
            for batch in data.train_batches(epoch, skip=0):
                seen_ids |= set(batch["embryo_id"])
                seen_patients |= set(batch["patient_id"])
                assert batch["bool_masked_pos"].shape == (2, 64)
        assert seen_ids and seen_ids <= set(splits["train"]["embryo_ids"])
        assert not seen_patients & held_out, f"{path}: pretraining saw validation/test patients"
        assert len(seen_ids) >= len(splits["train"]["embryo_ids"]) - 1  # drop_last loses at most one clip a epoch
        val = {i for b in data.eval_batches() for i in b["embryo_id"]}
        assert val and val <= set(splits["val"]["embryo_ids"])


@pytest.mark.slow
def test_a_mix_of_datasets_interleaves_both_and_resumes_mid_epoch(two_datasets):
    data = _data(two_datasets)
    sizes = [len(s.train_loader) for s in data.sources]
    batches = list(data.train_batches(0, skip=0))
    assert len(batches) == sum(sizes) and min(sizes) > 0
    order = data.epoch_order(0)
    assert sorted(order.tolist()) == [0] * sizes[0] + [1] * sizes[1]
    resumed = list(data.train_batches(0, skip=3))  # what a resume after 3 micro-batches reads
    assert len(resumed) == len(batches) - 3
    for a, b in zip(batches[3:], resumed):
        assert a["embryo_id"] == b["embryo_id"] and torch.equal(a["pixel_values"], b["pixel_values"])
        assert torch.equal(a["bool_masked_pos"], b["bool_masked_pos"])


@pytest.mark.slow
@pytest.mark.parametrize("stem", [0, 2], ids=["no_stem", "conv_stem"])
def test_pretrain_cli_on_two_datasets_in_bf16_then_fine_tune_an_embryo_model(two_datasets, tmp_path, stem):
    """With ``stem``: the main job's conv stem (2 layers, 16 channels) is pretrained and fine-tuned with it."""
    stem_args = [f"model.conv_stem={stem}", "model.conv_stem_channels=16"]
    mix = f"pretrain.datasets=[{two_datasets[0]},{two_datasets[1]}]"
    aivf("pretrain", *PRETRAIN, f"output_dir={tmp_path}", mix, "train.max_steps=4", "train.eval_every=2",
         "train.save_every=2", "train.mixed_precision=bf16", "train.tracker=wandb", *stem_args)
    run = tmp_path / "pretrain_tiny"
    rows = records(run)
    losses = [r["train/loss"] for r in rows if "train/loss" in r]
    assert len(losses) == 4 and all(v is not None and math.isfinite(v) for v in losses)  # bf16 autocast on CPU
    assert [r["step"] for r in rows if "val/loss" in r] == [2, 4]
    assert (run / "reconstructions" / "step-0000002.png").stat().st_size > 1000
    assert (run / "reconstructions" / "step-0000004.png").is_file()
    assert list((run / "wandb").glob("offline-run-*/*.wandb"))
    upstream, info = VideoMAEForPreTraining.from_pretrained(run / "final", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert (run / "final" / "conv_stem.safetensors").is_file() == bool(stem)

    # the encoder (and the stem) become EmbryoModel's through model.pretrained (existing VideoMAE folder loading)
    from aivf.model import build_model

    embryo = build_model(ModelConfig(size="micro", num_frames=8, image_size=64, pretrained=str(run / "final"),
                                     conv_stem=stem, conv_stem_channels=16))
    encoder = {k.removeprefix("videomae."): v for k, v in upstream.state_dict().items() if k.startswith("videomae.")}
    backbone = embryo.backbone.state_dict()
    assert set(encoder) == set(backbone)
    assert all(torch.equal(encoder[k], backbone[k]) for k in encoder)
    if stem:
        saved = load_file(run / "final" / "conv_stem.safetensors")
        assert all(torch.equal(embryo.stem.state_dict()[k.removeprefix("stem.")], v) for k, v in saved.items())

    out = aivf("train", "-c", "configs/train/tiny.yaml", f"output_dir={tmp_path}", "name=finetune",
               f"train.dataset_path={two_datasets[0]}", f"model.pretrained={run / 'final'}", "train.max_steps=2",
               "train.eval_every=2", "train.save_every=2", "train.tracker=none", "train.log_every=1", *stem_args)
    assert "done: 2 steps" in out
    tuned = records(tmp_path / "finetune")
    assert all(math.isfinite(r["train/loss"]) for r in tuned if "train/loss" in r)
    assert (tmp_path / "finetune" / "final" / "model.safetensors").is_file()


@pytest.mark.slow
def test_sigkill_then_resume_auto_gives_identical_pretrained_weights(two_datasets, tmp_path):
    """The pattern of tests/train/test_resume.py, through ``python -m aivf.train.pretrain`` on a dataset mix."""
    run = [*PRETRAIN, f"output_dir={tmp_path}", f"pretrain.datasets=[{two_datasets[0]},{two_datasets[1]}]",
           "train.max_steps=8", "train.eval_every=4", "train.save_every=3", "train.ema_decay=0.9",
           "train.tracker=none", "train.log_images=false"]
    module = [sys.executable, "-m", "aivf.train.pretrain"]
    straight = subprocess.run([*module, *run, "name=straight"], cwd=ROOT, env=env(), capture_output=True, text=True,
                              timeout=400)
    assert straight.returncode == 0, straight.stderr[-4000:]

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*module, *run, "name=killed", "train.step_delay_s=1.0"], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not list((killed / "checkpoints").glob("step-*[0-9]/state.json")):
        assert proc.poll() is None, f"run ended before any checkpoint: {proc.stderr.read().decode()[-3000:]}"
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup, no final save
    proc.wait()
    assert not (killed / "final").exists(), "the run finished before the kill; raise step_delay_s"
    saved = sorted(p.parent.name for p in (killed / "checkpoints").glob("step-*[0-9]/state.json"))
    assert json.loads((killed / "checkpoints" / saved[-1] / "state.json").read_text())["step"] < 8

    resumed = subprocess.run([*module, *run, "name=killed", "train.resume=auto"], cwd=ROOT, env=env(),
                             capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"resumed from {killed / 'checkpoints' / saved[-1]}" in resumed.stdout + resumed.stderr
    a = load_file(tmp_path / "straight" / "final" / "model.safetensors")
    b = load_file(killed / "final" / "model.safetensors")
    assert set(a) == set(b)
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume"
    best_a = json.loads((tmp_path / "straight" / "best" / "metrics.json").read_text())
    best_b = json.loads((killed / "best" / "metrics.json").read_text())
    assert best_a == best_b  # EMA, evaluation masks and best-checkpoint bookkeeping resumed too


@pytest.mark.slow
def test_two_process_ddp_launch_pretrains_and_evaluates(two_datasets, tmp_path):
    from launch import ACCELERATE

    cmd = [ACCELERATE, "launch", "--config_file", "configs/accelerate/cpu_2proc.yaml", "-m", "aivf.train.pretrain",
           *PRETRAIN, f"output_dir={tmp_path}", f"pretrain.datasets=[{two_datasets[0]}]", "train.expected_world_size=2",
           "train.max_steps=2", "train.eval_every=2", "train.save_every=2", "train.tracker=none"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "x 2 processes = 8 clips per optimizer step" in proc.stdout + proc.stderr
    run = tmp_path / "pretrain_tiny"
    assert [r["step"] for r in records(run) if "val/loss" in r] == [2]
    assert (run / "checkpoints" / "step-0000002" / "rng-1.safetensors").is_file()
    VideoMAEForPreTraining.from_pretrained(run / "final")


@pytest.mark.slow
def test_pretraining_mixes_a_simulated_build_with_the_real_gomez_sample(two_datasets, tmp_path):
    """The real EmbryoScope videos in ../shared/data (skipped where absent), built to the simulated shape."""
    import pandas as pd

    shared = ROOT.parent / "shared" / "data"
    if not (shared / "gomez_sample").is_dir():
        pytest.skip("../shared/data/gomez_sample beside the checkout is absent (real samples not available)")
    from aivf.data.config import DataConfig, KeyframeConfig
    from aivf.dataset.build import build_dataset
    from aivf.dataset.config import DatasetConfig, SplitConfig
    from aivf.dataset.loader import read_splits

    videos = sorted(p.name for p in (shared / "gomez_sample").iterdir() if p.is_dir())
    csv = tmp_path / "gomez.csv"
    pd.DataFrame([{"embryo_id": v, "patient_id": v.rsplit("-", 1)[0], "clinic": "gomez",
                   "recording": f"gomez_sample/{v}"} for v in videos]).to_csv(csv, index=False)
    real = tmp_path / "gomez_ds"
    report = build_dataset(DatasetConfig(recordings_root=str(shared), workers=0, splits=SplitConfig(num_folds=3)),
                           csv, str(real), DataConfig(keyframes=KeyframeConfig(num_keyframes=8, size=64)),
                           rank=0, world_size=1)
    assert report.num_built == 3, report.failures

    from aivf.config import load_config
    from aivf.train.objectives import PretrainData

    loader = load_config("configs/train/tiny.yaml").dataset.loader
    data = PretrainData([str(two_datasets[0]), str(real)], "kfold/0", loader, 1, 0, 0, 1, 0, (4, 4, 4), 0.9, 4)
    seen = {i for b in data.train_batches(0, skip=0) for i in b["embryo_id"]}
    assert set(read_splits(str(real))["kfold"]["0"]["train"]["embryo_ids"]) <= seen  # the real training video
    assert not seen & set(read_splits(str(real))["kfold"]["0"]["test"]["embryo_ids"])

    aivf("pretrain", "-c", "configs/pretrain_tiny.yaml", f"output_dir={tmp_path}",
         f"pretrain.datasets=[{two_datasets[0]},{real}]", "train.per_device_batch_size=1", "train.grad_accum_steps=1",
         "train.max_steps=2", "train.eval_every=2", "train.save_every=2", "train.tracker=none", "train.log_every=1")
    assert all(math.isfinite(r["train/loss"]) for r in records(tmp_path / "pretrain_tiny") if "train/loss" in r)
