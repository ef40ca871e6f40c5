"""Every configs/data/*.yaml loads into the typed schema; bad keys and values are errors.

The files are merged into ``DataConfig`` with OmegaConf exactly as ``aivf.config.load_config`` does,
without importing ``aivf.config`` (which imports every stage, the model's transformers included).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aivf.data import DataConfig, KeyframeConfig, select_keyframes

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "data").glob("*.yaml"))


def load_data_config(path: Path | None = None, overrides: list[str] | None = None) -> DataConfig:
    merged = OmegaConf.structured(DataConfig)
    if path is not None:
        merged = OmegaConf.merge(merged, OmegaConf.load(path)["data"])
    if overrides:
        merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(overrides))
    return OmegaConf.to_object(merged)


def test_config_files_exist() -> None:
    assert {p.name for p in CONFIGS} >= {"default.yaml", "day3.yaml", "day5.yaml", "content.yaml"}


def test_default_yaml_matches_the_schema_defaults() -> None:
    assert load_data_config(CONFIGS[0].parent / "default.yaml") == DataConfig()


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_file_loads(path: Path) -> None:
    assert set(OmegaConf.load(path)) == {"data"}  # each fragment only touches its own section
    cfg = load_data_config(path)
    assert isinstance(cfg, DataConfig) and isinstance(cfg.keyframes, KeyframeConfig)
    keys = select_keyframes([0.0, 30.0, 60.0, 90.0], cfg.keyframes, stats=[0.0, 1.0, 2.0, 3.0])
    assert len(keys.indices) == cfg.keyframes.num_keyframes


def test_day3_config_sees_nothing_after_66_hpi() -> None:
    cfg = load_data_config(CONFIGS[0].parent / "day3.yaml").keyframes
    assert cfg.cutoff_hpi == 66.0
    keys = select_keyframes([float(t) for t in range(0, 120)], cfg)
    assert keys.mask.sum() == 16 and keys.hpi[keys.mask].max() <= 66.0


def test_bad_values_are_rejected() -> None:
    with pytest.raises(OmegaConfBaseException, match="method"):
        load_data_config(overrides=["keyframes.method=random"])
    with pytest.raises(OmegaConfBaseException, match="frame_interval"):
        load_data_config(overrides=["frame_interval=0.2"])
