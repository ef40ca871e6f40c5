"""Read pretrained weights from local files and convert them to aivf's module names.

Supported sources (all local paths; nothing is downloaded):

* torchvision ``swin3d_t/s/b`` state dicts (``features.{2i}.{j}…`` / ``features.{2i+1}`` = patch merging);
* the official Video Swin checkpoints (mmaction-style ``backbone.layers.{i}.blocks.{j}…``; the
  ``state_dict`` entry of the .pth), whose names aivf's VideoSwinModel mirrors;
* transformers VideoMAE folders (see ``aivf.model.videomae.load_videomae_folder``).

Two adaptations make a checkpoint fit an embryo model:

* **Input channels** (focal planes, not RGB): the RGB kernel is averaged over its 3 input channels,
  replicated to C and scaled by 3 / C. A grey clip repeated over C planes then gives exactly the
  response the RGB network gave to the same grey clip (sum over inputs is unchanged).
* **Window size**: relative position bias tables are resized (trilinear over the (2Wd-1, 2Wh-1, 2Ww-1)
  offset grid) when the model uses another window than the checkpoint.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn.functional as F


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .safetensors / .pth / .pt / .bin file; unwraps ``state_dict`` / ``model`` / ``module``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file not found (model.pretrained must be a local path)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(state).__name__}")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def adapt_input_channels(weight: torch.Tensor, channels: int) -> torch.Tensor:
    """Adapt a patch-embedding kernel [D, C_in, ...] to ``channels`` inputs: mean over C_in, repeat, x C_in/C."""
    source = weight.shape[1]
    if source == channels:
        return weight
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, channels, *([1] * (weight.dim() - 2))) * (source / channels)


def resize_bias_table(table: torch.Tensor, source_window: list[int], target_window: list[int]) -> torch.Tensor:
    """Resize a relative position bias table [(2Wd-1)(2Wh-1)(2Ww-1), nH] to another window size."""
    src = [2 * w - 1 for w in source_window]
    dst = [2 * w - 1 for w in target_window]
    if src == dst:
        return table
    if table.shape[0] != src[0] * src[1] * src[2]:
        raise ValueError(f"bias table has {table.shape[0]} rows, not {src[0] * src[1] * src[2]} for window "
                         f"{source_window}: give the checkpoint's window size")
    grid = table.T.reshape(1, table.shape[1], *src).float()
    grid = F.interpolate(grid, size=dst, mode="trilinear", align_corners=True)
    return grid.reshape(table.shape[1], -1).T.to(table.dtype).contiguous()


def _window_from_table(rows: int, target: list[int]) -> list[int] | None:
    """Guess the checkpoint window from a bias table's row count (exact for the published 8x7x7 / 16x7x7 / 2x7x7)."""
    for wd in range(1, 33):
        for wh in range(1, 33):
            if (2 * wd - 1) * (2 * wh - 1) ** 2 == rows:
                return [wd, wh, wh]
    return None


def torchvision_to_aivf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a torchvision ``SwinTransformer3d`` state dict to VideoSwinModel keys (head dropped)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(("head.", "avgpool.")) or key.endswith("relative_position_index"):
            continue
        match = re.match(r"features\.(\d+)\.(.*)", key)
        if match:
            index, rest = int(match.group(1)), match.group(2)
            if index % 2 == 0:  # a stage: features.{2i}.{j}.<block param>
                rest = re.sub(r"^(\d+)\.", r"blocks.\1.", rest)
                rest = rest.replace("mlp.0.", "mlp.fc1.").replace("mlp.3.", "mlp.fc2.")
                key = f"layers.{index // 2}.{rest}"
            else:  # patch merging after stage i: features.{2i+1}
                key = f"layers.{index // 2}.downsample.{rest}"
        out[key] = value
    return out


def mmaction_to_aivf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip the ``backbone.`` prefix of an official Video Swin checkpoint (classifier head dropped)."""
    out = {}
    for key, value in state.items():
        if key.startswith(("cls_head.", "head.")) or key.endswith("relative_position_index"):
            continue
        out[key.removeprefix("module.").removeprefix("backbone.")] = value
    return out


def detect_format(state: dict[str, torch.Tensor]) -> str:
    """``torchvision`` or ``mmaction`` from the key names of a Video Swin state dict."""
    if any(k.startswith("features.") for k in state):
        return "torchvision"
    if any(k.startswith(("backbone.layers.", "layers.")) for k in state):
        return "mmaction"
    raise ValueError("cannot tell the checkpoint format from its keys (expected 'features.*' from torchvision or "
                     "'backbone.layers.*' from the official Video Swin); set model.pretrained_format")


def load_video_swin_weights(model: torch.nn.Module, path: str | Path, fmt: str = "auto") -> list[str]:
    """Load a torchvision or official Video Swin checkpoint into a VideoSwinModel, adapting as needed.

    Returns:
        Keys of the model that the checkpoint did not provide (left at their initial values).
    """
    state = load_state_dict_file(path)
    fmt = detect_format(state) if fmt == "auto" else fmt
    state = torchvision_to_aivf(state) if fmt == "torchvision" else mmaction_to_aivf(state)
    expected = model.state_dict()
    key = "patch_embed.proj.weight"
    if key in state:
        state[key] = adapt_input_channels(state[key], expected[key].shape[1])
    target_window = list(model.config.window_size)
    for name, value in list(state.items()):
        if name.endswith("relative_position_bias_table") and name in expected and \
                value.shape != expected[name].shape:
            source_window = _window_from_table(value.shape[0], target_window)
            if source_window is None:
                raise ValueError(f"{path}: cannot infer the window size of {name} ({tuple(value.shape)})")
            state[name] = resize_bias_table(value, source_window, target_window)
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise ValueError(f"{path}: {len(unexpected)} weights have no place in the model, e.g. {unexpected[:4]}; "
                         "is model.size the checkpoint's size (tiny/small/base)?")
    bad = [k for k in state if state[k].shape != expected[k].shape]
    if bad:
        raise ValueError(f"{path}: shape mismatch for {bad[:4]} (checkpoint {tuple(state[bad[0]].shape)} vs model "
                         f"{tuple(expected[bad[0]].shape)}); is model.size the checkpoint's size?")
    model.load_state_dict(state, strict=False)
    return sorted(set(expected) - set(state))
