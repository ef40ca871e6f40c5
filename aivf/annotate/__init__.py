"""Phase annotation of whole recordings: ``aivf annotate`` (docs/annotate.md).

The stage after training: a checkpoint with a phase head reads every frame of a recording (each frame
seen as one keyframe of a clip laid out like the training keyframes, :mod:`aivf.annotate.windows`),
the per-frame phase probabilities are decoded into a monotone phase sequence
(:func:`aivf.annotate.decode.monotone_viterbi`), and the result is written in the Gomez format
(:mod:`aivf.annotate.write`). Importing this package imports neither torch nor transformers.
"""

from aivf.annotate.decode import event_frames, monotone_viterbi, phase_rows

__all__ = ["event_frames", "monotone_viterbi", "phase_rows"]
