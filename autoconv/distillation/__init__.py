"""Knowledge distillation, as Keras 3's ``keras.distillation`` (keras/src/distillation/):
:class:`Distiller`, a model that trains a student against a frozen teacher, and the
distillation losses it combines, :class:`LogitsDistillation`, :class:`FeatureDistillation`
and their base :class:`DistillationLoss`.

It sits beside :mod:`autoconv.models` and :mod:`autoconv.training`: it imports the models,
losses, layers and ops, and nothing below imports it.
"""

from autoconv.distillation.distillation_loss import (
    DistillationLoss,
    FeatureDistillation,
    LogitsDistillation,
)
from autoconv.distillation.distiller import Distiller

__all__ = ["DistillationLoss", "Distiller", "FeatureDistillation", "LogitsDistillation"]
