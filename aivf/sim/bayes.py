"""Exact Bayes-optimal probabilities: P(FHB | video up to a cutoff, age, method) and P(euploid | ...).

Every hidden variable is discrete (ploidy g: 3, quality q: Gauss-Hermite nodes, direct cleavage D: 2,
patient receptivity u: Gauss-Hermite nodes) or integrated in closed form (the lognormal interval
densities and survival functions), so the posterior is an exact finite sum; numpy evaluates it for
all embryos at once. "What the video shows up to C" is: every event time <= C (the exact times; the
rendered video quantises them to frames), the fact that the next event has not happened by C
(arrested at that stage, or slower), whether the embryo has visibly degenerated (arrest becomes
visible ``ARREST_VISIBLE_DELAY_H`` after its last event), fragmentation once t2 <= C and the ICM/TE
grades once tB <= C (the TE grade also acts on FHB directly, so it is averaged over its
conditional distribution while unseen). The patient factor u is independent of everything visible, so it only enters
through E_u[P(FHB | state, u)].
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_ndtr

from aivf.sim import kinetics as K
from aivf.sim import params as P

_BLAST_INDEX = 13  # EVENTS.index("tB"): a blastocyst is an embryo that reaches tB
_T2_INDEX = 3  # EVENTS.index("t2"): fragmentation is visible from here
_G = np.arange(3)[:, None, None]  # (3, 1, 1) ploidy axis of the state grid
_Q = P.Q_NODES[None, :, None]  # (1, Q, 1) quality axis
_D = np.arange(2)[None, None, :]  # (1, 1, 2) direct-cleavage axis


def blastocyst_prob_given_ploidy() -> np.ndarray:
    """P(reach tB | g) = sum_q w_q prod_{k <= tB} (1 - a_k(g, q)); shape (3,). Exact, no sampling."""
    survive = np.prod(1 - K.arrest_prob(_G[..., 0], _Q[..., 0])[..., : _BLAST_INDEX + 1], axis=-1)  # (3, Q)
    return survive @ P.Q_WEIGHTS


def blastocyst_ploidy_fractions(age: np.ndarray) -> np.ndarray:
    """Target (euploid, aneuploid, mosaic) fractions among blastocysts at ``age`` (N,) -> (N, 3)."""
    euploid = np.interp(np.asarray(age, float), P.EUPLOID_BLAST_AGES, P.EUPLOID_BLAST_FRACTION)
    mosaic = np.full_like(euploid, P.MOSAIC_BLAST_FRACTION)
    return np.stack([euploid, 1 - euploid - mosaic, mosaic], axis=-1)


def zygote_ploidy_prior(age: np.ndarray) -> np.ndarray:
    """P(g | age) at the zygote stage, solved so that P(g | blastocyst, age) matches the age table.

    P(g | blast) is proportional to P(g) P(blast | g), hence P(g) is proportional to
    P(g | blast) / P(blast | g). Returns (N, 3).
    """
    prior = blastocyst_ploidy_fractions(age) / blastocyst_prob_given_ploidy()
    return prior / prior.sum(axis=-1, keepdims=True)


def fhb_prob_given_state(age: np.ndarray) -> np.ndarray:
    """E_u P(FHB | g, q, D, TE grade, age, u) for an embryo that reaches hatching; (N, 3, Q, 2, 3)."""
    age = np.asarray(age, float)[:, None, None, None, None, None]
    eta = (P.FHB_BASE + P.FHB_PLOIDY[_G] + P.FHB_Q * _Q + P.FHB_DC * _D)[None, ..., None, None]
    eta = eta + P.FHB_TE[:, None] + P.FHB_AGE * (age - 35.0) + P.U_NODES
    return expit(eta) @ P.U_WEIGHTS


def _state_tables(ivf: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-embryo interval parameters and state-only tables on the (3, Q, 2) grid."""
    mu, sigma = K.interval_lognormal(_G[..., None], _Q[..., None], _D[..., None], np.arange(2))  # (3,Q,2,2,16)
    mu = np.moveaxis(mu[:, :, :, ivf], 3, 0)  # (N, 3, Q, 2, 16)
    sigma = np.moveaxis(sigma[:, :, :, ivf], 3, 0)
    arrest = K.arrest_prob(_G, _Q)  # (3, Q, 1, 16)
    p_dc = K.direct_cleavage_prob(_G, _Q)  # (3, Q, 1)
    log_d = np.log(np.where(_D == 1, p_dc, 1 - p_dc))  # (3, Q, 2)
    return mu, sigma, arrest, log_d


def posterior_probabilities(
    times: np.ndarray,
    t_arrest_visible: np.ndarray,
    frag: np.ndarray,
    icm: np.ndarray,
    te: np.ndarray,
    age: np.ndarray,
    ivf: np.ndarray,
    cutoff: float,
    chunk: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact P(FHB = 1 | visible up to ``cutoff``) and P(euploid | visible up to ``cutoff``).

    Args:
        times: (N, 16) true event times in hpi (NaN never reached); only those <= cutoff are used.
        t_arrest_visible: (N,) hpi from which arrest is visible (NaN if the embryo never arrests).
        frag: (N,) fragmentation level 0-3 (used only if t2 <= cutoff).
        icm, te: (N,) grade indices 0-2 (A, B, C; used only if tB <= cutoff).
        age: (N,) maternal age, years.
        ivf: (N,) 1 for conventional IVF, 0 for ICSI.
        cutoff: hours post insemination of the decision.
        chunk: embryos per vectorised block (bounds memory at ~chunk * 3 * Q * 2 * 16 floats).

    Returns:
        ``(p_fhb, p_euploid)``, each float64 (N,).
    """
    n = len(times)
    p_fhb, p_eu = np.empty(n), np.empty(n)
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        p_fhb[sl], p_eu[sl] = _posterior_block(
            np.asarray(times[sl], float), np.asarray(t_arrest_visible[sl], float), np.asarray(frag[sl]),
            np.asarray(icm[sl]), np.asarray(te[sl]), np.asarray(age[sl], float),
            np.asarray(ivf[sl]).astype(int), cutoff,
        )
    return p_fhb, p_eu


def _posterior_block(times, t_vis, frag, icm, te, age, ivf, cutoff):
    n = len(times)
    rows = np.arange(n)
    mu, sigma, arrest, log_d = _state_tables(ivf)
    log_a, log_1a = np.log(arrest), np.log1p(-arrest)  # (3, Q, 1, 16)

    seen = np.nan_to_num(times, nan=np.inf) <= cutoff  # (N, 16); a prefix of the events
    m = seen.sum(axis=1)  # events seen; event m (if < 16) is pending
    prev = np.concatenate([np.zeros((n, 1)), times[:, :-1]], axis=1)
    dur = np.where(seen, times - prev, 1.0)
    z = (np.log(dur)[:, None, None, None, :] - mu) / sigma
    log_pdf = -np.log(dur)[:, None, None, None, :] - np.log(sigma) - 0.5 * np.log(2 * np.pi) - 0.5 * z**2
    seen5 = seen[:, None, None, None, :]
    loglik = np.where(seen5, log_pdf + log_1a, 0.0).sum(axis=-1)  # (N, 3, Q, 2)

    # the pending event: arrested there, or not yet happened (lognormal survival of the elapsed time)
    pending = np.minimum(m, 15)
    last_time = np.where(m > 0, times[rows, np.maximum(m - 1, 0)], 0.0)
    elapsed = np.maximum(cutoff - last_time, 1e-9)
    mu_p, sig_p = mu[rows, ..., pending], sigma[rows, ..., pending]  # (N, 3, Q, 2)
    log_sf = log_ndtr(-(np.log(elapsed)[:, None, None, None] - mu_p) / sig_p)
    la = np.moveaxis(log_a[..., pending], -1, 0)  # (N, 3, Q, 1)
    l1a = np.moveaxis(log_1a[..., pending], -1, 0)
    degenerate = np.nan_to_num(t_vis, nan=np.inf) <= cutoff
    # an arrest at the pending stage would be visible by now (only for arrests before tB)
    too_long = (elapsed >= P.ARREST_VISIBLE_DELAY_H) & (pending <= P.ARREST_VISIBLE_MAX_PENDING)
    alive_term = l1a + log_sf
    either = np.logaddexp(la, alive_term)
    done, deg, tl = (x[:, None, None, None] for x in (m == 16, degenerate, too_long))
    censor = np.where(done, 0.0, np.where(deg, la, np.where(tl, alive_term, either)))
    loglik = loglik + censor

    # visible traits
    frag_p = K.fragmentation_probs(_G, _Q)[..., frag]  # (3, Q, 1, N)
    loglik = loglik + np.where((m > _T2_INDEX)[:, None, None, None], np.moveaxis(np.log(frag_p), -1, 0), 0.0)
    grades = np.log(K.grade_probs(_G, _Q, "icm")[..., icm]) + np.log(K.grade_probs(_G, _Q, "te")[..., te])
    loglik = loglik + np.where((m > _BLAST_INDEX)[:, None, None, None], np.moveaxis(grades, -1, 0), 0.0)

    # prior over (g, q, D) and normalisation
    log_prior = np.log(zygote_ploidy_prior(age))[:, :, None, None] + np.log(P.Q_WEIGHTS)[:, None] + log_d
    log_post = loglik + log_prior
    log_post -= log_post.max(axis=(1, 2, 3), keepdims=True)
    post = np.exp(log_post)
    post /= post.sum(axis=(1, 2, 3), keepdims=True)

    # P(reach hatching | state, history): pending stage survived, then every later stage
    survive_all = np.exp(np.cumsum(log_1a[..., ::-1], axis=-1)[..., ::-1])  # [k] = prod_{j >= k} (1 - a_j)
    after = np.concatenate([survive_all[..., 1:], np.ones(survive_all.shape[:-1] + (1,))], axis=-1)
    after_p = np.moveaxis(after[..., pending], -1, 0)  # prod_{j > pending}, (N, 3, Q, 1)
    alive_given_censor = np.where(tl, 1.0, np.exp(alive_term - either))
    future = np.where(done, 1.0, np.where(deg, 0.0, alive_given_censor * after_p))
    # the TE grade acts on FHB directly: the seen grade once tB <= C, else averaged over P(grade | g, q)
    p_y_te = fhb_prob_given_state(age)  # (N, 3, Q, 2, 3)
    te_seen = np.take_along_axis(p_y_te, te[:, None, None, None, None], axis=-1)[..., 0]
    te_avg = (p_y_te * K.grade_probs(_G, _Q, "te")).sum(axis=-1)
    p_y = np.where((m > _BLAST_INDEX)[:, None, None, None], te_seen, te_avg)
    p_fhb = (post * future * p_y).sum(axis=(1, 2, 3))
    p_euploid = post[:, 0].sum(axis=(1, 2))
    return p_fhb, p_euploid
