"""The embryo time-lapse simulator: cohorts with known truth, rendered as real-format recordings.

Import the parts you need (``aivf.sim.render``, ``aivf.sim.simulate``, ...); this package
imports nothing heavy on its own.
"""
