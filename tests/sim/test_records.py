"""The simulator's clinic records against the literature (../shared/docs/embryology.md) and its own truth."""

from __future__ import annotations

import numpy as np
import pytest

from aivf.sim.config import SimConfig
from aivf.sim.records import GRADE_NOISE


@pytest.fixture(scope="module")
def cohort():
    from aivf.sim.cohort import sample_cohort

    return sample_cohort(SimConfig(num_patients=1500), seed=3)


def test_every_embryo_gets_a_decision_and_a_day3_call(cohort):
    c = cohort.clinical
    assert set(c["decision"]) == {"transferred", "frozen", "discarded"}
    assert c["usable_d3"].notna().all()
    assert (c.loc[c["decision"] == "transferred", "transferred"] == 1).all()
    assert (c.loc[c["decision"] == "discarded", "decision_reason"] != "").all()
    # a day-3 transfer leaves the incubator at 67 h: no day-5 call, no day-5 grade
    day3 = c["transfer_day"] == 3
    assert c.loc[day3, "usable_d5"].isna().all() and c.loc[day3, "icm_d5"].isna().all()


def test_usable_day5_call_follows_what_the_embryo_did(cohort):
    c, t = cohort.clinical, cohort.truth
    recorded = c["usable_d5"].notna()
    blast = (t["t_tB"] <= 116.0).to_numpy()
    usable = c["usable_d5"].to_numpy() == 1
    assert not (usable & ~blast)[recorded].any()  # never usable without a full blastocyst by the cutoff
    # 40-60% of zygotes reach a usable blastocyst (literature, counting day 6 too): by day 5 a bit less
    rate = usable[recorded].mean()
    assert 0.25 < rate < 0.55, rate
    # an arrested embryo essentially never gives a heartbeat: usable calls carry most of the FHB signal
    y = t["fhb_potential"].to_numpy()
    assert y[recorded & usable].mean() > 0.3 > 0.1 > y[recorded & ~usable].mean()  # ploidy caps usable at ~0.4


def test_recorded_grades_have_inter_observer_noise_and_follow_the_literature_fhb_order(cohort):
    graded = [e for e, g in zip(cohort.embryos, cohort.clinical["icm_d5"]) if isinstance(g, str) and e.icm_grade]
    recorded = cohort.clinical.set_index("embryo_id").loc[[e.embryo_id for e in graded], "icm_d5"].to_numpy()
    true = np.array([e.icm_grade for e in graded])
    disagree = (recorded != true).mean()
    # a grade moves to a neighbour with probability GRADE_NOISE; at A and C half the moves fall off the scale
    assert 0.4 * GRADE_NOISE < disagree < GRADE_NOISE
    assert len(graded) < sum(1 for e in cohort.embryos if e.icm_grade)  # gaps: not every blastocyst is graded
    # FHB of transferred blastocysts by recorded TE grade: A > B > C (literature 0.66 / 0.51 / 0.26)
    c = cohort.clinical
    rates = [c.loc[(c["te_d5"] == g) & c["d5_fhb"].notna(), "d5_fhb"].mean() for g in "ABC"]
    assert rates[0] > rates[1] > rates[2], rates


def test_day6_call_adds_the_late_blastocysts_that_can_still_give_a_heartbeat(cohort):
    c, t = cohort.clinical, cohort.truth
    recorded = c["usable_d6"].notna().to_numpy()
    assert (recorded == c["usable_d5"].notna().to_numpy()).all()  # both empty exactly after a day-3 transfer
    d5, d6 = c["usable_d5"].to_numpy() == 1, c["usable_d6"].to_numpy() == 1
    assert not (d5 & ~d6).any()  # usable on day 5 is usable by day 6
    late = d6 & ~d5
    assert late.sum() > 0.03 * recorded.sum()
    assert (t["t_tB"].to_numpy()[late] > 116.0).all() and (t["t_tB"].to_numpy()[late] <= 140.0).all()
    y = t["fhb_potential"].to_numpy()
    assert y[late].mean() > 0.2 > 0.02 > y[recorded & ~d6].mean()
    assert (c.loc[late & (c["transferred"] == 0).to_numpy(), "decision"].isin(["frozen", "discarded"])).all()
