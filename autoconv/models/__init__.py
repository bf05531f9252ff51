"""Models: :class:`Model` (functional, or subclassed with your own ``call``),
:class:`Sequential`, and :func:`load_model`.

``model.py`` holds what every model shares (compile, the training step, weights, devices,
saving); ``graph.py`` the graph of layer calls and its plan (which layers run fused);
``functional.py`` and ``sequential.py`` the two ways of building one; ``summary.py`` Keras 3's
summary table; ``saving.py`` the file format. The epoch loop is :mod:`autoconv.training`.
"""

from autoconv.models.functional import Functional
from autoconv.models.model import Model
from autoconv.models.saving import ModelFileError, load_model
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
