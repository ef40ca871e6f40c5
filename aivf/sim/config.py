"""Settings of the embryo time-lapse simulator (see docs/simulator.md for the generative model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass
class ImagingConfig:
    """How the simulated incubator records each embryo (one clinic may override these)."""

    image_size: int = 256  # frame side in pixels (real EmbryoScope frames are 500)
    frame_interval_h: float = 0.25  # hours between frames (real: 0.15-0.25)
    end_hpi: float = 120.0  # recording stops at this many hours post insemination
    focal_planes: int = 1  # number of focal planes rendered (1, 3, 5 or 7); plane 0 is the sharpest
    noise_sd: float = 1.1  # sensor + JPEG texture, grey levels (0-255): spatially correlated, so its
    #   Immerkaer sigma is ~1/3 of this (real Gomez frames at 256 px: 0.5; see docs/simulator.md, realism)
    blur_sigma: float = 0.8  # optical blur of the central plane, pixels at 256 px (scaled with the size)
    drift_per_day: float = 0.015  # slow drift of the dish, fractions of the frame side per day (real: ~0.016)
    brightness: float = 0.0  # grey levels added to every pixel after exposure (clinic lamp / camera offset)
    contrast: float = 1.0  # gain applied to the exposed image before the offset (1 = reference clinic)
    # embryo geometry (aivf/sim/render_scene.py, measured on 500-px Gomez frames) x this; the default 0.875 matched
    # the locator's radius on real frames, which there finds the oolemma, not the zona (docs/simulator.md)
    embryo_scale: float = 0.875
    # The real zona is a wide, faint, granular band (outer edge ~1.25 x the oolemma's radius); the default draws a
    # thin bright ring. Width (outwards from its inner edge) and relief height as factors; 1 = the default look.
    zona_width: float = 1.0
    zona_relief: float = 1.0
    recording_variation: float = 1.0  # per-recording spread of lamp, focus, noise, zona and well position
    #   (0: every recording of a clinic images alike); it makes imaging style identify a clinic less


@dataclass
class SimConfig:
    """A simulated multi-clinic cohort: patients, embryos, clinic policies and recordings."""

    num_patients: int = 40  # patients (cycles); each has several embryos
    num_clinics: int = 3  # clinics, each with its own policy mix and imaging style
    format: Literal["mp4", "gomez", "none"] = "mp4"  # recording layout to write ("none": tables only)
    output: str = "sim"  # folder for the cohort, relative to the run folder unless absolute
    workers: int = 2  # processes rendering and encoding videos in parallel
    imaging: ImagingConfig = field(default_factory=ImagingConfig)  # incubator camera settings
    contact_sheet: bool = True  # write contact_sheet.png comparing a simulated and a real embryo
    real_sample_dir: str = "../shared/data/gomez_sample"  # real frames for the contact sheet, if present
    max_transfers: int = 3  # transfers per patient at most (one embryo per attempt, until the first FHB)
    clinic_imaging_variation: float = 1.0  # 0: every clinic images exactly as ``imaging``; 1: full spread
