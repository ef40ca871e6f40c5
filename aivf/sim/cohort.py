"""Sample a simulated multi-clinic cohort: clinics, patients, embryos, outcomes and exact Bayes truth.

The generative story and every number's source are in docs/simulator.md; the numbers in params.py.
``sample_cohort(cfg, seed)`` is the entry point the renderer and ``aivf simulate`` call.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

from aivf.sim import bayes
from aivf.sim import keyframe_oracle as KO
from aivf.sim import kinetics as K
from aivf.sim import params as P
from aivf.sim.config import ImagingConfig, SimConfig
from aivf.sim.outcomes import assign_outcomes
from aivf.sim.records import clinic_records
from aivf.sim.types import DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI, EVENTS, PLOIDY_CLASSES, EmbryoTruth


@dataclass
class ClinicProfile:
    """One clinic: its transfer policy mix, fertilisation-method mix, patient ages and imaging style."""

    name: str  # clinic id, e.g. "C1"
    policy_mix: dict[str, float]  # policy -> share of its patients ("day3", "day5", "pgta")
    icsi_fraction: float  # share of cycles fertilised by ICSI (the rest conventional IVF)
    age_mean: float  # mean maternal age of its patients, years
    age_sd: float  # SD of maternal age, years (clipped to 22-46)
    imaging: ImagingConfig = field(default_factory=ImagingConfig)  # this clinic's camera settings


@dataclass
class Cohort:
    """A sampled cohort: per-embryo truth for the renderer plus the clinical and truth tables.

    ``clinical`` has the clinical.csv columns of docs/architecture.md except ``recording``;
    ``truth`` the truth.csv columns (plus ``arrested_stage`` and ``t_arrest_visible``).
    """

    embryos: list[EmbryoTruth]
    clinical: pd.DataFrame
    truth: pd.DataFrame
    clinics: dict[str, ClinicProfile]


def clinic_imaging(cfg: SimConfig, clinic_index: int, seed: int) -> ImagingConfig:
    """This clinic's imaging: ``cfg.imaging`` with a clinic-specific interval, exposure, noise and blur.

    The frame interval is 0.6-1.0 x the configured one (0.15-0.25 h for the 0.25 h default), the
    others vary around the configured values; ``cfg.clinic_imaging_variation`` scales the spread. The
    spread between clinics is kept smaller than the renderer's spread between recordings of one clinic
    (``ImagingConfig.recording_variation``), so imaging style identifies a clinic less (issue 12, item 3).
    """
    rng = np.random.default_rng([seed, 7, clinic_index])
    v = cfg.clinic_imaging_variation
    base = cfg.imaging
    return dataclasses.replace(
        base,
        frame_interval_h=round(base.frame_interval_h * (1 - v * float(rng.uniform(0.0, 0.4))), 3),
        brightness=round(base.brightness + v * float(rng.uniform(-4, 4)), 1),
        contrast=round(base.contrast * (1 + v * float(rng.uniform(-0.1, 0.1))), 3),
        noise_sd=round(base.noise_sd * (1 + v * float(rng.uniform(-0.15, 0.25))), 2),
        blur_sigma=round(base.blur_sigma * (1 + v * float(rng.uniform(-0.15, 0.25))), 2),
    )


def make_clinics(cfg: SimConfig, seed: int) -> dict[str, ClinicProfile]:
    """Clinic profiles: clinic k mostly follows POLICIES[k % 3] (day5, pgta, day3, ...)."""
    clinics = {}
    for i in range(cfg.num_clinics):
        rng = np.random.default_rng([seed, 5, i])
        main = P.POLICIES[i % len(P.POLICIES)]
        rest = (1 - P.DOMINANT_POLICY_SHARE) / (len(P.POLICIES) - 1)
        mix = {p: (P.DOMINANT_POLICY_SHARE if p == main else rest) for p in P.POLICIES}
        clinics[f"C{i + 1}"] = ClinicProfile(
            name=f"C{i + 1}", policy_mix=mix, icsi_fraction=round(float(rng.uniform(0.55, 0.85)), 3),
            age_mean=round(float(rng.uniform(33.0, 38.0)), 2), age_sd=4.5, imaging=clinic_imaging(cfg, i, seed),
        )
    return clinics


def expected_zygotes(age: np.ndarray) -> np.ndarray:
    """Mean fertilised zygotes per cycle: ~8 at 30 falling linearly to ~4 at 43 (clipped 3-10)."""
    slope = (P.ZYGOTES_AT_43 - P.ZYGOTES_AT_30) / 13.0
    return np.clip(P.ZYGOTES_AT_30 + slope * (np.asarray(age) - 30.0), 3.0, 10.0)


def sample_cohort(cfg: SimConfig, seed: int, keyframes: KO.KeyframeGrid | None = None) -> Cohort:
    """Sample ``cfg.num_patients`` patients across ``cfg.num_clinics`` clinics (deterministic for a seed).

    With ``keyframes`` (the grid of the dataset the cohort is for) truth also carries the keyframe-oracle
    columns ``p_*_kf`` and ``p_*_kf_nograde`` (docs/simulator.md, section 3); every other column is the same
    with or without it.

    Returns:
        A Cohort; embryos carry ``recording_end_hpi`` (67 h for day-3 transfers, else the clinic's
        ``end_hpi``), ``render_seed`` and ``extras`` (``fragmentation_level``, and
        ``degeneration_start_hpi`` for embryos whose arrest becomes visible).
    """
    clinics = make_clinics(cfg, seed)
    names = list(clinics)
    rng_pat, rng_emb, rng_out, rng_render = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))

    # patients
    n_pat = cfg.num_patients
    clinic_of = rng_pat.integers(len(names), size=n_pat)
    prof = [clinics[names[c]] for c in clinic_of]
    age = np.clip(rng_pat.normal([p.age_mean for p in prof], [p.age_sd for p in prof]), P.AGE_MIN, P.AGE_MAX)
    age = np.round(age, 1)
    ivf_pat = (rng_pat.random(n_pat) >= np.array([p.icsi_fraction for p in prof])).astype(int)
    policy_pat = np.array([rng_pat.choice(list(p.policy_mix), p=list(p.policy_mix.values())) for p in prof])
    n_emb = P.MIN_ZYGOTES + rng_pat.poisson(expected_zygotes(age) - P.MIN_ZYGOTES)
    u_pat = rng_pat.choice(P.NUM_U_NODES, size=n_pat, p=P.U_WEIGHTS)

    # embryos: hidden state, development, potential outcome
    pat = np.repeat(np.arange(n_pat), n_emb)
    n = len(pat)
    a, ivf = age[pat], ivf_pat[pat]
    prior = bayes.zygote_ploidy_prior(a)
    g = (rng_emb.random((n, 1)) > np.cumsum(prior, axis=1)).sum(axis=1)
    q_idx = rng_emb.choice(P.NUM_Q_NODES, size=n, p=P.Q_WEIGHTS)
    q = P.Q_NODES[q_idx]
    d = (rng_emb.random(n) < K.direct_cleavage_prob(g, q)).astype(int)
    dev = K.sample_development(rng_emb, g, q, d, ivf)
    eta = (P.FHB_BASE + P.FHB_PLOIDY[g] + P.FHB_Q * q + P.FHB_DC * d + P.FHB_AGE * (a - 35.0)
           + P.FHB_TE[dev["te"]] + P.U_NODES[u_pat[pat]])
    y = ((dev["last"] == len(EVENTS) - 1) & (rng_emb.random(n) < expit(eta))).astype(int)

    # exact Bayes truth
    args = (dev["times"], dev["t_arrest_visible"], dev["frag"], dev["icm"], dev["te"], a, ivf)
    p_d3, _ = bayes.posterior_probabilities(*args, cutoff=DAY3_CUTOFF_HPI)
    p_d5, p_eu = bayes.posterior_probabilities(*args, cutoff=DAY5_CUTOFF_HPI)

    # clinic policies and observed labels
    pid = np.array([f"{names[clinic_of[i]]}P{i:04d}" for i in range(n_pat)])
    out = assign_outcomes(rng_out, pid[pat], policy_pat[pat], dev, g, y, cfg.max_transfers)
    # The truth conditions on what the recording shows: a day-3 transfer leaves the incubator at 67 h, so its
    # day-5 posteriors are those of its 67-h video, not of development no camera saw (docs/simulator.md, section 3).
    left_on_day3 = out["transfer_day"] == 3
    if left_on_day3.any():
        short = tuple(x[left_on_day3] for x in args)
        p_d5[left_on_day3], p_eu[left_on_day3] = bayes.posterior_probabilities(*short, cutoff=P.DAY3_TRANSFER_HPI)
    k_in_patient = np.arange(n) - np.repeat(np.cumsum(n_emb) - n_emb, n_emb) + 1
    eid = np.array([f"{pid[p]}-{k}" for p, k in zip(pat, k_in_patient)])
    clinic = np.array(names)[clinic_of[pat]]
    clinical = pd.DataFrame({
        "embryo_id": eid, "patient_id": pid[pat], "clinic": clinic, "maternal_age": a,
        "method": np.where(ivf == 1, "IVF", "ICSI"), "policy": policy_pat[pat],
        **{k: out[k] for k in ("transferred", "transfer_day", "transfer_order", "biopsied", "d3_fhb", "d5_fhb", "pgt")},
        **clinic_records(seed, clinic_of[pat], policy_pat[pat], dev, out),  # decisions and grades, every embryo
    })
    last = dev["last"]
    arrested = np.where(last == len(EVENTS) - 1, "", np.array(("zygote",) + EVENTS)[last + 1])
    truth = pd.DataFrame({
        "embryo_id": eid, "ploidy": np.array(PLOIDY_CLASSES)[g], "quality": q, "fhb_potential": y,
        "p_fhb_d3": p_d3, "p_fhb_d5": p_d5, "p_euploid_d5": p_eu,
        **{f"t_{e}": dev["times"][:, k] for k, e in enumerate(EVENTS)},
        "arrested_stage": arrested, "t_arrest_visible": dev["t_arrest_visible"],
    })
    if keyframes is not None:
        end = np.array([clinics[name].imaging.end_hpi for name in clinic])
        end = np.where(left_on_day3, np.minimum(end, P.DAY3_TRANSFER_HPI), end)
        truth = truth.assign(**keyframe_oracle_columns(args, clinic, end, clinics, keyframes))
    render_seeds = rng_render.integers(2**31 - 1, size=n)
    embryos = [
        _embryo_truth(i, eid, pid[pat], clinic, a, ivf, g, q, dev, out, clinics, render_seeds)
        for i in range(n)
    ]
    return Cohort(embryos, clinical, truth, clinics)


def keyframe_oracle_columns(args: tuple, clinic: np.ndarray, end_hpi: np.ndarray, clinics: dict[str, ClinicProfile],
                            grid: KO.KeyframeGrid) -> dict[str, np.ndarray]:
    """The six ``p_*_kf`` truth columns: the posterior given each embryo's keyframes, read perfectly.

    Day 5 sees the keyframes of the embryo's own recording (its clinic's frame times, ending at 67 h for a day-3
    transfer); day 3 the ones up to ``KO.DAY3_VIEW_HPI``, as the model's day-3 predictions do.
    """
    from aivf.sim.render import frame_times  # the renderer's own frame clock

    cache: dict[tuple[str, float], np.ndarray] = {}
    kf = np.empty((len(clinic), len(grid.targets_hpi)))
    for i, (name, end) in enumerate(zip(clinic, end_hpi)):
        if (name, end) not in cache:
            imaging = dataclasses.replace(clinics[name].imaging, end_hpi=float(end))
            stub = EmbryoTruth("", "", name, 0.0, "ICSI", "euploid", 0.0, {}, 0.0, recording_end_hpi=float(end))
            cache[name, end] = grid.keyframe_hpi(frame_times(stub, imaging))
        kf[i] = cache[name, end]
    d5 = KO.oracle_probabilities(*args, keyframe_hpi=kf)
    d3 = KO.oracle_probabilities(*args, keyframe_hpi=np.where(kf <= KO.DAY3_VIEW_HPI, kf, np.nan))
    return {
        "p_fhb_d3_kf": d3["fhb"], "p_fhb_d3_kf_nograde": d3["fhb_nograde"],
        "p_fhb_d5_kf": d5["fhb"], "p_fhb_d5_kf_nograde": d5["fhb_nograde"],
        "p_euploid_d5_kf": d5["euploid"], "p_euploid_d5_kf_nograde": d5["euploid_nograde"],
    }


def _embryo_truth(i, eid, pids, clinic, age, ivf, g, q, dev, out, clinics, render_seeds) -> EmbryoTruth:
    times = dev["times"][i]
    reached = {e: float(times[k]) for k, e in enumerate(EVENTS) if not np.isnan(times[k])}
    blast = "tB" in reached
    end = clinics[clinic[i]].imaging.end_hpi
    if out["transfer_day"][i] == 3:
        end = min(end, P.DAY3_TRANSFER_HPI)  # a day-3 transfer leaves the incubator
    extras = {"fragmentation_level": float(dev["frag"][i])}
    if not np.isnan(dev["t_arrest_visible"][i]):
        extras["degeneration_start_hpi"] = float(dev["t_arrest_visible"][i])
    return EmbryoTruth(
        embryo_id=str(eid[i]), patient_id=str(pids[i]), clinic=str(clinic[i]), maternal_age=float(age[i]),
        method="IVF" if ivf[i] else "ICSI", ploidy=PLOIDY_CLASSES[g[i]], quality=float(q[i]), events=reached,
        fragmentation=float(P.FRAG_FRACTION[dev["frag"][i]]),
        icm_grade=P.GRADES[dev["icm"][i]] if blast else None, te_grade=P.GRADES[dev["te"][i]] if blast else None,
        recording_end_hpi=float(end), render_seed=int(render_seeds[i]), extras=extras,
    )
