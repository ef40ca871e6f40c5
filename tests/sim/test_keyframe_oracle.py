"""The keyframe oracle: same keyframes as the data layer, old truth unchanged, convergence, calibration, ordering."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2
from sklearn.metrics import roc_auc_score

from aivf.data.config import KeyframeConfig
from aivf.data.keyframes import select_grid
from aivf.sim import bayes
from aivf.sim import keyframe_oracle as KO
from aivf.sim.cohort import sample_cohort
from aivf.sim.config import ImagingConfig, SimConfig
from aivf.sim.types import DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI
from tests.sim.test_bayes import binned_z2, observations

DEFAULT_GRID = KO.KeyframeGrid.from_config(KeyframeConfig())
KF_COLUMNS = ["p_fhb_d3_kf", "p_fhb_d3_kf_nograde", "p_fhb_d5_kf", "p_fhb_d5_kf_nograde", "p_euploid_d5_kf",
              "p_euploid_d5_kf_nograde"]


@functools.lru_cache(maxsize=1)
def small():
    cfg = SimConfig(num_patients=60, imaging=ImagingConfig(frame_interval_h=1.0))
    return sample_cohort(cfg, seed=4), sample_cohort(cfg, seed=4, keyframes=DEFAULT_GRID)


@functools.lru_cache(maxsize=1)
def population():
    """~20,000 embryos, tables only (no rendering), with the default config's keyframe grid."""
    return sample_cohort(SimConfig(num_patients=3300, num_clinics=3), seed=3, keyframes=DEFAULT_GRID)


@pytest.mark.parametrize("step,end", [(1.0, 120.0), (0.8, 120.0), (0.6, 67.0), (0.25, 67.0), (0.73, 100.0)])
def test_keyframe_times_are_those_the_data_layer_selects(step, end):
    times = np.round(step * (1 + np.arange(int(end / step))), 4)
    for cfg in (KeyframeConfig(), KeyframeConfig(cutoff_hpi=66.0, num_keyframes=8, tolerance_h=0.3)):
        keys = select_grid(times, cfg)
        expected = np.where(keys.mask, keys.hpi, np.nan)
        np.testing.assert_array_equal(KO.KeyframeGrid.from_config(cfg).keyframe_hpi(times), expected)


def test_day3_view_is_the_evaluations():
    from aivf.eval.scoring import DAY3_VIEW_HPI  # what the model's day-3 predictions read

    assert KO.DAY3_VIEW_HPI == DAY3_VIEW_HPI


def test_oracle_columns_leave_everything_else_unchanged():
    plain, with_kf = small()
    pd.testing.assert_frame_equal(plain.truth, with_kf.truth[plain.truth.columns])
    assert list(with_kf.truth.columns) == list(plain.truth.columns) + KF_COLUMNS
    pd.testing.assert_frame_equal(plain.clinical, with_kf.clinical)
    # the renderer reads only EmbryoTruth (and the clinic's imaging): equal records render equal pixels
    assert plain.embryos == with_kf.embryos
    assert {k: c.imaging for k, c in plain.clinics.items()} == {k: c.imaging for k, c in with_kf.clinics.items()}
    t = with_kf.truth[KF_COLUMNS]
    assert t.notna().all().all() and ((t >= 0) & (t <= 1)).all().all()


def test_day3_transfers_see_only_their_67h_recording():
    _, cohort = small()
    t, day3 = cohort.truth, (cohort.clinical.transfer_day == 3).to_numpy()
    assert day3.any()
    # their recording ends at 67 h, so the day-5 oracle sees what the day-3 view sees
    np.testing.assert_allclose(t.p_fhb_d5_kf[day3], t.p_fhb_d3_kf[day3])


def _inputs(rows=slice(0, 300)):
    cohort = small()[0]
    obs = observations(cohort, list(range(len(cohort.truth)))[rows])
    return obs, len(obs["age"])


def test_fine_keyframe_grid_converges_to_the_exact_posterior():
    obs, n = _inputs()
    p_fhb, p_eu = bayes.posterior_probabilities(**obs, cutoff=DAY5_CUTOFF_HPI)
    errors = []
    for spacing, step in ((0.5, 0.05), (0.1, 0.02)):
        grid = np.tile(np.arange(spacing, DAY5_CUTOFF_HPI + 1e-9, spacing), (n, 1))
        o = KO.oracle_probabilities(**obs, keyframe_hpi=grid, step_h=step)
        errors.append((np.abs(o["fhb"] - p_fhb).mean(), np.abs(o["euploid"] - p_eu).mean()))
    (fhb_coarse, eu_coarse), (fhb_fine, eu_fine) = errors
    assert fhb_fine < 0.6 * fhb_coarse and eu_fine < 0.6 * eu_coarse, errors  # the gap shrinks with the spacing
    assert fhb_fine < 0.002 and eu_fine < 0.006, errors


def test_finer_recursion_step_changes_nothing_visible():
    obs, n = _inputs()
    grid = np.tile(DEFAULT_GRID.targets_hpi, (n, 1))
    coarse = KO.oracle_probabilities(**obs, keyframe_hpi=grid, step_h=KO.STEP_H)
    fine = KO.oracle_probabilities(**obs, keyframe_hpi=grid, step_h=KO.STEP_H / 2)
    for key in coarse:
        assert np.abs(coarse[key] - fine[key]).mean() < 0.004, key


def test_no_keyframes_gives_the_prior_and_day3_matches_bayes_when_it_sees_as_much():
    obs, n = _inputs(slice(0, 50))
    none = KO.oracle_probabilities(**obs, keyframe_hpi=np.full((n, 16), np.nan))
    prior_fhb, prior_eu = bayes.posterior_probabilities(**obs, cutoff=1e-6)
    np.testing.assert_allclose(none["fhb"], prior_fhb, atol=1e-6)
    np.testing.assert_allclose(none["euploid"], prior_eu, atol=1e-9)
    # a keyframe grid fine enough to see every event to 0.1 h at day 3 is about as good as the exact times
    grid = np.tile(np.arange(0.1, DAY3_CUTOFF_HPI + 1e-9, 0.1), (n, 1))
    o = KO.oracle_probabilities(**obs, keyframe_hpi=grid, step_h=0.02)
    p3, _ = bayes.posterior_probabilities(**obs, cutoff=DAY3_CUTOFF_HPI)
    assert np.abs(o["fhb"] - p3).mean() < 0.003


@pytest.mark.slow
@pytest.mark.parametrize("column", KF_COLUMNS)
def test_oracle_is_calibrated_against_potential_outcomes(column):
    t = population().truth
    assert len(t) >= 20000
    p = t[column].to_numpy()
    y = (t.ploidy == "euploid" if "euploid" in column else t.fhb_potential).to_numpy().astype(float)
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(p.mean() - y.mean()) < 3.5 * se, (p.mean(), y.mean(), se)
    assert binned_z2(p, y) < chi2.ppf(0.999, 10)


@pytest.mark.slow
@pytest.mark.parametrize("exact,target", [("p_fhb_d3", "fhb"), ("p_fhb_d5", "fhb"), ("p_euploid_d5", "euploid")])
def test_auc_ordering_exact_then_keyframes_then_no_grades(exact, target):
    t = population().truth
    y = (t.ploidy == "euploid" if target == "euploid" else t.fhb_potential).to_numpy()
    blast = t.t_tB.to_numpy() <= DAY5_CUTOFF_HPI
    for rows in (np.ones(len(t), bool), blast):  # all embryos, and the blastocysts a clinic could transfer
        auc = [roc_auc_score(y[rows], t[c][rows]) for c in (exact, f"{exact}_kf", f"{exact}_kf_nograde")]
        assert auc[0] >= auc[1] - 0.005 and auc[1] >= auc[2] - 0.005, auc
    assert auc[0] > auc[2]  # the keyframes without grades lose something real

