"""Render an ``EmbryoTruth`` into grayscale time-lapse frames that look like EmbryoScope images.

Speed matters (a 200-embryo cohort must render and encode in under two minutes on two cores), so
the work is split by how often it changes:

* once per embryo: the well background, cytoplasm textures, the cell layouts after every division,
  the drift path and a bank of sensor noise;
* once per *visible state* (``SceneState``: events are few, and slow changes such as pronucleus
  fading or blastocyst expansion are quantised to a few steps): compose the height map, emboss it
  (Hoffman contrast), blur it per focal plane and expose it;
* once per frame: slice the cached state at the drift offset and add a slice of the noise bank.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.ndimage import gaussian_filter

from aivf.sim.config import ImagingConfig
from aivf.sim.render_scene import (
    CYTO_RADIUS,
    ZONA_OUTER,
    ZONA_WIDTH,
    Canvas,
    EmbryoLayout,
    SceneState,
    render_stream,
)
from aivf.sim.types import EVENTS, EmbryoTruth

STAGE = {name: index for index, name in enumerate(EVENTS)}
# Focal planes in the order they are stored: plane 0 is the central (sharpest) one.
PLANE_OFFSETS_UM: tuple[int, ...] = (0, -15, 15, -30, 30, -45, 45)
# Intra-phase progress runs over FIXED spans from the start of the phase and then holds, never scaled
# to the next event's time (which would show that event before it happens; see docs/simulator.md).
PN_GROW_H = 2.0  # pronuclei grow to full visibility this long after tPNa (they vanish at tPNf)
CELLS_9_SPAN_H = 9.0  # 9 -> 12 -> 16 cells within the t9+ phase (thirds of this span)
COMPACTION_SPAN_H = 4.0  # the morula compacts over this long after tM
CAVITY_SPAN_H = 6.0  # the blastocoel grows over this long after tSB, then holds until tB
EXPANSION_TB_SPAN_H = 8.0  # slight expansion over this long after tB
EXPANSION_TEB_SPAN_H = 12.0  # full expansion over this long after tEB
HATCHING_SPAN_H = 10.0  # the hatching blastocyst herniates over this long after tHB
DEGENERATION_SPAN_H = 36.0  # a visibly arrested embryo is fully degenerate this long after it starts


def frame_times(truth: EmbryoTruth, imaging: ImagingConfig) -> np.ndarray:
    """Hours post insemination of every frame: one interval after insemination to the recording's end.

    Returns:
        float64 (T,), strictly increasing.
    """
    end = min(imaging.end_hpi, truth.recording_end_hpi)
    step = imaging.frame_interval_h
    if step <= 0:
        raise ValueError(f"imaging.frame_interval_h must be > 0, got {step}")
    count = max(int(math.floor((end - step) / step + 1e-6)) + 1, 1)
    return np.round(step * (1 + np.arange(count)), 4)


def _progress(hpi: float, start: float, span_h: float, steps: int) -> float:
    """Quantised fraction (0..1, in ``steps`` levels) of a fixed ``span_h`` elapsed since ``start``; holds at 1."""
    return min(math.floor(steps * max(hpi - start, 0.0) / span_h) / steps, 1.0)


def scene_state(truth: EmbryoTruth, hpi: float) -> SceneState:
    """The quantised visible state of an embryo at ``hpi``.

    It depends only on what the exact Bayes truth (``aivf.sim.bayes``) conditions on at a cutoff
    C = ``hpi``: the event times <= hpi (progress within a phase is a function of the time since the
    phase began, over fixed spans, so the pending event's time never shows), the fragmentation and
    grades (drawn by the layout, visible from t2 and tB), and visible arrest: degeneration from
    ``truth.extras["degeneration_start_hpi"]`` (the model's ``t_arrest_visible``; absent for embryos
    whose arrest never shows). Hidden variables (ploidy, quality, future events, whether and where the
    embryo arrests) are not read: an arrested embryo looks like one whose next event is still pending.
    """
    ev = {name: t for name, t in truth.events.items() if t <= hpi}  # only the past is visible
    stage = truth.stage_at(hpi)
    state = SceneState(polar_bodies=2 if stage >= 0 else 1, show_fragments=stage >= STAGE["t2"])
    if stage == STAGE["tPNa"]:
        state.pn_level = max(_progress(hpi, ev["tPNa"], PN_GROW_H, 3), 1 / 3)
    if STAGE["t2"] <= stage <= STAGE["t8"]:
        state.cells = stage - STAGE["t2"] + 2
    elif stage == STAGE["t9+"]:
        state.cells = (9, 12, 16)[min(int(3 * _progress(hpi, ev["t9+"], CELLS_9_SPAN_H, 3)), 2)]
    elif stage >= STAGE["tM"]:
        state.cells = 16
        state.compaction = 1.0 if stage > STAGE["tM"] else max(_progress(hpi, ev["tM"], COMPACTION_SPAN_H, 3), 1 / 3)
    if stage == STAGE["tSB"]:
        frac = _progress(hpi, ev["tSB"], CAVITY_SPAN_H, 4)
        state.cavity = (1 + round(frac * 4)) / 6  # 1/6 .. 5/6: never a full blastocyst before tB
    elif stage >= STAGE["tB"]:
        state.cavity = 1.0
        if stage == STAGE["tB"]:
            state.expansion = 0.25 * _progress(hpi, ev["tB"], EXPANSION_TB_SPAN_H, 4)
        elif stage == STAGE["tEB"]:
            state.expansion = 0.35 + 0.65 * _progress(hpi, ev["tEB"], EXPANSION_TEB_SPAN_H, 4)
        else:
            state.expansion = 1.0
            state.hatching = max(_progress(hpi, ev["tHB"], HATCHING_SPAN_H, 5), 0.2)
    start = truth.extras.get("degeneration_start_hpi")
    if start is not None and hpi >= start:  # visible from the model's time on (bayes: t_vis <= C)
        state.degeneration = min((math.floor(4 * (hpi - start) / DEGENERATION_SPAN_H) + 1) / 4, 1.0)
    return state


def compose(state: SceneState, layout: EmbryoLayout, canvas: Canvas) -> None:
    """Draw one state's height, tissue and absorption maps onto an empty ``canvas``."""
    blast_r = 0.2 * (1 + 0.25 * state.expansion)  # blastocyst radius grows as it expands
    zona_in = max(ZONA_OUTER - ZONA_WIDTH, blast_r + 0.004)
    # The zona keeps its volume while it stretches, so it thins as the blastocyst expands.
    zona_w = max(ZONA_WIDTH * ((ZONA_OUTER - ZONA_WIDTH) / zona_in) ** 2, 0.008)
    gap = (layout.hatch_angle, 0.2 + 0.35 * state.hatching) if state.hatching > 0 else None
    canvas.ring(zona_in, zona_in + zona_w, 0.45, gap=gap)
    if state.cavity < 1.0:
        for k, angle in enumerate(layout.pb_angles[: state.polar_bodies]):
            r = CYTO_RADIUS + 0.008
            canvas.dome(r * math.cos(angle), r * math.sin(angle), 0.011 - 0.002 * k, 0.5, tissue=0.6)
    if state.show_fragments and state.cavity < 1.0:
        for x, y, size in layout.fragments:
            canvas.dome(x, y, size, 0.35, tissue=0.7, dark=0.1)
    if state.cavity == 0.0 and state.compaction == 0.0:
        _cleavage(state, layout, canvas)
    elif state.cavity < 1.0:
        _morula(state, layout, canvas)
    else:
        _blastocyst(state, layout, canvas, blast_r, zona_in + zona_w)
    if state.degeneration > 0:
        d = state.degeneration
        canvas.height *= 1.0 - 0.5 * d * canvas.tissue
        canvas.dark = np.maximum(canvas.dark, 0.5 * d * canvas.tissue)


def _cleavage(state: SceneState, layout: EmbryoLayout, canvas: Canvas) -> None:
    if state.cells == 1:
        canvas.dome(0.0, 0.0, CYTO_RADIUS, 1.0)
        for x, y, r in layout.pn[: 2 if state.pn_level > 0 else 0]:
            canvas.pit(x, y, r, 0.25 * state.pn_level, smooth=0.8 * state.pn_level)
            canvas.dome(x + 0.3 * r, y - 0.2 * r, 0.22 * r, 0.0, tissue=0.0, dark=0.25 * state.pn_level)
        return
    cells = layout.layouts[state.cells]
    for i, (x, y, r) in enumerate(cells):
        canvas.dome(x, y, r, 0.6 * layout.cell_heights[i], dark=0.08, add=True)
    if state.cells <= 8:  # interphase nuclei are faintly visible in large blastomeres
        for x, y, r in cells:
            canvas.pit(x, y, 0.22 * r, 0.06, smooth=0.4)


def _morula(state: SceneState, layout: EmbryoLayout, canvas: Canvas) -> None:
    c = state.compaction
    mass_r = CYTO_RADIUS * layout.cell_scale * (1 - 0.12 * c)
    canvas.dome(0.0, 0.0, mass_r, 0.9 * c, dark=0.05)
    for i, (x, y, r) in enumerate(layout.layouts[16]):
        shrink = 1 - 0.12 * c
        canvas.dome(x * shrink, y * shrink, r * (1 + 0.3 * c), 0.5 * layout.cell_heights[i] * (1 - 0.6 * c),
                    add=True)
    if state.cavity > 0:  # the blastocoel opens opposite the future inner cell mass
        cav_r = mass_r * (0.25 + 0.6 * state.cavity)
        angle = layout.icm_angle + math.pi
        off = (mass_r - cav_r) * 0.8
        dist = np.hypot(canvas.r * np.cos(canvas.theta) - off * math.cos(angle),
                        canvas.r * np.sin(canvas.theta) - off * math.sin(angle))
        fluid = np.clip((cav_r - dist) / (0.35 * cav_r), 0, 1)  # soft rim: cells thin out towards it
        canvas.height *= 1 - 0.6 * fluid
        canvas.tissue *= 1 - 0.8 * fluid


def _blastocyst(state: SceneState, layout: EmbryoLayout, canvas: Canvas, blast_r: float, zona_out: float) -> None:
    te_thick = 0.02
    canvas.dome(0.0, 0.0, blast_r - 0.5 * te_thick, 0.35, tissue=0.45)  # cavity, seen through TE above/below
    for ux, uy, size in layout.mural:  # unit-disk positions scaled to the blastocyst
        canvas.dome(ux * blast_r, uy * blast_r, 0.17 * blast_r * size, 0.12, add=True)
    centres = [(0.0, 0.0, blast_r)]
    if state.hatching > 0:  # a herniating sphere of trophectoderm outside the zona
        hatched_r = blast_r * (0.35 + 0.55 * state.hatching)
        dist = zona_out + hatched_r * (0.55 - 0.25 * state.hatching)
        hx, hy = dist * math.cos(layout.hatch_angle), dist * math.sin(layout.hatch_angle)
        canvas.dome(hx, hy, hatched_r - 0.5 * te_thick, 0.35, tissue=0.0)
        centres.append((hx, hy, hatched_r))
    for cx, cy, radius in centres:
        count = max(int(len(layout.te) * radius / blast_r), 6)
        for angle, jitter, size in layout.te[:: max(len(layout.te) // count, 1)]:
            r = radius - 0.5 * te_thick + jitter * te_thick
            length = math.pi * radius / count * size
            canvas.dome(cx + r * math.cos(angle), cy + r * math.sin(angle), te_thick * 0.6, 0.5,
                        tissue=0.7, aspect=length / (te_thick * 0.6), angle=angle + math.pi / 2, add=True)
    icm_r = blast_r - te_thick - 0.045
    ix, iy = icm_r * math.cos(layout.icm_angle), icm_r * math.sin(layout.icm_angle)
    for x, y, r in layout.icm:
        canvas.dome(ix + x, iy + y, r, 0.5, tissue=1.0, dark=0.15, add=True)


class EmbryoRenderer:
    """Renders one embryo's frames for one clinic's imaging; all randomness comes from ``render_seed``.

    Each random component has its own stream (``render_stream``), and the per-frame randomness (drift,
    noise offsets, lamp flicker) is drawn for the clinic's full recording (``imaging.end_hpi``) and
    cut to this embryo's, so a frame at a given time looks the same whatever the recording's length
    (a day-3 transfer ends it early) and whatever is hidden or still to come.
    """

    def __init__(self, truth: EmbryoTruth, imaging: ImagingConfig):
        if imaging.focal_planes < 1 or imaging.focal_planes > len(PLANE_OFFSETS_UM):
            raise ValueError(f"imaging.focal_planes must be 1..7, got {imaging.focal_planes}")
        self.truth, self.imaging = truth, imaging
        seed = truth.render_seed
        self.size = int(imaging.image_size)
        self.times = frame_times(truth, imaging)
        full = frame_times(dataclasses.replace(truth, recording_end_hpi=imaging.end_hpi), imaging)  # a superset
        drift = self._drift_path(full, render_stream(seed, "drift"))
        self.drift = drift[: len(self.times)]
        self.margin = int(np.abs(drift).max()) + 2
        self.canvas_size = self.size + 2 * self.margin
        self.layout = EmbryoLayout(seed, truth.fragmentation, truth.icm_grade, truth.te_grade)
        rng = render_stream(seed, "optics")
        jitter = rng.normal(0, 0.012 * self.size, 2)
        self.centre = (self.canvas_size / 2 + jitter[0], self.canvas_size / 2 + jitter[1])
        self.light = rng.uniform(0.6, 0.9)  # Hoffman shading direction, radians
        self.background = self._background(render_stream(seed, "background"))
        self.texture = self._texture(0.6, render_stream(seed, "texture"))
        self.coarse = self._texture(2.0, render_stream(seed, "coarse"))
        rng = render_stream(seed, "noise")
        self.noise = (rng.standard_normal((2 * self.size, 2 * self.size)) * imaging.noise_sd).astype(np.float32)
        # per recorded frame: where in the noise bank its noise comes from, and the lamp flicker
        self.offsets = render_stream(seed, "offsets").integers(0, self.size, size=(len(full), 2))[: len(self.times)]
        flicker = render_stream(seed, "flicker").normal(0, 0.25 * imaging.noise_sd, size=len(full))
        self.flicker = flicker[: len(self.times)].astype(np.float32)
        self._cache: dict[tuple, np.ndarray] = {}

    def _drift_path(self, times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Integer (dy, dx) offsets per frame: slow linear creep plus a small random walk. (T, 2)."""
        speed = self.imaging.drift_px_per_day / 24.0
        angle = rng.uniform(0, 2 * math.pi)
        steps = rng.normal(0, 0.15 * math.sqrt(max(self.imaging.frame_interval_h, 1e-3)), (len(times), 2))
        walk = np.cumsum(steps, axis=0) * (speed > 0)
        path = speed * times[:, None] * np.array([math.sin(angle), math.cos(angle)]) + walk
        return np.round(path - path[0]).astype(int)

    def _texture(self, sigma: float, rng: np.random.Generator) -> np.ndarray:
        field = gaussian_filter(rng.standard_normal((self.canvas_size,) * 2).astype(np.float32), sigma)
        return field / (field.std() + 1e-6)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """The static well: dark surround with ring artefacts, bright rim, grey slope, darker bottom."""
        n, s = self.canvas_size, self.size
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        wx, wy = self.centre[0] + rng.normal(0, 0.015 * s), self.centre[1] + rng.normal(0, 0.015 * s)
        r = np.hypot(xx - wx, yy - wy) / s
        theta = np.arctan2(yy - wy, xx - wx)
        rim_r = rng.uniform(0.44, 0.47)
        inner = 76.0 - 14.0 / (1 + np.exp((r - 0.275) / 0.008))  # darker flat bottom of the micro-well
        rim = 120.0 * np.exp(-0.5 * ((r - rim_r) / 0.016) ** 2) * (0.55 + 0.45 * np.cos(theta + 2.2))
        outside = 1 / (1 + np.exp((r - rim_r - 0.01) / 0.006))
        rings = 18.0 + 5.0 * np.sin(2 * math.pi * r / 0.011)
        bg = inner * outside + rings * (1 - outside) + rim
        # The field darkens towards the bottom of the frame (uneven illumination).
        fall = np.clip(((yy - self.centre[1]) / s - 0.1) / 0.4, 0, 1) ** 1.5
        return (bg * (1 - 0.6 * fall)).astype(np.float32)

    def _state_planes(self, state: SceneState) -> np.ndarray:
        """Exposed float32 planes (P, C, C) for one visible state; cached."""
        key = state.key()
        if key in self._cache:
            return self._cache[key]
        canvas = Canvas(self.canvas_size, float(self.size), self.centre)
        compose(state, self.layout, canvas)
        scale = self.size / 256.0  # keep the look independent of the frame size
        height = gaussian_filter(canvas.height, 0.6 * scale) * (38.0 * 256.0 / self.size)
        dy, dx = math.sin(self.light), math.cos(self.light)
        grad_y, grad_x = np.gradient(height)
        relief = (grad_x * dx + grad_y * dy) * scale * 12.0
        d = state.degeneration
        texture = (1 - d) * self.texture + d * 1.6 * self.coarse
        image = (self.background + relief + 8.0 * canvas.tissue * texture - 55.0 * canvas.dark
                 + 6.0 * canvas.tissue)
        planes = []
        for p in range(self.imaging.focal_planes):
            level = abs(PLANE_OFFSETS_UM[p]) / 15.0
            sigma = math.hypot(self.imaging.blur_sigma * scale, 1.3 * level * scale)
            plane = gaussian_filter(image, sigma) if sigma > 0.05 else image
            planes.append(self.imaging.contrast * plane + self.imaging.brightness)
        out = np.stack(planes).astype(np.float32)
        self._cache[key] = out
        return out

    def render(self, times: np.ndarray | None = None) -> np.ndarray:
        """Render frames at ``times`` (default: every frame of the recording).

        Returns:
            uint8 (T, P, H, W), P = ``imaging.focal_planes``, H = W = ``imaging.image_size``.
        """
        if times is None:
            times, frame = self.times, np.arange(len(self.times))
        else:  # arbitrary times (contact sheet): the drift and noise of the nearest recorded frame
            times = np.asarray(times, dtype=np.float64)
            frame = np.abs(times[:, None] - self.times[None, :]).argmin(axis=1)
        drift, offsets, flicker = self.drift[frame], self.offsets[frame], self.flicker[frame]
        s, m = self.size, self.margin
        out = np.empty((len(times), self.imaging.focal_planes, s, s), np.uint8)
        for t, hpi in enumerate(times):
            planes = self._state_planes(scene_state(self.truth, float(hpi)))
            y0, x0 = m + drift[t, 0], m + drift[t, 1]
            oy, ox = offsets[t]
            noise = self.noise[oy:oy + s, ox:ox + s] + flicker[t]
            image = planes[:, y0:y0 + s, x0:x0 + s] + noise
            np.clip(image, 0, 255, out=image)
            out[t] = image
        return out


def render_embryo(truth: EmbryoTruth, imaging: ImagingConfig, times: np.ndarray | None = None) -> np.ndarray:
    """Render an embryo's recording; deterministic given ``truth.render_seed`` and ``imaging``.

    Args:
        truth: the embryo (events, fragmentation, grades, render_seed).
        imaging: the clinic's camera settings (size, interval, noise, blur, drift, planes).
        times: hpi to render (default: ``frame_times(truth, imaging)``).

    Returns:
        uint8 (T, P, H, W).
    """
    return EmbryoRenderer(truth, imaging).render(times)
