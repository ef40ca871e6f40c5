"""The records passed between the simulator's generative model and its renderer."""

from __future__ import annotations

from dataclasses import dataclass, field

# Annotation vocabulary (ESHRE/ALPHA, Ciray et al. 2014) = the 16 phase classes of the Gomez dataset,
# in developmental order. Event tX is the first frame of phase tX.
EVENTS: tuple[str, ...] = (
    "tPB2", "tPNa", "tPNf", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9+", "tM", "tSB", "tB", "tEB", "tHB",
)
PLOIDY_CLASSES: tuple[str, ...] = ("euploid", "aneuploid", "mosaic")
PGT_RESULTS: tuple[str, ...] = ("euploid", "aneuploid", "mosaic", "no_result")
TASKS: tuple[str, ...] = ("d3_fhb", "d5_fhb", "euploid")  # the three prediction targets
DAY3_CUTOFF_HPI = 66.0  # a day-3 decision sees frames up to here
DAY5_CUTOFF_HPI = 116.0  # a day-5 decision sees frames up to here
# What a day-3 decision's keyframes cover: a day-3 transfer's recording ends at 67 h, its last keyframe the
# frame nearest the grid's 67.5-h point. Day-3 predictions read only these (aivf.eval.scoring.day3_view).
DAY3_VIEW_HPI = 68.0
DAY6_CUTOFF_HPI = 140.0  # the day-6 call of extended culture (recorded; the time-lapse recording ends before)


@dataclass
class EmbryoTruth:
    """Everything the simulator knows about one embryo; the renderer draws from it.

    ``events`` holds the hpi of every event the embryo reaches (in the order of ``EVENTS``; a phase
    may be skipped, as in direct cleavage 2 -> 4 cells, in which case that event equals the next);
    events after an arrest are absent.
    """

    embryo_id: str  # "<patient_id>-<k>", k from 1 (siblings share the part before the last dash)
    patient_id: str  # one patient = one cycle = one cohort
    clinic: str  # clinic id, e.g. "C1"
    maternal_age: float  # years at oocyte retrieval
    method: str  # "IVF" or "ICSI"
    ploidy: str  # one of PLOIDY_CLASSES
    quality: float  # developmental-quality latent (standard-normal scale)
    events: dict[str, float]  # event name -> hpi (only events reached)
    fragmentation: float  # fraction of the cytoplasm lost to fragments (0-0.5), visible from t2
    icm_grade: str | None = None  # inner cell mass grade A/B/C, if a full blastocyst forms
    te_grade: str | None = None  # trophectoderm grade A/B/C, if a full blastocyst forms
    recording_end_hpi: float = 120.0  # the recording stops here (earlier for day-3 transfers)
    render_seed: int = 0  # seed of everything purely visual (texture, noise, drift)
    extras: dict[str, float] = field(default_factory=dict)  # other visible traits the renderer may use

    @property
    def arrested(self) -> bool:
        """True when the embryo stops before hatching."""
        return "tHB" not in self.events

    def stage_at(self, hpi: float) -> int:
        """Index into EVENTS of the phase the embryo is in at ``hpi`` (-1 before tPB2)."""
        stage = -1
        for index, name in enumerate(EVENTS):
            time = self.events.get(name)
            if time is not None and time <= hpi:
                stage = index
        return stage
