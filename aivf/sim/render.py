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


def compose(state: SceneState, layout: EmbryoLayout, canvas: Canvas, zona_factor: float = 1.0,
            zona_width: float = 1.0, zona_relief: float = 1.0) -> None:
    """Draw one state's height, tissue, roughness and absorption maps onto an empty ``canvas``.

    ``zona_factor``: the recording's zona thickness factor; ``zona_width`` widens the zona outwards (its inner
    edge stays) and ``zona_relief`` scales its height (``sim.imaging``).
    """
    blast_r = 0.2 * (1 + 0.25 * state.expansion)  # blastocyst radius grows as it expands
    width = ZONA_WIDTH * zona_factor
    zona_in = max(ZONA_OUTER - width, blast_r + 0.004)
    # The zona keeps its volume while it stretches, so it thins as the blastocyst expands.
    zona_w = max(zona_width * width * ((ZONA_OUTER - width) / zona_in) ** 2, 0.008)
    gap = (layout.hatch_angle, 0.2 + 0.35 * state.hatching) if state.hatching > 0 else None
    canvas.ring(zona_in, zona_in + zona_w, 0.45 * zona_relief, gap=gap)
    if state.cavity < 1.0:
        for k, angle in enumerate(layout.pb_angles[: state.polar_bodies]):
            r = CYTO_RADIUS + 0.008
            canvas.dome(r * math.cos(angle), r * math.sin(angle), 0.011 - 0.002 * k, 0.5, tissue=0.6)
    if state.show_fragments and state.cavity < 1.0:
        for x, y, size in layout.fragments:
            canvas.dome(x, y, size, 0.35, tissue=0.7, dark=0.12)
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
        canvas.rough = np.maximum(canvas.rough, d * canvas.tissue)


def _cleavage(state: SceneState, layout: EmbryoLayout, canvas: Canvas) -> None:
    if state.cells == 1:
        canvas.dome(0.0, 0.0, CYTO_RADIUS, 1.0, dark=0.06)
        for x, y, r in layout.pn[: 2 if state.pn_level > 0 else 0]:
            canvas.pit(x, y, r, 0.25 * state.pn_level, smooth=0.8 * state.pn_level)
            canvas.dome(x + 0.3 * r, y - 0.2 * r, 0.22 * r, 0.0, tissue=0.0, dark=0.25 * state.pn_level)
        return
    cells = layout.layouts[state.cells]
    for i, (x, y, r) in enumerate(cells):
        canvas.dome(x, y, r, 0.9 * layout.cell_heights[i], dark=0.1, add=True)
    if state.cells <= 8:  # interphase nuclei are faintly visible in large blastomeres
        for x, y, r in cells:
            canvas.pit(x, y, 0.22 * r, 0.06, smooth=0.4)


def _morula(state: SceneState, layout: EmbryoLayout, canvas: Canvas) -> None:
    """A compacting morula: the cells merge into a dark, bumpy, textured mass (as in real EmbryoScope frames)."""
    c = state.compaction
    mass_r = CYTO_RADIUS * layout.cell_scale * (1 - 0.12 * c)
    canvas.dome(0.0, 0.0, mass_r, 0.9 * c, dark=0.12 + 0.18 * c, rough=0.5 + 0.5 * c)
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
        canvas.tissue *= 1 - 0.9 * fluid
        canvas.dark *= 1 - 0.9 * fluid
        canvas.rough *= 1 - 0.9 * fluid


def _blastocyst(state: SceneState, layout: EmbryoLayout, canvas: Canvas, blast_r: float, zona_out: float) -> None:
    """A smooth fluid cavity inside a ring of trophectoderm cells, with the inner cell mass on one side.

    The grades show at the model's resolution: TE grade A is a thin even ring of many cells, C a few
    large ragged cells with gaps; ICM grade A a large dark compact mass, C a small faint loose one.
    """
    te = layout.te_shape
    canvas.dome(0.0, 0.0, blast_r - 0.5 * te["thick"], 0.3, tissue=0.0)  # the cavity: smooth fluid
    for ux, uy, size in layout.mural:  # trophectoderm seen face-on above and below the cavity, faint
        canvas.dome(ux * blast_r, uy * blast_r, 0.2 * blast_r * size, 0.05, tissue=0.25, add=True)
    centres = [(0.0, 0.0, blast_r)]
    if state.hatching > 0:  # a herniating sphere of trophectoderm outside the zona
        hatched_r = blast_r * (0.35 + 0.55 * state.hatching)
        dist = zona_out + hatched_r * (0.55 - 0.25 * state.hatching)
        hx, hy = dist * math.cos(layout.hatch_angle), dist * math.sin(layout.hatch_angle)
        canvas.dome(hx, hy, hatched_r - 0.5 * te["thick"], 0.3, tissue=0.0)
        centres.append((hx, hy, hatched_r))
    for cx, cy, radius in centres:
        count = max(int(len(layout.te) * radius / blast_r), 6)
        for angle, jitter, size in layout.te[:: max(len(layout.te) // count, 1)]:
            thick = te["thick"] * size
            r = radius - 0.5 * thick + jitter * te["thick"]
            length = 2 * math.pi * radius / count * 0.62 * size  # neighbours touch: a bumpy ring
            canvas.dome(cx + r * math.cos(angle), cy + r * math.sin(angle), 0.5 * thick, 0.6, tissue=0.8,
                        dark=0.1, aspect=length / (0.5 * thick), angle=angle + math.pi / 2, add=True)
    icm = layout.icm_shape
    icm_r = blast_r - te["thick"] - 0.6 * icm["radius"]
    ix, iy = icm_r * math.cos(layout.icm_angle), icm_r * math.sin(layout.icm_angle)
    canvas.dome(ix, iy, icm["radius"], 1.0, tissue=1.0, dark=icm["dark"], rough=1.0, aspect=1.25,
                angle=layout.icm_angle + math.pi / 2)
    for x, y, r in layout.icm:
        canvas.dome(ix + x, iy + y, r, 0.3, tissue=1.0, dark=icm["dark"], add=True)


@dataclasses.dataclass(frozen=True)
class RecordingStyle:
    """What varies between recordings of one clinic (dish, well, lamp, focus): drawn from the render seed,
    so it depends on nothing hidden, and it blurs the line between clinics' imaging styles."""

    gain: float  # lamp intensity factor
    offset: float  # grey-level offset
    blur: float  # focus factor on the clinic's blur
    noise: float  # factor on the clinic's noise
    zona: float  # factor on the zona thickness
    scale: float  # embryo size factor (embryos differ in size)
    vignette: float  # depth of the corner darkening
    well_offset: tuple[float, float]  # micro-well centre relative to the embryo, frame sides

    @staticmethod
    def draw(rng: np.random.Generator, spread: float) -> RecordingStyle:
        def around(width: float) -> float:
            return 1.0 + spread * float(rng.uniform(-width, width))

        return RecordingStyle(gain=around(0.2), offset=spread * float(rng.normal(0, 2.0)), blur=around(0.35),
                              noise=around(0.4), zona=around(0.25), scale=around(0.05), vignette=around(0.2),
                              well_offset=tuple(spread * rng.normal(0, 0.02, 2)))


EMBRYO_SCALE = 0.875  # the default imaging.embryo_scale: embryo geometry (render_scene, measured at 500 px) x
#   this = the radius aivf.sim.realism's locator measures on the real Gomez sample frames (0.205 of the frame)
# The embryo stays within this distance (frame sides) of the frame centre. The public EmbryoScope sample
# has it 13-16% off-centre (docs/simulator.md, realism), beyond what a central 60% crop keeps of an
# expanded blastocyst: the main job crops around the located embryo instead (data.keyframes.crop_centre).
MAX_OFFCENTRE = 0.20
WALK_PX_256 = 0.15  # random-walk step of the drift per sqrt(hour), pixels at 256 px


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
        self.style = RecordingStyle.draw(render_stream(seed, "style"), imaging.recording_variation)
        self.times = frame_times(truth, imaging)
        full = frame_times(dataclasses.replace(truth, recording_end_hpi=imaging.end_hpi), imaging)  # a superset
        rng = render_stream(seed, "optics")
        self.light = rng.uniform(0.6, 0.9)  # Hoffman shading direction, radians
        drift = self._drift_path(full, render_stream(seed, "drift"))
        self.drift = drift[: len(self.times)]
        # Where the embryo sits: off-centre, but so that its whole drift path stays within MAX_OFFCENTRE
        # of the frame centre (an expanded zona, radius ~0.25, then stays inside the frame).
        moved = -drift[:, ::-1].astype(float)  # the embryo's (x, y) displacement in the frame, pixels
        middle = 0.5 * (moved.min(axis=0) + moved.max(axis=0))
        room = max(MAX_OFFCENTRE * self.size - np.hypot(*(moved - middle).T).max(), 0.0)
        angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.6, 1.0) * room
        offset = (dist * math.cos(angle) - middle[0], dist * math.sin(angle) - middle[1])  # at drift 0, pixels
        self.margin = int(np.abs(drift).max()) + 2
        self.canvas_size = self.size + 2 * self.margin
        self.layout = EmbryoLayout(seed, truth.fragmentation, truth.icm_grade, truth.te_grade)
        # The frame shows canvas[m + drift : ...]: put the embryo at frame centre + offset at drift 0.
        self.centre = (self.canvas_size / 2 + offset[0], self.canvas_size / 2 + offset[1])
        self.background = self._background(render_stream(seed, "background"))
        self.texture = self._texture(0.6, render_stream(seed, "texture"))
        self.coarse = self._texture(2.0, render_stream(seed, "coarse"))
        self.grain = self._texture(0.8, render_stream(seed, "grain"))
        self.vignette = self._vignette()
        rng = render_stream(seed, "noise")
        self.noise = self._noise_bank(rng, imaging.noise_sd * self.style.noise)
        # per recorded frame: where in the noise bank its noise comes from, and the lamp flicker
        self.offsets = render_stream(seed, "offsets").integers(0, self.size, size=(len(full), 2))[: len(self.times)]
        flicker = render_stream(seed, "flicker").normal(0, 0.25 * imaging.noise_sd, size=len(full))
        self.flicker = flicker[: len(self.times)].astype(np.float32)
        self._cache: dict[tuple, np.ndarray] = {}

    def _drift_path(self, times: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Integer (dy, dx) offsets per frame: slow linear creep plus a small random walk, both scaled
        to the frame size (a fraction of the frame per day). (T, 2)."""
        speed = self.imaging.drift_per_day * self.size / 24.0 * rng.uniform(0.5, 1.5)  # pixels per hour
        angle = rng.uniform(0, 2 * math.pi)
        step = WALK_PX_256 * self.size / 256.0 * math.sqrt(max(self.imaging.frame_interval_h, 1e-3))
        walk = np.cumsum(rng.normal(0, step, (len(times), 2)), axis=0) * (speed > 0)
        path = speed * times[:, None] * np.array([math.sin(angle), math.cos(angle)]) + walk
        return np.round(path - path[0]).astype(int)

    def _texture(self, sigma: float, rng: np.random.Generator) -> np.ndarray:
        field = gaussian_filter(rng.standard_normal((self.canvas_size,) * 2).astype(np.float32),
                                sigma * self.size / 256.0)
        return field / (field.std() + 1e-6)

    def _noise_bank(self, rng: np.random.Generator, sd: float) -> np.ndarray:
        """JPEG-like texture, not white noise: fine grain correlated over ~1 px plus faint 4-px blocks
        (8-px JPEG blocks of the 500-px originals); ``sd`` is its standard deviation."""
        n = 2 * self.size
        fine = gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 0.7)
        block = max(int(round(4 * self.size / 256)), 1)
        coarse = np.kron(rng.standard_normal((n // block + 1,) * 2).astype(np.float32),
                         np.ones((block, block), np.float32))[:n, :n]
        bank = fine / (fine.std() + 1e-6) + 0.4 * coarse
        return (bank * (sd / (bank.std() + 1e-6))).astype(np.float32)

    def _vignette(self) -> np.ndarray:
        """Camera vignetting (fixed to the frame, not the dish): corners fall to ~15-30% of the centre."""
        s = self.size
        yy, xx = (np.mgrid[0:s, 0:s].astype(np.float32) + 0.5) / s - 0.5
        r = np.hypot(xx, yy)
        fall = np.clip((r - 0.3) / 0.42, 0, 1) ** 1.5
        return (1.0 - min(0.3 * self.style.vignette, 0.9) * fall).astype(np.float32)

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        """The static micro-well: dark surround with faint ring artefacts, a rim lit on one side, a grey
        floor with a lighter disc under the embryo, the field darkening towards the frame's bottom."""
        n, s = self.canvas_size, self.size
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
        wx = self.centre[0] + (self.style.well_offset[0] + rng.normal(0, 0.01)) * s
        wy = self.centre[1] + (self.style.well_offset[1] + rng.normal(0, 0.01)) * s
        r = np.hypot(xx - wx, yy - wy) / s
        theta = np.arctan2(yy - wy, xx - wx)
        rim_r = rng.uniform(0.40, 0.44)
        lit = rng.uniform(-0.4, 0.4) - 0.5 * math.pi  # the rim is brightest near the top
        inner = 84.0 - 12.0 / (1 + np.exp((r - 0.28) / 0.01))  # the floor, darker under the embryo
        rim = 150.0 * np.exp(-0.5 * ((r - rim_r) / 0.012) ** 2) * np.clip(0.25 + 0.75 * np.cos(theta - lit), 0, 1)
        outside = 1 / (1 + np.exp((r - rim_r - 0.012) / 0.008))
        rings = 52.0 + 10.0 * np.sin(2 * math.pi * r / 0.011)
        bg = inner * outside + rings * (1 - outside) * np.clip(0.3 + 0.7 * np.cos(theta - lit), 0.02, 1) + rim
        # The lamp lights the top of the field more than the bottom (uneven illumination).
        fall = np.clip(((yy - n / 2) / s + 0.02) / 0.42, 0, 1) ** 1.3
        return (bg * (1 - fall)).astype(np.float32)

    def _state_planes(self, state: SceneState) -> np.ndarray:
        """Exposed float32 planes (P, C, C) for one visible state; cached."""
        key = state.key()
        if key in self._cache:
            return self._cache[key]
        st = self.style
        canvas = Canvas(self.canvas_size, float(self.size) * self.imaging.embryo_scale * st.scale, self.centre)
        compose(state, self.layout, canvas, zona_factor=st.zona, zona_width=self.imaging.zona_width,
                zona_relief=self.imaging.zona_relief)
        scale = self.size / 256.0  # keep the look independent of the frame size
        d = state.degeneration
        # granular, high-relief cytoplasm: the grain is part of the relief, so Hoffman optics light it
        bumps = canvas.tissue * (0.055 * self.grain) + canvas.rough * ((0.08 + 0.04 * d) * self.coarse)
        height = gaussian_filter(canvas.height + bumps, 0.6 * scale) * (38.0 * 256.0 / self.size)
        dy, dx = math.sin(self.light), math.cos(self.light)
        grad_y, grad_x = np.gradient(height)
        relief = (grad_x * dx + grad_y * dy) * scale * 15.0
        texture = (1 - d) * self.texture + d * 1.6 * self.coarse
        image = (self.background + relief + 6.0 * canvas.tissue * texture - 60.0 * canvas.dark
                 + 2.0 * canvas.tissue)
        gain, offset = self.imaging.contrast * st.gain, self.imaging.brightness + st.offset
        planes = []
        for p in range(self.imaging.focal_planes):
            level = abs(PLANE_OFFSETS_UM[p]) / 15.0
            sigma = math.hypot(self.imaging.blur_sigma * st.blur * scale, 1.3 * level * scale)
            plane = gaussian_filter(image, sigma) if sigma > 0.05 else image
            planes.append(gain * plane + offset)
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
            image = planes[:, y0:y0 + s, x0:x0 + s] * self.vignette + noise
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
