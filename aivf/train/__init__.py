"""Training: one Accelerate/DeepSpeed loop, safetensors checkpoints with exact resume, tracking, sweeps.

Import the pieces from their modules (``aivf.train.loop.train``); this package imports nothing heavy.
"""
