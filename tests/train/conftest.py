"""Shared fixtures of the training tests."""

from __future__ import annotations

import pytest
from accelerate.state import AcceleratorState, GradientState, PartialState


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Accelerate keeps process-wide singletons: reset them after each test so one test's launch settings
    (mixed precision, accumulation, device) never leak into the next."""
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()
