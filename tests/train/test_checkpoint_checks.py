"""A damaged or foreign checkpoint is a clear CheckpointError (issue 14 items 8 and 10), never a traceback.

Truncated ``model.safetensors`` / garbage ``state.json``: the message names the file and offers the
previous complete checkpoint, and resuming from that one works. Under DeepSpeed a checkpoint from
outside the run's own ``checkpoints/`` is refused before anything is unpickled.
"""

from __future__ import annotations

import types

import pytest
from accelerate.state import AcceleratorState, GradientState, PartialState
from train_toy import ToyData, ToyModel

from aivf.config import ConfigError, load_config
from aivf.train.checkpoint import CheckpointError, check_deepspeed_source, load_checkpoint
from aivf.train.loop import train

BASE = ["train.per_device_batch_size=4", "train.lr=0.01", "train.warmup_steps=1", "train.eval_every=0",
        "train.save_every=2", "train.keep_last=5", "train.tracker=none", "train.log_images=false"]


def _reset() -> None:
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()


@pytest.fixture
def run_with_two_checkpoints(tmp_path):
    cfg = load_config(None, [f"output_dir={tmp_path}", "name=r", "train.max_steps=4", *BASE])
    train(cfg, model=ToyModel(), data=ToyData())
    _reset()
    checkpoints = tmp_path / "r" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-0000002", "step-0000004"]
    return tmp_path, checkpoints


def _resume(tmp_path, resume: str):
    cfg = load_config(None, [f"output_dir={tmp_path}", "name=r", "train.max_steps=6", f"train.resume={resume}", *BASE])
    try:
        return train(cfg, model=ToyModel(), data=ToyData())
    finally:
        _reset()


@pytest.mark.parametrize("damage", ["truncated_weights", "garbage_state", "state_without_step"])
def test_damaged_checkpoint_names_the_file_and_offers_the_previous_one(run_with_two_checkpoints, damage):
    tmp_path, checkpoints = run_with_two_checkpoints
    latest, previous = checkpoints / "step-0000004", checkpoints / "step-0000002"
    if damage == "truncated_weights":
        bad = latest / "model.safetensors"
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif damage == "garbage_state":
        bad = latest / "state.json"
        bad.write_bytes(b"\x00\x13not json at all")
    else:
        bad = latest / "state.json"
        bad.write_text('{"epoch": 0}')
    with pytest.raises(CheckpointError) as err:
        _resume(tmp_path, "auto")
    message = str(err.value)
    assert message.startswith(f"{bad}: cannot read this checkpoint file")
    assert f"train.resume={previous}" in message
    assert isinstance(err.value, ConfigError)  # `aivf train` prints it as a message (exit 2), no traceback
    result = _resume(tmp_path, str(previous))  # the offered checkpoint does resume
    assert result["step"] == 6


def test_damaged_first_checkpoint_says_there_is_no_earlier_one(run_with_two_checkpoints):
    tmp_path, checkpoints = run_with_two_checkpoints
    first = checkpoints / "step-0000002"
    (first / "optimizer.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"optimizer\.safetensors: cannot read .* no earlier checkpoint exists"):
        _resume(tmp_path, str(first))


def _deepspeed_accelerator():
    def refuse(path):
        raise AssertionError(f"load_state({path}) was reached: a foreign DeepSpeed checkpoint was unpickled")

    return types.SimpleNamespace(distributed_type=types.SimpleNamespace(name="DEEPSPEED"), load_state=refuse,
                                 process_index=0)


def test_deepspeed_resume_refuses_a_checkpoint_from_outside_the_run(tmp_path):
    own = tmp_path / "run" / "checkpoints" / "step-0000002"
    foreign = tmp_path / "downloads" / "step-0000002"
    for folder in (own, foreign):
        (folder / "deepspeed").mkdir(parents=True)
        (folder / "state.json").write_text('{"step": 2, "epoch": 0, "batches_in_epoch": 2}')
    with pytest.raises(CheckpointError, match=r"only this run's own checkpoints .* is code, not data"):
        load_checkpoint(foreign, _deepspeed_accelerator(), None, None, None, None, run_dir=tmp_path / "run")
    with pytest.raises(CheckpointError, match="only this run's own checkpoints"):
        load_checkpoint(own, _deepspeed_accelerator(), None, None, None, None, run_dir=None)  # no run given
    (tmp_path / "run" / "checkpoints" / "link").symlink_to(foreign)  # a link inside the run to a foreign folder
    with pytest.raises(CheckpointError, match="only this run's own checkpoints"):
        check_deepspeed_source(tmp_path / "run" / "checkpoints" / "link", tmp_path / "run")
    check_deepspeed_source(own, tmp_path / "run")  # the run's own checkpoint passes
