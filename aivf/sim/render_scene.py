"""The embryo's optical scene: a height map (optical path) plus texture and absorption masks.

EmbryoScope images use Hoffman modulation contrast: brightness follows the *gradient* of the
optical path along one direction, so cell edges look like reliefs lit from one side. We therefore
draw every structure (zona, blastomeres, pronuclei, fragments, trophectoderm, inner cell mass) as
a smooth height map and let :mod:`aivf.sim.render` emboss, blur and expose it. All lengths are
fractions of the frame side ``S``; the layout (cell positions after each division, fragment and
trophectoderm positions) is drawn once per embryo from its ``render_seed``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

# Sizes as fractions of the frame side, measured on the real 500-px Gomez frames.
ZONA_OUTER = 0.24  # outer radius of the zona pellucida
ZONA_WIDTH = 0.032  # thickness of the zona
CYTO_RADIUS = 0.195  # radius of the zygote's cytoplasm (the perivitelline space lies outside it)
MAX_CELLS = 16  # cells drawn individually (9+ stage and the morula use up to this many)


@dataclass
class SceneState:
    """What the embryo looks like at one moment, quantised so that few distinct states exist."""

    polar_bodies: int = 1  # 1 before tPB2, 2 after
    pn_level: float = 0.0  # pronuclei visibility 0..1 (grow in after tPNa, gone at tPNf)
    cells: int = 1  # blastomeres drawn (1..MAX_CELLS)
    compaction: float = 0.0  # 0..1, morula compaction (cell borders fade, mass shrinks)
    cavity: float = 0.0  # 0..1, blastocoel fraction of the inner volume (grows after tSB, 1 from tB)
    expansion: float = 0.0  # 0..1, blastocyst expansion beyond the zygote size (grows after tB and tEB)
    hatching: float = 0.0  # 0..1, share of the blastocyst outside the zona
    degeneration: float = 0.0  # 0..1, visibly arrested embryo darkening and losing its borders
    show_fragments: bool = False  # fragments are visible from the first cleavage on

    def key(self) -> tuple:
        """Hashable identity used to cache composited frames."""
        return (self.polar_bodies, round(self.pn_level, 3), self.cells, round(self.compaction, 3),
                round(self.cavity, 3), round(self.expansion, 3), round(self.hatching, 3),
                round(self.degeneration, 3), self.show_fragments)


def render_stream(seed: int, part: str) -> np.random.Generator:
    """An independent random stream for one visual component of an embryo, derived from its ``render_seed``.

    Every component (cleavage layout, fragments, trophectoderm, textures, noise, drift, ...) draws from
    its own stream, so how many numbers one component draws (e.g. more fragments for a more fragmented
    embryo, more TE cells for grade A) never shifts what another draws: the frames before t2 do not
    depend on the fragmentation, those before tB not on the grades or on whether tB is ever reached.
    """
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, 7, zlib.crc32(part.encode())])


class EmbryoLayout:
    """Per-embryo random geometry, drawn once: cleavage pattern, fragments, TE/ICM cells, PN.

    Args:
        seed: the embryo's ``render_seed`` (all randomness comes from it, one stream per component).
        fragmentation: cytoplasm fraction lost to fragments (drawn only from t2 on).
        icm_grade, te_grade: A/B/C, or None (drawn only once tB is reached).
    """

    def __init__(self, seed: int, fragmentation: float, icm_grade: str | None, te_grade: str | None):
        self.seed = int(seed)
        self.fragmentation = float(np.clip(fragmentation, 0.0, 0.6))
        # Fragments take their cytoplasm from the blastomeres, which shrink accordingly.
        self.cell_scale = (1.0 - self.fragmentation) ** (1.0 / 3.0)
        self.layouts = self._cleavage_layouts(render_stream(seed, "cleavage"))
        self.fragments = self._fragments(render_stream(seed, "fragments"))
        self.te = self._trophectoderm(render_stream(seed, "trophectoderm"), te_grade)
        self.te_shape = {"thick": {"A": 0.022, "B": 0.025, "C": 0.028}.get(te_grade or "B", 0.025)}
        self.icm = self._icm(render_stream(seed, "icm"), icm_grade)
        # The ICM mass: grade A large, dark and compact; C small, faint and loose (visible at 64 px).
        radius, dark = {"A": (0.085, 0.6), "B": (0.062, 0.4), "C": (0.04, 0.2)}.get(icm_grade or "B", (0.062, 0.4))
        self.icm_shape = {"radius": radius, "dark": dark}
        self.pn = self._pronuclei(render_stream(seed, "pronuclei"))
        rng = render_stream(seed, "shape")
        self.icm_angle = rng.uniform(0, 2 * math.pi)
        self.pb_angles = rng.uniform(0, 2 * math.pi) + np.array([0.0, rng.uniform(0.3, 0.9)])
        self.hatch_angle = rng.uniform(0, 2 * math.pi)
        # Trophectoderm cells seen face-on over the cavity: a faint cobblestone.
        side = np.arange(-0.85, 0.9, 0.34)
        grid = np.array([(x + 0.17 * (k % 2), y) for k, y in enumerate(side) for x in side])
        grid = grid[np.hypot(grid[:, 0], grid[:, 1]) < 0.85]
        self.mural = np.column_stack([grid + rng.normal(0, 0.05, grid.shape), rng.uniform(0.8, 1.2, len(grid))])
        self.cell_heights = rng.uniform(0.85, 1.15, size=MAX_CELLS + 1)

    def _cleavage_layouts(self, rng: np.random.Generator) -> dict[int, np.ndarray]:
        """Cell (x, y, radius) for 1..MAX_CELLS cells; each count derives from the previous by one division.

        The largest (oldest) cell divides first, so uneven stages (3, 5-7 cells) show cells of two
        sizes as in real embryos. Positions are relaxed so cells pack inside the zona; in 2-D
        projection packed spheres overlap, hence the 0.8 overlap allowance.
        """
        pos = np.zeros((1, 2))
        vol = np.ones(1)
        layouts = {1: np.array([[0.0, 0.0, CYTO_RADIUS * self.cell_scale]])}
        limit = CYTO_RADIUS * 1.02
        for n in range(2, MAX_CELLS + 1):
            i = int(np.argmax(vol + rng.uniform(0, 1e-3, size=vol.size)))
            angle = rng.uniform(0, math.pi)
            r_child = CYTO_RADIUS * self.cell_scale * (vol[i] / 2) ** (1 / 3)
            offset = 0.9 * r_child * np.array([math.cos(angle), math.sin(angle)])
            pos = np.vstack([pos, pos[i] - offset])
            pos[i] = pos[i] + offset
            vol[i] /= 2
            vol = np.append(vol, vol[i])
            radii = CYTO_RADIUS * self.cell_scale * vol ** (1 / 3)
            eye = np.eye(n)
            target = 0.8 * (radii[:, None] + radii[None, :])
            for _ in range(30):  # push overlapping cells apart, pull escaping cells back in
                delta = pos[:, None, :] - pos[None, :, :]
                dist = np.sqrt(np.einsum("ijk,ijk->ij", delta, delta)) + eye
                push = np.maximum(target - dist, 0) * (1 - eye) / dist
                pos += 0.35 * np.einsum("ijk,ij->ik", delta, push)
                norm = np.sqrt(np.einsum("ij,ij->i", pos, pos))
                excess = np.maximum(norm + 0.85 * radii - limit, 0)
                pos -= pos / np.maximum(norm, 1e-9)[:, None] * excess[:, None]
            layouts[n] = np.column_stack([pos, radii])
        return layouts

    def _fragments(self, rng: np.random.Generator) -> np.ndarray:
        """(x, y, radius) of cytoplasmic fragments; their number grows with the fragmentation share."""
        count = int(round(self.fragmentation * 70 + rng.uniform(0, 1) * self.fragmentation * 10))
        angle = rng.uniform(0, 2 * math.pi, count)
        radius = CYTO_RADIUS * np.sqrt(rng.uniform(0.2, 1.0, count))
        size = rng.uniform(0.006, 0.018, count)
        return np.column_stack([radius * np.cos(angle), radius * np.sin(angle), size])

    def _trophectoderm(self, rng: np.random.Generator, grade: str | None) -> np.ndarray:
        """(angle, radial jitter, size) of trophectoderm cells: many even cells (A) to few ragged ones (C)."""
        count = {"A": 30, "B": 20, "C": 10}.get(grade or "B", 20)
        angles = np.sort((np.arange(count) + rng.uniform(-0.25, 0.25, count)) * 2 * math.pi / count)
        jitter = {"A": 0.05, "B": 0.15, "C": 0.35}.get(grade or "B", 0.15)
        sizes = rng.uniform(1 - jitter, 1 + jitter, count)
        return np.column_stack([angles, rng.normal(0, jitter * 0.3, count), sizes])

    def _icm(self, rng: np.random.Generator, grade: str | None) -> np.ndarray:
        """(x, y, radius) of ICM cells relative to the ICM centre: a tight large clump (A) to a few loose cells (C)."""
        count, spread = {"A": (14, 0.04), "B": (9, 0.035), "C": (5, 0.03)}.get(grade or "B", (9, 0.035))
        angle = rng.uniform(0, 2 * math.pi, count)
        radius = spread * np.sqrt(rng.uniform(0, 1, count))
        size = rng.uniform(0.012, 0.02, count)
        return np.column_stack([radius * np.cos(angle), radius * np.sin(angle), size])

    def _pronuclei(self, rng: np.random.Generator) -> np.ndarray:
        """(x, y, radius) of the two pronuclei, touching near the centre."""
        angle = rng.uniform(0, math.pi)
        centre = rng.normal(0, 0.01, 2)
        r = 0.035
        d = np.array([math.cos(angle), math.sin(angle)]) * r * 0.95
        return np.array([[*(centre + d), r], [*(centre - d), r * rng.uniform(0.85, 1.0)]])


class Canvas:
    """Float32 maps on a square canvas whose pixel (0, 0) is the top-left; lengths in frame sides."""

    def __init__(self, size: int, scale: float, centre: tuple[float, float]):
        self.size = size  # canvas side in pixels (frame side plus the drift margin)
        self.scale = scale  # pixels per frame side
        self.cx, self.cy = centre  # embryo centre in pixels
        self.height = np.zeros((size, size), np.float32)  # optical path (relief)
        self.tissue = np.zeros((size, size), np.float32)  # where granular cytoplasm is (0..1)
        self.dark = np.zeros((size, size), np.float32)  # absorption (darkening, 0..1)
        self.rough = np.zeros((size, size), np.float32)  # coarse bumpy relief (morula, ICM, debris; 0..1)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self.r = np.hypot(xx - self.cx, yy - self.cy) / scale  # distance from the embryo centre
        self.theta = np.arctan2(yy - self.cy, xx - self.cx)

    def dome(self, x: float, y: float, radius: float, height: float, tissue: float = 1.0,
             dark: float = 0.0, aspect: float = 1.0, angle: float = 0.0, add: bool = False,
             rough: float = 0.0) -> None:
        """Add a (possibly elliptic) dome.

        Where domes overlap the maximum is kept, or with ``add`` the optical paths sum (stacked
        cells: every outline stays visible, as in Hoffman images of cleaving embryos).
        """
        px, py = self.cx + x * self.scale, self.cy + y * self.scale
        rad = radius * self.scale
        ext = rad * max(aspect, 1.0) + 1
        x0, x1 = max(int(px - ext), 0), min(int(px + ext) + 2, self.size)
        y0, y1 = max(int(py - ext), 0), min(int(py + ext) + 2, self.size)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xx - px, yy - py
        if aspect != 1.0:  # rotate into the ellipse frame; the long axis has length aspect * radius
            c, s = math.cos(angle), math.sin(angle)
            dx, dy = (dx * c + dy * s) / aspect, -dx * s + dy * c
        q = 1.0 - (dx * dx + dy * dy) / (rad * rad)
        inside = q > 0
        shape = np.sqrt(np.clip(q, 0, None))
        window = (slice(y0, y1), slice(x0, x1))
        if add:
            self.height[window] += height * shape
        else:
            np.maximum(self.height[window], height * shape, out=self.height[window])
        if tissue:
            np.maximum(self.tissue[window], tissue * inside * np.clip(shape * 3, 0, 1), out=self.tissue[window])
        if dark:
            np.maximum(self.dark[window], dark * shape, out=self.dark[window])
        if rough:
            np.maximum(self.rough[window], rough * inside * np.clip(shape * 3, 0, 1), out=self.rough[window])

    def pit(self, x: float, y: float, radius: float, depth: float, smooth: float = 0.8) -> None:
        """Carve a shallow depression with a smoother inside (a nucleus / pronucleus)."""
        px, py = self.cx + x * self.scale, self.cy + y * self.scale
        rad = radius * self.scale
        x0, x1 = max(int(px - rad - 1), 0), min(int(px + rad) + 2, self.size)
        y0, y1 = max(int(py - rad - 1), 0), min(int(py + rad) + 2, self.size)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        q = 1.0 - ((xx - px) ** 2 + (yy - py) ** 2) / (rad * rad)
        shape = np.sqrt(np.clip(q, 0, None))
        window = (slice(y0, y1), slice(x0, x1))
        self.height[window] -= depth * shape
        self.tissue[window] *= 1.0 - smooth * (q > 0)

    def ring(self, inner: float, outer: float, height: float, gap: tuple[float, float] | None = None) -> None:
        """Add an annulus with a rounded profile (the zona); ``gap`` = (angle, half-width) cut open."""
        t = (self.r - inner) / max(outer - inner, 1e-6)
        profile = np.where((t > 0) & (t < 1), np.sqrt(np.clip(1 - (2 * t - 1) ** 2, 0, None)), 0.0)
        if gap is not None:
            diff = np.abs(np.angle(np.exp(1j * (self.theta - gap[0]))))
            profile = profile * np.clip((diff - gap[1]) / 0.15, 0, 1)
        self.height += (height * profile).astype(np.float32)
        self.tissue = np.maximum(self.tissue, 0.5 * (profile > 0.05))
