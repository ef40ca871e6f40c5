"""Typed experiment configuration: schema defaults <- YAML file(s) <- command-line ``key=value``.

Every stage of the pipeline owns a small dataclass next to its code (``aivf/sim/config.py`` …);
this module composes them into one ``ExperimentConfig`` and loads it with OmegaConf so that an
unknown key or a value of the wrong type is an error naming the key and the file it came from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from aivf.data.config import DataConfig
from aivf.dataset.config import DatasetConfig
from aivf.eval.config import EvalConfig
from aivf.model_config import ModelConfig
from aivf.sim.config import SimConfig
from aivf.train.config import TrainConfig

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit the schema; the message names key and source."""


@dataclass
class ExperimentConfig:
    """Everything one run of ``aivf`` needs; each section belongs to one stage of the pipeline."""

    name: str = "default"  # run name; outputs go to ``<output_dir>/<name>``
    output_dir: str = "outputs"  # parent folder of every run's outputs
    seed: int = 0  # master seed; every stage derives its own seed from it
    sim: SimConfig = field(default_factory=SimConfig)  # the simulated cohort (aivf.sim)
    model: ModelConfig = field(default_factory=ModelConfig)  # backbone + heads (aivf.model)
    data: DataConfig = field(default_factory=DataConfig)  # recording readers and keyframes (aivf.data)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)  # shards, splits, loader (aivf.dataset)
    train: TrainConfig = field(default_factory=TrainConfig)  # the training loop (aivf.train)
    eval: EvalConfig = field(default_factory=EvalConfig)  # metrics, orderings, report, ranking (aivf.eval)


def _merge_one(merged: DictConfig, layer: DictConfig, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(merged, layer)
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        reason = str(getattr(err, "msg", err)).splitlines()[0]
        hint = "a value of the right type" if "Key '" not in reason else "a key spelled as in the schema"
        raise ConfigError(
            f"{source}: '{key}': {reason}. Use {hint} (schema: aivf/config.py and aivf/<stage>/config.py)."
        ) from None


def load_config(
    files: list[str | Path] | str | Path | None = None,
    overrides: list[str] | None = None,
    schema: type[T] = ExperimentConfig,  # type: ignore[assignment]
) -> T:
    """Load a typed config: ``schema`` defaults, then each YAML file in order, then ``key=value`` overrides.

    Args:
        files: YAML files merged left to right (later wins). A file may hold a ``defaults:`` list of
            other YAML paths, relative to itself, merged before it.
        overrides: dotlist strings such as ``["sim.num_patients=20", "seed=3"]``.
        schema: the dataclass to validate against.

    Returns:
        An instance of ``schema`` (a real dataclass object, not a DictConfig).

    Raises:
        ConfigError: unknown key, wrong type or unreadable file; the message names the key and source.
    """
    merged = OmegaConf.structured(schema)
    if files is None:
        files = []
    elif isinstance(files, (str, Path)):
        files = [files]
    for path in files:
        for layer_path, layer in _read_yaml_with_defaults(Path(path)):
            merged = _merge_one(merged, layer, str(layer_path))
    if overrides:
        try:
            cli = OmegaConf.from_dotlist(list(overrides))
        except OmegaConfBaseException as err:
            raise ConfigError(f"command line: cannot parse overrides {overrides}: {err}") from None
        merged = _merge_one(merged, cli, "command line")
    try:
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        raise ConfigError(f"invalid config: {err}") from None


def _read_yaml_with_defaults(path: Path, _seen: tuple[Path, ...] = ()) -> list[tuple[Path, DictConfig]]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found (paths are relative to the current directory)")
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: 'defaults' includes itself")
    try:
        layer = OmegaConf.load(path)
    except Exception as err:  # yaml errors come in several types
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(layer, DictConfig):
        raise ConfigError(f"{path}: a config file must be a mapping of keys")
    layers: list[tuple[Path, DictConfig]] = []
    defaults = layer.pop("defaults", None)
    for parent in defaults or []:
        layers += _read_yaml_with_defaults(path.parent / str(parent), (*_seen, path.resolve()))
    layers.append((path, layer))
    return layers


def to_yaml(cfg: Any) -> str:
    """The resolved config as YAML, for writing beside every output."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg) if dataclasses.is_dataclass(cfg) else cfg)


def save_config(cfg: Any, folder: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config beside an output so the run can be reproduced from that file alone."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(to_yaml(cfg))
    return path
