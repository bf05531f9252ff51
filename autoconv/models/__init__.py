"""Models: :class:`Model` (functional, or subclassed with your own ``call``),
:class:`Sequential`, :func:`clone_model`, and Keras's ``keras.models.load_model``,
``save_model`` and ``model_from_json``, which are :mod:`autoconv.saving`'s.

``model.py`` holds what every model shares (compile, the training step, weights, devices);
``graph.py`` the graph of layer calls and its plan (which layers run fused);
``functional.py`` and ``sequential.py`` the two ways of building one; ``cloning.py`` a model's
architecture again with new weights; ``summary.py`` Keras 3's summary table. The file formats
are :mod:`autoconv.saving`'s, the epoch loop is :mod:`autoconv.training`.
"""

from typing import Any

from autoconv.models.cloning import clone_model
from autoconv.models.functional import Functional
from autoconv.models.model import Model
from autoconv.models.sequential import Sequential
from autoconv.training import TrainingDivergedError

__all__ = [
    "Functional",
    "Model",
    "ModelFileError",
    "Sequential",
    "TrainingDivergedError",
    "clone_model",
    "load_model",
    "model_from_json",
    "save_model",
]


def __getattr__(name: str) -> Any:
    # keras.models also exports load_model, save_model and model_from_json: autoconv.saving's
    # (a package above the models, imported when asked for)
    if name in ("load_model", "save_model", "model_from_json", "ModelFileError"):
        from autoconv import saving

        return getattr(saving, name)
    raise AttributeError(f"module 'autoconv.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names and those :func:`__getattr__` gives (for completion and ``dir``)."""
    return sorted({*globals(), *__all__})
