"""The typed config: layering, errors that name the key and the file, and every shipped YAML validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aivf.config import ConfigError, ExperimentConfig, load_config, save_config

ROOT = Path(__file__).resolve().parents[1]
# Launch and sweep files follow accelerate's and W&B's own schemas; they are checked by the training tests.
FOREIGN_SCHEMAS = ("accelerate", "sweeps")


def experiment_yamls() -> list[Path]:
    files = sorted((ROOT / "configs").rglob("*.yaml")) + sorted((ROOT / "experiments").rglob("*.yaml"))
    return [p for p in files if not any(part in FOREIGN_SCHEMAS for part in p.relative_to(ROOT).parts)]


def test_schema_defaults_when_nothing_given():
    cfg = load_config()
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.sim.imaging.image_size == 256


def test_layers_yaml_then_command_line(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("seed: 3\nsim:\n  num_patients: 7\n")
    child = tmp_path / "child.yaml"
    child.write_text("defaults: [base.yaml]\nsim:\n  num_clinics: 2\n")
    cfg = load_config([child], ["sim.num_patients=9"])
    assert (cfg.seed, cfg.sim.num_patients, cfg.sim.num_clinics) == (3, 9, 2)


def test_unknown_key_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sim:\n  num_patiens: 7\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    assert "num_patiens" in str(err.value) and "bad.yaml" in str(err.value)


def test_wrong_type_names_key(tmp_path):
    bad = tmp_path / "typed.yaml"
    bad.write_text("sim:\n  imaging:\n    image_size: big\n")
    with pytest.raises(ConfigError) as err:
        load_config([bad])
    assert "image_size" in str(err.value) and "typed.yaml" in str(err.value)


def test_bad_override_names_command_line():
    with pytest.raises(ConfigError) as err:
        load_config(overrides=["sim.nope=1"])
    assert "sim.nope" in str(err.value) and "command line" in str(err.value)


def test_choice_fields_reject_unknown_values():
    with pytest.raises(ConfigError, match="format"):
        load_config(overrides=["sim.format=avi-please"])


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_config([tmp_path / "missing.yaml"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(overrides=["seed=11", "sim.num_patients=5"])
    path = save_config(cfg, tmp_path)
    again = load_config([path])
    assert again == cfg


@pytest.mark.parametrize("path", experiment_yamls(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_config_validates(path):
    # ``aivf pretrain`` configs carry a ``pretrain`` section, which its own schema adds (aivf/train/pretrain.py)
    if "pretrain" in (yaml.safe_load(path.read_text()) or {}):
        from aivf.train.pretrain import load_pretrain_config

        load_pretrain_config([path], [])
    else:
        load_config([path])


def test_foreign_schema_files_are_valid_yaml():
    for folder in FOREIGN_SCHEMAS:
        for path in (ROOT / "configs" / folder).rglob("*.yaml"):
            assert isinstance(yaml.safe_load(path.read_text()), dict), path
