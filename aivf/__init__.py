"""aivf: AI embryo selection from time-lapse videos (research software, not a medical device).

``import aivf`` is enough for transformers' ``AutoConfig`` / ``AutoModel`` to know aivf's checkpoints
(model types ``aivf_embryo`` and ``aivf_video_swin``), yet it imports neither torch nor transformers
(``aivf --help`` stays fast; tests/test_cli_help.py): the classes are registered when transformers is
first imported (an import hook, below), or at once if it already is. ``import aivf.model`` registers
them too. A checkpoint also carries its own code for ``trust_remote_code=True`` (aivf/model/remote_code.py).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"


def _register_auto_classes() -> None:
    """Register the model classes (imports aivf.model, hence torch); a failure warns, never breaks the caller.

    It runs inside someone's ``import transformers``: e.g. transformers without torch (a tokenizer-only
    environment) must still import; ``import aivf.model`` then raises the real error.
    """
    try:
        import aivf.model  # noqa: F401 - its import registers the Auto classes
    except Exception as err:
        import warnings

        warnings.warn(f"aivf: Auto classes not registered ({type(err).__name__}: {err}); import aivf.model "
                      "to see why", stacklevel=2)


class _RegisterOnTransformersImport(importlib.abc.MetaPathFinder):
    """Runs ``_register_auto_classes`` right after the ``transformers`` package has finished importing.

    transformers' top-level module is lazy (it imports no model code), so once it has run, importing
    aivf.model (which imports ``transformers.PreTrainedModel`` etc.) cannot meet a half-initialised module.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "transformers":
            return None
        sys.meta_path.remove(self)  # one shot; also lets the real finders answer the lookup below
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register_auto_classes()

        spec.loader.exec_module = exec_then_register
        return spec


if "transformers" in sys.modules:
    if "aivf.model" not in sys.modules:
        _register_auto_classes()
elif not any(isinstance(f, _RegisterOnTransformersImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterOnTransformersImport())
