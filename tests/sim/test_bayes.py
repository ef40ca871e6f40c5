"""The exact Bayes probabilities: calibrated, sharper with more video, obvious orderings, brute force."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import chi2, lognorm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from aivf.sim import bayes
from aivf.sim import kinetics as K
from aivf.sim import params as P
from aivf.sim.cohort import sample_cohort
from aivf.sim.config import SimConfig
from aivf.sim.types import DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI, EVENTS

GRADE_INDEX = {"A": 0, "B": 1, "C": 2, None: 0}  # None: no blastocyst, grade never used


@functools.lru_cache(maxsize=1)
def population():
    """~20,000 embryos."""
    return sample_cohort(SimConfig(num_patients=3300, num_clinics=3), seed=3)


def observations(cohort, rows=None):
    """The posterior's inputs for the chosen rows of a cohort."""
    t = cohort.truth if rows is None else cohort.truth.iloc[rows]
    embryos = cohort.embryos if rows is None else [cohort.embryos[i] for i in rows]
    return dict(
        times=t[[f"t_{e}" for e in EVENTS]].to_numpy(),
        t_arrest_visible=t.t_arrest_visible.to_numpy(),
        frag=np.array([int(e.extras["fragmentation_level"]) for e in embryos]),
        icm=np.array([GRADE_INDEX[e.icm_grade] for e in embryos]),
        te=np.array([GRADE_INDEX[e.te_grade] for e in embryos]),
        age=np.array([e.maternal_age for e in embryos]),
        ivf=np.array([e.method == "IVF" for e in embryos], dtype=int),
    )


def binned_z2(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Σ over quantile bins of (observed - expected)² / binomial variance: ~χ²(bins) when p is calibrated."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    z2 = 0.0
    for b in range(bins):
        sel = which == b
        var = (p[sel] * (1 - p[sel])).sum()
        if var > 0:
            z2 += (y[sel].sum() - p[sel].sum()) ** 2 / var
    return z2


def _calibration_stats(p: np.ndarray, y: np.ndarray, bins: int = 10):
    z2 = binned_z2(p, y, bins)
    x = logit(np.clip(p, 1e-6, 1 - 1e-6))[:, None]
    slope = LogisticRegression(C=1e6).fit(x, y).coef_[0, 0]
    return z2, slope


@pytest.mark.slow
@pytest.mark.parametrize("column,target", [("p_fhb_d3", "fhb"), ("p_fhb_d5", "fhb"), ("p_euploid_d5", "euploid")])
def test_calibrated_against_outcome_frequencies(column, target):
    t = population().truth
    assert len(t) >= 18000
    p = t[column].to_numpy()
    y = (t.fhb_potential if target == "fhb" else (t.ploidy == "euploid")).to_numpy().astype(float)
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(p.mean() - y.mean()) < 3.5 * se, (p.mean(), y.mean(), se)
    z2, slope = _calibration_stats(p, y)
    assert z2 < chi2.ppf(0.999, 10), z2  # binned outcome frequency = mean p within sampling error
    assert 0.9 < slope < 1.1, slope  # reliability slope ~1


@pytest.mark.slow
def test_day5_posterior_is_sharper_than_day3():
    t = population().truth
    y = t.fhb_potential.to_numpy()
    assert roc_auc_score(y, t.p_fhb_d5) > roc_auc_score(y, t.p_fhb_d3) + 0.02
    assert ((t.p_fhb_d5 - y) ** 2).mean() < ((t.p_fhb_d3 - y) ** 2).mean()


def test_visible_arrest_gives_exactly_zero():
    cohort = population()
    t = cohort.truth
    day3 = cohort.clinical["transfer_day"].to_numpy() == 3  # its recording, and so its day-5 truth, ends at 67 h
    for column, cutoff in (("p_fhb_d3", DAY3_CUTOFF_HPI), ("p_fhb_d5", np.where(day3, 67.0, DAY5_CUTOFF_HPI))):
        dead = t.t_arrest_visible <= cutoff
        assert dead.sum() > 100
        assert (t.loc[dead, column] == 0.0).all()
        assert (t.loc[~dead, column] > 0.0).all()
    assert ((t.p_euploid_d5 > 0) & (t.p_euploid_d5 < 1)).all()


def test_older_age_lowers_p_euploid_for_the_same_video():
    cohort = population()
    rows = np.flatnonzero(cohort.truth.t_tB.notna().to_numpy())[:300]
    obs = observations(cohort, rows)
    young, old = dict(obs, age=np.full(len(rows), 30.0)), dict(obs, age=np.full(len(rows), 42.0))
    _, eu_young = bayes.posterior_probabilities(**young, cutoff=DAY5_CUTOFF_HPI)
    fhb_old, eu_old = bayes.posterior_probabilities(**old, cutoff=DAY5_CUTOFF_HPI)
    fhb_young, _ = bayes.posterior_probabilities(**young, cutoff=DAY5_CUTOFF_HPI)
    assert (eu_old < eu_young).all()
    assert (fhb_old < fhb_young).all()


def test_direct_cleavage_lowers_p_fhb():
    cohort = population()
    t = cohort.truth
    ok = ((t.t_t3 - t.t_t2) > 8) & (t.t_t4 <= DAY3_CUTOFF_HPI) & t.t_arrest_visible.isna()
    rows = np.flatnonzero(ok.to_numpy())[:300]
    obs = observations(cohort, rows)
    direct = obs["times"].copy()
    direct[:, 4] = direct[:, 3] + 2.0  # 1 -> 3 cells two hours after t2
    p_normal, _ = bayes.posterior_probabilities(**obs, cutoff=DAY3_CUTOFF_HPI)
    p_direct, _ = bayes.posterior_probabilities(**dict(obs, times=direct), cutoff=DAY3_CUTOFF_HPI)
    assert (p_direct < p_normal).all()
    assert p_direct.mean() < 0.3 * p_normal.mean()


def brute_force(times, t_vis, frag, icm, te, age, ivf, cutoff):
    """Independent slow path: a scalar loop over every hidden state with scipy.stats densities."""
    prior_g = bayes.zygote_ploidy_prior(np.array([age]))[0]
    num = den = eu = 0.0
    for g in range(3):
        for q, wq in zip(P.Q_NODES, P.Q_WEIGHTS):
            p_dc = float(expit(P.DC_LOGIT[g] + P.DC_Q * q))
            arrest = expit(np.log(P.ARREST_BASE / (1 - P.ARREST_BASE)) + P.ARREST_PLOIDY[g] + P.ARREST_Q * q)
            for d in (0, 1):
                mu, sigma = K.interval_lognormal(g, q, d, ivf)
                like, prev, future = 1.0, 0.0, 1.0
                for k in range(16):
                    if not np.isnan(times[k]) and times[k] <= cutoff:
                        dens = lognorm.pdf(times[k] - prev, s=sigma[k], scale=np.exp(mu[k]))
                        like *= (1 - arrest[k]) * dens
                        prev = times[k]
                        continue
                    alive = (1 - arrest[k]) * lognorm.sf(cutoff - prev, s=sigma[k], scale=np.exp(mu[k]))
                    later = np.prod(1 - arrest[k + 1:])
                    if not np.isnan(t_vis) and t_vis <= cutoff:
                        like *= arrest[k]
                        future = 0.0
                    elif cutoff - prev >= P.ARREST_VISIBLE_DELAY_H and k <= 13:
                        like *= alive
                        future = later
                    else:
                        like *= arrest[k] + alive
                        future = alive / (arrest[k] + alive) * later
                    break
                if not np.isnan(times[3]) and times[3] <= cutoff:
                    cuts = np.concatenate([[1.0], expit(P.FRAG_CUTS - P.FRAG_Q * q + P.FRAG_PLOIDY[g]), [0.0]])
                    like *= cuts[frag] - cuts[frag + 1]
                if not np.isnan(times[13]) and times[13] <= cutoff:
                    for grade, cut in ((icm, P.ICM_CUTS), (te, P.TE_CUTS)):
                        c = np.concatenate([[1.0], expit(cut - P.GRADE_Q * q + P.GRADE_PLOIDY[g]), [0.0]])
                        like *= c[grade] - c[grade + 1]
                weight = prior_g[g] * wq * (p_dc if d else 1 - p_dc) * like
                c = np.concatenate([[1.0], expit(P.TE_CUTS - P.GRADE_Q * q + P.GRADE_PLOIDY[g]), [0.0]])
                te_seen = not np.isnan(times[13]) and times[13] <= cutoff
                p_y = 0.0
                for grade in range(3):
                    w_te = float(grade == te) if te_seen else c[grade] - c[grade + 1]
                    p_y += w_te * sum(wu * expit(P.FHB_BASE + P.FHB_PLOIDY[g] + P.FHB_Q * q + P.FHB_DC * d
                                                 + P.FHB_AGE * (age - 35) + P.FHB_TE[grade] + u)
                                      for u, wu in zip(P.U_NODES, P.U_WEIGHTS))
                num += weight * future * p_y
                den += weight
                eu += weight if g == 0 else 0.0
    return num / den, eu / den


def test_matches_brute_force_enumeration():
    cohort = population()
    t = cohort.truth
    # a mix: hatched, arrested early, arrested late, slow, direct cleavage, IVF
    picks = {
        int(np.flatnonzero(t.t_tHB.notna())[0]), int(np.flatnonzero(t.arrested_stage == "t4")[0]),
        int(np.flatnonzero(t.arrested_stage == "tEB")[0]), int(np.flatnonzero(t.arrested_stage == "tSB")[0]),
        int(np.flatnonzero((t.t_t3 - t.t_t2) < 5)[0]), int(np.flatnonzero(t.t_t8 > 66)[0]),
        int(np.flatnonzero((cohort.clinical.method == "IVF").to_numpy())[0]),
    }
    rows = sorted(picks)
    obs = observations(cohort, rows)
    for cutoff in (DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI, 30.0):
        fast_fhb, fast_eu = bayes.posterior_probabilities(**obs, cutoff=cutoff)
        for j in range(len(rows)):
            slow_fhb, slow_eu = brute_force(*(obs[k][j] for k in obs), cutoff=cutoff)
            assert fast_fhb[j] == pytest.approx(slow_fhb, rel=1e-9, abs=1e-12)
            assert fast_eu[j] == pytest.approx(slow_eu, rel=1e-9, abs=1e-12)


def test_nothing_seen_gives_the_prior_and_the_sampler_agrees():
    """At hpi ~0 the posterior is the prior predictive; a Monte-Carlo run of the sampler must match it."""
    age, ivf, n = 36.0, 1, 200_000
    nothing = np.full((1, 16), np.nan)
    p_fhb, p_eu = bayes.posterior_probabilities(nothing, np.array([np.nan]), np.zeros(1, int), np.zeros(1, int),
                                                np.zeros(1, int), np.array([age]), np.array([ivf]), cutoff=1e-3)
    assert p_eu[0] == pytest.approx(bayes.zygote_ploidy_prior(np.array([age]))[0, 0], rel=1e-9)
    rng = np.random.default_rng(0)
    g = (rng.random((n, 1)) > np.cumsum(bayes.zygote_ploidy_prior(np.full(n, age)), axis=1)).sum(1)
    q = P.Q_NODES[rng.choice(P.NUM_Q_NODES, size=n, p=P.Q_WEIGHTS)]
    d = (rng.random(n) < K.direct_cleavage_prob(g, q)).astype(int)
    dev = K.sample_development(rng, g, q, d, np.full(n, ivf))
    u = P.U_NODES[rng.choice(P.NUM_U_NODES, size=n, p=P.U_WEIGHTS)]
    eta = P.FHB_BASE + P.FHB_PLOIDY[g] + P.FHB_Q * q + P.FHB_DC * d + P.FHB_AGE * (age - 35) + u + P.FHB_TE[dev["te"]]
    y = (dev["last"] == 15) & (rng.random(n) < expit(eta))
    se = np.sqrt(p_fhb[0] * (1 - p_fhb[0]) / n)
    assert abs(y.mean() - p_fhb[0]) < 4 * se
    # and the day-3 posterior of those sampled embryos averages to the same prior predictive
    p3, _ = bayes.posterior_probabilities(dev["times"][:20000], dev["t_arrest_visible"][:20000],
                                          dev["frag"][:20000], dev["icm"][:20000], dev["te"][:20000],
                                          np.full(20000, age), np.full(20000, ivf), cutoff=DAY3_CUTOFF_HPI)
    assert abs(p3.mean() - p_fhb[0]) < 4 * np.sqrt((p3 * (1 - p3)).mean() / 20000) + 4 * se
