"""The ``model`` section of the experiment config; defined in :mod:`aivf.model_config`.

The dataclass lives outside this package so that :mod:`aivf.config` (and with it every CLI
``--help``) can import it without running ``aivf/model/__init__.py``, which imports transformers
and torch to register the Auto classes. Import it from here or from there: it is the same class.
"""

from __future__ import annotations

from aivf.model_config import ModelConfig

__all__ = ["ModelConfig"]
