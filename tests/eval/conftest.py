"""Shared fixtures of the evaluation tests."""

from __future__ import annotations

import pytest

from .synthetic import synthetic_cohort


@pytest.fixture(scope="module")
def cohort():
    """(clinical, truth, predictions) of a 60-patient synthetic cohort with a noisy-Bayes 'model'."""
    return synthetic_cohort(60, seed=0)
