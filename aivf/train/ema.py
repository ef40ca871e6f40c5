"""Exponential moving average of model weights (kept in float32 on the model's device)."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    """``shadow = decay * shadow + (1 - decay) * weights`` after every optimizer step.

    Works on the unwrapped model: under DDP and ZeRO-2 every rank holds full, identical weights,
    so every rank keeps the same shadow. ZeRO-3 partitions the weights; EMA is refused there.
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train.ema_decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.shadow = {k: v.detach().float().clone() for k, v in model.state_dict().items()
                       if v.dtype.is_floating_point}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, value in model.state_dict().items():
            if name in self.shadow:
                self.shadow[name].lerp_(value.detach().float(), 1.0 - self.decay)

    @contextmanager
    def applied(self, model: nn.Module):
        """Temporarily swap the EMA weights into ``model`` (e.g. for evaluation or export)."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items() if k in self.shadow}
        model.load_state_dict({k: v.to(backup[k].dtype) for k, v in self.shadow.items()}, strict=False)
        try:
            yield model
        finally:
            model.load_state_dict(backup, strict=False)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.contiguous() for k, v in self.shadow.items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise KeyError(f"EMA checkpoint lacks {sorted(missing)[:3]}...; was it saved from another model?")
        self.shadow = {k: state[k].to(self.shadow[k].device).float() for k in self.shadow}
