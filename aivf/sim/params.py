"""Every number of the simulator's generative model, each with the figure it is calibrated to.

See docs/simulator.md for the story; ../shared/docs/embryology.md for the literature figures.
Indices: ploidy g = 0 euploid, 1 aneuploid, 2 mosaic (``types.PLOIDY_CLASSES``); interval k is the
time from event k-1 (insemination for k = 0) to event ``EVENTS[k]``.
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

# --- discrete latent grids (exact sums instead of integrals) ---------------------------------
NUM_Q_NODES = 7  # Gauss-Hermite nodes for the developmental quality q ~ N(0, 1)
Q_NODES, _w = hermegauss(NUM_Q_NODES)
Q_WEIGHTS = _w / _w.sum()  # sum to 1; reproduce N(0,1) moments up to order 13
NUM_U_NODES = 5  # Gauss-Hermite nodes for the patient receptivity u ~ N(0, U_SD^2)
U_SD = 0.3  # logit-scale SD of the unobserved patient (uterine) factor
_u, _uw = hermegauss(NUM_U_NODES)
U_NODES = U_SD * _u
U_WEIGHTS = _uw / _uw.sum()

# --- patients ---------------------------------------------------------------------------------
AGE_MIN, AGE_MAX = 22.0, 46.0  # maternal age is clipped to this range
# zygotes per patient: 2 + Poisson(mean - 2), mean falling linearly from ~8 at 30 to ~4 at 43
ZYGOTES_AT_30, ZYGOTES_AT_43, MIN_ZYGOTES = 8.0, 4.0, 2

# --- ploidy -------------------------------------------------------------------------------------
# Euploid fraction of biopsied BLASTOCYSTS by age (PGT-A table: <30 0.70, 30-35 0.65, 35-38 0.55,
# 38-40 0.35, 40-42 0.18, >=42 0.10), placed at the band centres and interpolated linearly.
EUPLOID_BLAST_AGES = np.array([27.0, 32.5, 36.5, 39.0, 41.0, 44.0])
EUPLOID_BLAST_FRACTION = np.array([0.70, 0.65, 0.55, 0.35, 0.18, 0.10])
MOSAIC_BLAST_FRACTION = 0.08  # mosaic share of biopsied blastocysts (PGT-A reports: ~5-15%)

# --- event timing: lognormal intervals ------------------------------------------------------------
# Median (h) and log-SD of each interval for a euploid, q = 0, ICSI embryo without direct cleavage.
# Calibrated so that event means match embryology.md: tPNa 7.2, tPNf ~23, t2 25.0, t3 35.8, t4 37.5
# (s2 median 1.5 h, IQR 0.7-2.7), t5 49.2, t8 55.7, tM 80-90, tSB 95-100, tB 105-110, tEB 115-120.
INTERVAL_MEDIAN_H = np.array(
    [3.0, 3.7, 15.6, 1.9, 10.5, 1.5, 10.8, 1.5, 1.7, 1.8, 8.7, 21.0, 12.0, 9.5, 9.5, 10.0]
)
INTERVAL_LOG_SD = np.array(
    [0.30, 0.35, 0.10, 0.35, 0.20, 1.00, 0.22, 0.70, 0.70, 0.70, 0.35, 0.22, 0.28, 0.33, 0.35, 0.40]
)
# Direct cleavage (1 -> 3 cells, t3 - t2 < 5 h, 13.7% of embryos, Rubio 2012): cc2 from this component.
DC_MEDIAN_H, DC_LOG_SD = 1.6, 0.6  # P(cc2 >= 5 h | direct) = 3%
# after a direct cleavage the 3-cell stage lasts until the usual t4 (so t4 onwards stay on time)
DC_S2_MEDIAN_H, DC_S2_LOG_SD = 9.5, 0.3
DC_LOGIT = np.array([-2.5, -1.5, -2.0])  # per ploidy; aneuploid embryos cleave directly more often
DC_Q = -0.5  # better quality -> fewer direct cleavages
# Log-median shift of aneuploid embryos per interval (t2 +0.6 h, t5 +0.7 h, t8 +2.4 h; mosaic half).
ANEUPLOID_SHIFT = np.array(
    [0.02, 0.02, 0.02, 0.02, 0.03, 0.03, 0.02, 0.25, 0.25, 0.25, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04]
)
MOSAIC_SHIFT_FRACTION = 0.5
# Log-median change per unit q: better embryos run faster; compaction and blastulation most
# (pregnancy-associated compaction 79.9 vs 86.5 h, blastocyst 97.5 vs 100.3 h, Mizobe 2017).
Q_SPEED = np.array(
    [-0.01, -0.02, -0.01, -0.02, -0.02, -0.10, -0.02, -0.10, -0.10, -0.10, -0.04, -0.05, -0.05, -0.04, -0.03, -0.03]
)
# Synchrony: log-SD of the short intervals (s2, t5->t8) shrinks with q (x exp(Q_SYNC * q)).
Q_SYNC = np.array([0, 0, 0, 0, 0, -0.15, 0, -0.15, -0.15, -0.15, 0, 0, 0, 0, 0, 0], dtype=float)
# Conventional IVF: sperm must penetrate, so everything runs ~1 h later than ICSI until the
# 6-cell stage, then catches up (log-median shifts on interval 0 and on t6 -> t7).
IVF_SHIFT = np.zeros(16)
IVF_SHIFT[0] = np.log((3.0 + 1.0) / 3.0)
IVF_SHIFT[8] = np.log(1.2 / 1.7)

# --- arrest ---------------------------------------------------------------------------------------
# Probability that an embryo alive at event k-1 never reaches event k (euploid, q = 0), on the logit
# scale shifted by ploidy and q. Calibrated so that 40-60% of zygotes form a blastocyst.
ARREST_BASE = np.array(
    [0.002, 0.004, 0.005, 0.02, 0.02, 0.02, 0.03, 0.02, 0.02, 0.03, 0.05, 0.08, 0.06, 0.04, 0.03, 0.05]
)
ARREST_PLOIDY = np.array([0.0, 1.1, 0.5])  # logit shift: aneuploid embryos arrest ~3x more often
ARREST_Q = -0.6  # logit change per unit q
ARREST_VISIBLE_DELAY_H = 12.0  # an arrested embryo visibly degenerates this long after its last event
# ... but only if it arrests before the full blastocyst (pending event index <= 13 = tB); a blastocyst
# that stops expanding looks like a slow one (the renderer draws degeneration only before tB).
ARREST_VISIBLE_MAX_PENDING = 13

# --- visible traits (ordered logits in the latent  -q*slope + ploidy shift) -----------------------
FRAG_FRACTION = np.array([0.03, 0.08, 0.18, 0.32])  # cytoplasm fraction per level (<5, 5-10, 10-25, >25%)
FRAG_CUTS = np.array([0.3, -1.5, -3.0])  # logit P(level >= j), j = 1..3, at q = 0 euploid
FRAG_Q, FRAG_PLOIDY = 0.9, np.array([0.0, 0.5, 0.25])
GRADES = ("A", "B", "C")
ICM_CUTS = np.array([0.0, -2.0])  # logit P(grade worse than A), P(grade C) at q = 0 euploid
TE_CUTS = np.array([0.2, -2.2])
GRADE_Q, GRADE_PLOIDY = 2.6, np.array([0.0, 0.4, 0.2])

# --- potential FHB outcome ---------------------------------------------------------------------------
# Y = (reaches hatching) * Bernoulli(sigmoid(eta)), eta = FHB_BASE + FHB_PLOIDY[g] + FHB_Q q
# + FHB_DC * direct + FHB_AGE * (age - 35) + FHB_TE[te grade] + u. Calibrated (docs/simulator.md, section 4;
# ``python -m aivf.sim.calibration 3300 3``) to the literature of ../shared/docs/embryology.md, ploidy first:
# a euploid transfer gives FHB in 50-65% of cases, falling with age; an aneuploid one rarely (here ~3%);
# mosaic in between (~40%); direct cleavage 1.2% vs 20.2% implantation (Rubio 2012, ~17x); TE a/b/c gradient;
# first transfers by age near the clinic table 0.59 / 0.46 / 0.32 / 0.29 (ploidy carries most of it).
# What this costs: transfers per pregnancy come out ~2.5 (not the ~1.6 clinic figure), see docs/simulator.md.
FHB_BASE = 0.6
FHB_PLOIDY = np.array([0.0, -5.5, -1.5])
FHB_Q = 1.3
FHB_DC = -4.0
FHB_AGE = -0.06
FHB_TE = np.array([0.0, -0.3, -1.4])  # direct effect of the trophectoderm grade A/B/C (TE a/b/c gradient)

# --- clinics and outcomes ------------------------------------------------------------------------
POLICIES = ("day5", "pgta", "day3")  # dominant policy of clinics C1, C2, C3, C4, ...
DOMINANT_POLICY_SHARE = 0.8  # the rest of a clinic's patients follow the other two policies equally
DAY3_TRANSFER_HPI = 67.0  # day-3 transfer: the embryo leaves the incubator (recording ends here)
PGT_NO_RESULT = 0.03  # biopsies without a result
BIOPSY_BY_HPI = 144.0  # PGT-A clinics biopsy every blastocyst formed by day 6
