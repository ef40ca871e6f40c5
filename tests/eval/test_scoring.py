"""Which checkpoint and split evaluation picks, without a model."""

from __future__ import annotations

import pytest

from aivf.config import load_config
from aivf.eval.evaluate_cli import sibling_split
from aivf.eval.scoring import eval_split, resolve_checkpoint


def test_split_defaults_follow_the_trainers_fold():
    cfg = load_config(overrides=["train.split=kfold/2"])
    assert eval_split(cfg) == "kfold/2/test" and eval_split(cfg, part="val") == "kfold/2/val"
    cfg = load_config(overrides=["eval.split=loco/C1/test"])
    assert eval_split(cfg, part="val") == "loco/C1/val" and eval_split(cfg, "kfold/0/test") == "kfold/0/test"
    assert sibling_split("kfold/0/test", "train") == "kfold/0/train"


def test_resolve_checkpoint_prefers_best_then_final(tmp_path):
    with pytest.raises(FileNotFoundError, match="aivf train"):
        resolve_checkpoint(tmp_path)
    for name in ("final", "best"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        assert resolve_checkpoint(tmp_path) == tmp_path / name
    assert resolve_checkpoint(tmp_path / "final") == tmp_path / "final"
