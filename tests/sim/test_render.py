"""The renderer: shapes, determinism, visible change at events, focal planes, arrest, no information leaks."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from aivf.sim import params as P
from aivf.sim.cohort import sample_cohort
from aivf.sim.config import ImagingConfig, SimConfig
from aivf.sim.render import (
    EMBRYO_SCALE,
    MAX_OFFCENTRE,
    EmbryoRenderer,
    frame_times,
    render_embryo,
    scene_state,
)
from aivf.sim.types import DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI, EmbryoTruth
from aivf.sim.types import EVENTS as EVENT_NAMES

EVENTS = {"tPB2": 3.5, "tPNa": 8.0, "tPNf": 23.0, "t2": 25.5, "t3": 36.0, "t4": 37.5, "t5": 48.0, "t6": 50.0,
          "t7": 52.0, "t8": 55.0, "t9+": 70.0, "tM": 82.0, "tSB": 95.0, "tB": 102.0, "tEB": 110.0, "tHB": 116.0}


def make_truth(events=EVENTS, seed=5, **kw) -> EmbryoTruth:
    base = dict(embryo_id="C1P0001-1", patient_id="C1P0001", clinic="C1", maternal_age=34.0, method="ICSI",
                ploidy="euploid", quality=0.0, events=dict(events), fragmentation=0.1, icm_grade="A",
                te_grade="A", render_seed=seed)
    base.update(kw)
    return EmbryoTruth(**base)


SMALL = ImagingConfig(image_size=64, frame_interval_h=1.0, end_hpi=120.0)


def test_shape_dtype_and_times():
    truth = make_truth(recording_end_hpi=66.0)
    video = render_embryo(truth, SMALL)
    times = frame_times(truth, SMALL)
    assert video.dtype == np.uint8 and video.shape == (len(times), 1, 64, 64)
    assert times[0] == pytest.approx(1.0) and times[-1] <= 66.0 and np.all(np.diff(times) > 0)
    assert 20 < video.mean() < 200 and video.std() > 10  # an exposed image, not blank


def test_deterministic_given_render_seed():
    a = render_embryo(make_truth(seed=3), SMALL)
    b = render_embryo(make_truth(seed=3), SMALL)
    c = render_embryo(make_truth(seed=4), SMALL)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_frames_change_most_at_cleavage_events():
    imaging = dataclasses.replace(SMALL, image_size=96, noise_sd=0.0, drift_per_day=0.0, frame_interval_h=0.5)
    truth = make_truth()
    video = render_embryo(truth, imaging)[:, 0].astype(np.float32)
    video -= video.mean(axis=(1, 2), keepdims=True)  # remove the lamp flicker
    times = frame_times(truth, imaging)
    diff = np.abs(np.diff(video, axis=0)).mean(axis=(1, 2))  # change between frame i and i+1
    for event in ("t2", "t3", "t5", "t8"):
        i = int(np.searchsorted(times, EVENTS[event])) - 1  # the step that crosses the event
        quiet = np.median(diff[max(i - 8, 0):i - 1])
        assert diff[i] > 3 * quiet + 0.3, (event, diff[i], quiet)


def test_cell_count_follows_stage():
    truth = make_truth()
    assert scene_state(truth, 30.0).cells == 2
    assert scene_state(truth, 37.0).cells == 3
    assert scene_state(truth, 56.0).cells == 8
    assert scene_state(truth, 15.0).pn_level == 1.0 and scene_state(truth, 24.0).pn_level == 0.0
    # t9+ at 70: 9 -> 12 -> 16 cells over a fixed 9 h, then 16 until tM
    assert [scene_state(truth, h).cells for h in (70.5, 73.5, 76.5, 81.5)] == [9, 12, 16, 16]
    assert scene_state(truth, 100.0).cavity < 1.0 <= scene_state(truth, 103.0).cavity
    assert scene_state(truth, 119.0).hatching > 0


def shifted(events: dict[str, float], pending: str, delay: float) -> dict[str, float]:
    """``events`` with the pending event and everything after it ``delay`` hours later."""
    k = EVENT_NAMES.index(pending)
    return {e: t + (delay if EVENT_NAMES.index(e) >= k else 0.0) for e, t in events.items()}


def arrested_before(events: dict[str, float], pending: str) -> dict[str, float]:
    """The events of an embryo that never reaches ``pending``."""
    return {e: t for e, t in events.items() if EVENT_NAMES.index(e) < EVENT_NAMES.index(pending)}


# (phase the embryo is in at the cutoff, the pending event, cutoff hpi): the cutoff lies less than 12 h
# after the phase began, so an arrest before tB is not yet visible (degeneration starts at last + 12 h).
PHASES = [("tPNa", "tPNf", 19.5), ("tPNf", "t2", 24.5), ("t4", "t5", 47.5), ("t9+", "tM", 79.5), ("tSB", "tB", 101.5),
          ("tB", "tEB", 109.5), ("tEB", "tHB", 115.5)]


@pytest.mark.parametrize("phase, pending, cutoff", PHASES)
def test_frames_up_to_a_cutoff_show_nothing_hidden(phase, pending, cutoff):
    """Embryos that agree on everything the Bayes truth sees at the cutoff render identical frames.

    They differ in the pending event's time (0.25 h after the cutoff, or 12 h later), in whether they
    arrest, in ploidy and quality, and in traits not yet visible (fragmentation before t2, grades before tB).
    """
    imaging = ImagingConfig(image_size=48, frame_interval_h=0.5, end_hpi=cutoff + 1.0)
    soon = shifted(EVENTS, pending, cutoff + 0.25 - EVENTS[pending])
    late = shifted(EVENTS, pending, cutoff + 12.0 - EVENTS[pending])
    stopped = arrested_before(EVENTS, pending)
    if EVENT_NAMES.index(pending) <= P.ARREST_VISIBLE_MAX_PENDING:  # the model's rule (kinetics.py)
        start = max(stopped.values()) + P.ARREST_VISIBLE_DELAY_H
        assert start > cutoff
        extras = {"degeneration_start_hpi": start}
    else:
        extras = {}
    grades_seen = EVENTS["tB"] <= cutoff
    frag_seen = EVENTS["t2"] <= cutoff
    variants = [
        make_truth(events=soon, ploidy="euploid", quality=1.2),
        make_truth(events=late, ploidy="aneuploid", quality=-1.5, fragmentation=0.1 if frag_seen else 0.32,
                   icm_grade="A" if grades_seen else "C", te_grade="A" if grades_seen else "C"),
        make_truth(events=stopped, ploidy="mosaic", quality=-0.5, extras=extras,
                   icm_grade="A" if grades_seen else None, te_grade="A" if grades_seen else None),
    ]
    videos = [EmbryoRenderer(truth, imaging).render() for truth in variants]
    times = frame_times(variants[0], imaging)
    seen = times <= cutoff
    assert seen.sum() > 10 and (~seen).any()
    for video in videos[1:]:
        assert np.array_equal(video[seen], videos[0][seen])
    # ... and the test can fail: the early pending event does show after it happens
    assert not np.array_equal(videos[0][~seen], videos[1][~seen])


def test_scene_state_uses_only_the_past_in_sampled_embryos():
    """For sampled embryos, the state at t equals that of a copy that knows only what is visible by C >= t."""
    cohort = sample_cohort(SimConfig(num_patients=60, num_clinics=2), seed=3)
    checked = 0
    for truth in cohort.embryos:
        for cutoff in (DAY3_CUTOFF_HPI, DAY5_CUTOFF_HPI):
            start = truth.extras.get("degeneration_start_hpi")
            visible = dataclasses.replace(
                truth, events={e: t for e, t in truth.events.items() if t <= cutoff},
                ploidy="euploid", quality=0.0,
                extras={"degeneration_start_hpi": start} if start is not None and start <= cutoff else {},
            )
            for hpi in np.arange(0.25, cutoff + 1e-9, 0.25):
                assert scene_state(truth, hpi) == scene_state(visible, hpi), (truth.embryo_id, cutoff, hpi)
            checked += 1
    assert checked > 300


def hidden_variant(truth: EmbryoTruth, cutoff: float, delay: float) -> EmbryoTruth:
    """A copy of ``truth`` that agrees on what is visible at ``cutoff`` and differs in everything hidden.

    Ploidy and quality change; fragmentation changes if t2 is after the cutoff, the grades if tB is;
    events after the cutoff move ``delay`` hours later (or vanish when ``delay`` is None: an arrest),
    and a degeneration that starts after the cutoff is dropped.
    """
    t2, tb = truth.events.get("t2", math.inf), truth.events.get("tB", math.inf)
    past = {e: t for e, t in truth.events.items() if t <= cutoff}
    future = {} if delay is None else {e: t + delay for e, t in truth.events.items() if t > cutoff}
    flip = {"A": "C", "B": "A", "C": "A", None: "B"}
    extras = dict(truth.extras)
    if t2 > cutoff:
        extras["fragmentation_level"] = 3.0 - extras.get("fragmentation_level", 0.0)
    if extras.get("degeneration_start_hpi", -1.0) > cutoff:
        del extras["degeneration_start_hpi"]
    return dataclasses.replace(
        truth, events={**past, **future}, extras=extras,
        ploidy="aneuploid" if truth.ploidy == "euploid" else "euploid", quality=-truth.quality - 1.0,
        fragmentation=truth.fragmentation if t2 <= cutoff else 0.45 - truth.fragmentation,
        icm_grade=truth.icm_grade if tb <= cutoff else flip[truth.icm_grade],
        te_grade=truth.te_grade if tb <= cutoff else flip[truth.te_grade],
    )


def test_no_hidden_or_future_variable_changes_a_pixel_before_the_cutoff():
    """Sampled embryos, cutoffs just after tPNf, just before tB and at day 3: rendered pixels up to the
    cutoff equal those of copies that differ in every hidden or future variable (``hidden_variant``).

    Reintroducing fragments drawn from tPNf instead of t2, or grades shown before tB, makes it fail.
    """
    cohort = sample_cohort(SimConfig(num_patients=12, num_clinics=2), seed=11)
    imaging = ImagingConfig(image_size=32, frame_interval_h=0.5, end_hpi=120.0, noise_sd=2.0)
    checked = {"tPNf": 0, "tSB": 0, "day3": 0}
    for truth in cohort.embryos:
        ev = truth.events
        cutoffs = {"day3": DAY3_CUTOFF_HPI}
        if "t2" in ev and ev["t2"] - ev["tPNf"] > 0.6:
            cutoffs["tPNf"] = ev["tPNf"] + 0.5  # fragments and cells not yet visible
        if "tB" in ev and ev["tB"] - ev["tSB"] > 0.6:
            cutoffs["tSB"] = ev["tB"] - 0.1  # a cavitating morula: grades not yet visible
        for name, cutoff in cutoffs.items():
            times = frame_times(truth, imaging)
            seen = times <= cutoff
            if seen.sum() < 2:
                continue
            base = EmbryoRenderer(truth, imaging).render(times[seen])
            for delay in (None, 7.0):
                other = EmbryoRenderer(hidden_variant(truth, cutoff, delay), imaging).render(times[seen])
                assert np.array_equal(base, other), (truth.embryo_id, name, cutoff, delay)
            checked[name] += 1
    assert min(checked.values()) >= 5, checked


def test_hidden_variant_differs_after_the_cutoff():
    """The leak test above can fail: the variant's pixels do differ once what changed becomes visible."""
    truth = make_truth(fragmentation=0.1, icm_grade="A", te_grade="A")
    imaging = ImagingConfig(image_size=32, frame_interval_h=0.5, end_hpi=120.0)
    for cutoff in (EVENTS["tPNf"] + 0.5, EVENTS["tB"] - 0.5):
        variant = hidden_variant(truth, cutoff, 0.0)  # same events: only fragmentation / grades show
        later = np.array([EVENTS["t2"] + 1.0 if cutoff < EVENTS["t2"] else EVENTS["tB"] + 1.0])
        a, b = EmbryoRenderer(truth, imaging).render(later), EmbryoRenderer(variant, imaging).render(later)
        assert not np.array_equal(a, b), cutoff


def test_frames_do_not_depend_on_the_recording_length():
    imaging = ImagingConfig(image_size=48, frame_interval_h=0.5, end_hpi=80.0)
    full = EmbryoRenderer(make_truth(), imaging).render()
    day3 = EmbryoRenderer(make_truth(recording_end_hpi=67.0), imaging).render()  # a day-3 transfer
    assert len(day3) == 134 and np.array_equal(day3, full[: len(day3)])


def test_arrest_shows_only_from_the_models_degeneration_time():
    arrested = arrested_before(EVENTS, "t5")
    start = EVENTS["t4"] + P.ARREST_VISIBLE_DELAY_H  # 49.5 h, as cohort.py sets it
    truth = make_truth(events=arrested, extras={"degeneration_start_hpi": start})
    assert scene_state(truth, 45.0).cells == 4 and scene_state(truth, 100.0).cells == 4
    assert scene_state(truth, start - 1e-6).degeneration == 0.0
    assert scene_state(truth, start).degeneration > 0  # bayes: degenerate when t_arrest_visible <= C
    assert scene_state(truth, 90.0).degeneration > scene_state(truth, 60.0).degeneration > 0
    # the rendered video equals that of a slow embryo up to the degeneration, then differs
    imaging = ImagingConfig(image_size=48, frame_interval_h=0.5, end_hpi=56.0)
    slow = make_truth(events=shifted(EVENTS, "t5", 20.0))
    a, b = EmbryoRenderer(truth, imaging).render(), EmbryoRenderer(slow, imaging).render()
    times = frame_times(truth, imaging)
    before = times < start
    assert np.array_equal(a[before], b[before])
    assert all(not np.array_equal(a[i], b[i]) for i in np.flatnonzero(~before))
    # an embryo arrested before tPB2 (no events at all) degenerates from 12 h too
    zygote = make_truth(events={}, extras={"degeneration_start_hpi": P.ARREST_VISIBLE_DELAY_H})
    assert scene_state(zygote, 11.9).degeneration == 0.0 < scene_state(zygote, 12.0).degeneration
    # a blastocyst that stops expanding never degenerates (the model gives it no degeneration time)
    blast = make_truth(events=arrested_before(EVENTS, "tEB"))
    assert scene_state(blast, 150.0).degeneration == 0.0
    assert scene_state(blast, 150.0) == scene_state(make_truth(events=shifted(EVENTS, "tEB", 60.0)), 150.0)


def test_focal_planes_blur_away_from_centre():
    imaging = dataclasses.replace(SMALL, image_size=96, focal_planes=3, noise_sd=0.0, end_hpi=20.0)
    video = render_embryo(make_truth(), imaging).astype(np.float32)
    assert video.shape[1] == 3
    sharpness = [np.abs(np.diff(video[-1, p], axis=1)).mean() for p in range(3)]
    assert sharpness[0] > sharpness[1] and sharpness[0] > sharpness[2]


def test_render_at_given_times_matches_stage_images():
    renderer = EmbryoRenderer(make_truth(), SMALL)
    frames = renderer.render(np.array([2.0, 115.0]))
    assert frames.shape == (2, 1, 64, 64)
    assert np.abs(frames[0].astype(int) - frames[1]).mean() > 3


def test_drift_and_offcentre_scale_with_the_frame_size():
    """Drift and position are fractions of the frame, so small frames keep the embryo inside the central crop."""
    paths = {}
    for size in (64, 256):
        renderer = EmbryoRenderer(make_truth(seed=8), ImagingConfig(image_size=size, frame_interval_h=0.5))
        m = renderer.margin
        start = np.array(renderer.centre) - m - size / 2  # embryo centre - frame centre, pixels
        # the embryo moves opposite to the canvas window: position at frame t = start - drift[t] (x, y)
        positions = start[None, :] - renderer.drift[:, ::-1]
        paths[size] = positions / size
        # the zona (0.205-0.215 of the frame) stays inside the central 60% crop over the whole recording
        assert np.hypot(positions[:, 0], positions[:, 1]).max() / size <= MAX_OFFCENTRE + 1.0 / size
        assert np.hypot(*start) / size > 0.01  # off-centre
    assert np.abs(paths[64][-1] - paths[256][-1]).max() < 0.03  # same path in frame units


def test_blastocyst_grades_are_visible_at_the_models_resolution():
    """64 px of the central 60% (a 107-px frame): a grade-A ICM is a darker mass than a grade-C one, and
    TE grades A and C differ over the ring; grades otherwise equal, same embryo, same seed."""
    size = 107
    for seed in range(5):
        frames = {}
        for icm, te in (("A", "B"), ("C", "B"), ("B", "A"), ("B", "C")):
            renderer = EmbryoRenderer(make_truth(seed=seed, icm_grade=icm, te_grade=te), ImagingConfig(image_size=size))
            frames[icm + te] = renderer.render(np.array([108.0]))[0, 0].astype(np.float32)
        k = int(np.abs(renderer.times - 108.0).argmin())
        px = size * EMBRYO_SCALE * renderer.style.scale
        cx = renderer.centre[0] - renderer.margin - renderer.drift[k, 1]
        cy = renderer.centre[1] - renderer.margin - renderer.drift[k, 0]
        angle = renderer.layout.icm_angle
        yy, xx = np.mgrid[0:size, 0:size]
        icm = np.hypot(xx - cx - 0.12 * px * math.cos(angle), yy - cy - 0.12 * px * math.sin(angle)) < 0.045 * px
        assert frames["AB"][icm].mean() < frames["CB"][icm].mean() - 3.0, seed
        te_changed = np.abs(frames["BA"] - frames["BC"]) > 8.0
        assert te_changed.sum() > 40, (seed, te_changed.sum())


def test_the_default_embryo_scale_is_the_documented_constant():
    from aivf.sim.config import ImagingConfig

    assert ImagingConfig().embryo_scale == EMBRYO_SCALE


def test_a_wider_fainter_zona_changes_the_zona_band_and_nothing_inside_it():
    """sim.imaging.zona_width widens the zona outwards and zona_relief flattens it; the cytoplasm stays as it was."""
    from aivf.sim.render_scene import ZONA_OUTER

    size = 128
    truth = make_truth(seed=3)
    plain = EmbryoRenderer(truth, ImagingConfig(image_size=size))
    band = EmbryoRenderer(truth, ImagingConfig(image_size=size, zona_width=1.6, zona_relief=0.35))
    a = plain.render(np.array([10.0]))[0, 0].astype(np.float32)
    b = band.render(np.array([10.0]))[0, 0].astype(np.float32)
    px = size * EMBRYO_SCALE * plain.style.scale
    k = int(np.abs(plain.times - 10.0).argmin())
    cx = plain.centre[0] - plain.margin - plain.drift[k, 1]
    cy = plain.centre[1] - plain.margin - plain.drift[k, 0]
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - cx, yy - cy) / px
    assert np.array_equal(a[r < 0.12], b[r < 0.12])  # the cytoplasm's middle (blur reaches a few pixels only)
    ring = (r > ZONA_OUTER - 0.03) & (r < ZONA_OUTER + 0.015)
    assert np.abs(a[ring] - b[ring]).mean() > 2.0  # the zona itself looks different
    assert np.abs(np.diff(b[ring])).mean() < np.abs(np.diff(a[ring])).mean()  # and its relief is fainter
