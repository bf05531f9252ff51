"""Models: :class:`Model` (functional, or subclassed with your own ``call``),
:class:`Sequential`, and :func:`load_model` (Keras's ``keras.models.load_model``, which is
:func:`autoconv.saving.load_model`).

``model.py`` holds what every model shares (compile, the training step, weights, devices);
``graph.py`` the graph of layer calls and its plan (which layers run fused);
``functional.py`` and ``sequential.py`` the two ways of building one; ``summary.py`` Keras 3's
summary table. The file formats are :mod:`autoconv.saving`'s, the epoch loop is
:mod:`autoconv.training`.
"""

from typing import Any

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
    "load_model",
]


def __getattr__(name: str) -> Any:
    # keras.models also exports load_model and save_model: autoconv.saving's (a package above
    # the models, imported when asked for)
    if name in ("load_model", "save_model", "ModelFileError"):
        from autoconv import saving

        return getattr(saving, name)
    raise AttributeError(f"module 'autoconv.models' has no attribute {name!r}")
