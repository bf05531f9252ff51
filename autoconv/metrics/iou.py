"""The intersection-over-union metrics over a confusion matrix of classes: IoU, MeanIoU,
BinaryIoU, OneHotIoU and OneHotMeanIoU (Keras's keras/src/metrics/iou_metrics.py).

The state, a (num_classes, num_classes) matrix of (weighted) counts (rows the true classes,
columns the predicted ones), lives on the predictions' device: a batch adds the product of its
one-hot true and predicted classes there, and ``result()`` reads the matrix back."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv.backends import array_device
from autoconv.config import epsilon
from autoconv.metrics.base import Metric, state_tensor
from autoconv.metrics.functions import as_float, metric_inputs, on_device
from autoconv.tensor import Tensor


def _class_indices(xp: Any, values: Any, axis: int) -> Any:
    """The index of the largest entry along ``axis`` (moved last first: the GPU's argmax
    works along the last axis only), as float32."""
    axis = axis % values.ndim
    for k in range(axis, values.ndim - 1):
        values = xp.swapaxes(values, k, k + 1)
    if axis != values.ndim - 1:
        values = xp.copy(values)
    return xp.argmax(values, -1).astype(np.float32)


def _truncated(values: Any) -> Any:
    """Float values rounded towards 0, as Keras's cast to an integer dtype does (float32)."""
    return values.astype(np.int32).astype(np.float32)


class IoU(Metric):
    """The mean intersection over union, TP / (TP + FP + FN), of the classes
    ``target_class_ids``, over the classes among them that occur in the labels or predictions
    (float32, Keras's).

    The state is the confusion matrix ``total_confusion_matrix`` of integer class labels:
    y_true and y_pred of any shape with one label per entry (or, where ``sparse_y_true`` /
    ``sparse_y_pred`` is False, scores along ``axis`` whose largest is the label), flattened;
    labels are truncated to integers, and a pair with a label outside [0, num_classes), or a
    true label ``ignore_class``, is left out. It is of ``dtype`` (int32 by default, which
    truncates the sample weights too, as Keras's)."""

    _direction = "up"

    def __init__(
        self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
        sparse_y_true=True, sparse_y_pred=True, axis=-1,
    ):  # fmt: skip
        if max(target_class_ids) >= num_classes:
            raise ValueError(
                f"Target class id {max(target_class_ids)} is out of range, which is "
                f"[0, {num_classes})."
            )
        super().__init__(name=name, dtype=dtype or "int32")
        self.num_classes, self.target_class_ids = num_classes, list(target_class_ids)
        self.ignore_class, self.axis = ignore_class, axis
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self._add_state((num_classes, num_classes), "total_confusion_matrix")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        """Add a batch; ``sample_weight`` one weight per entry of the flattened labels (or a
        number, or broadcast to them). Returns the confusion matrix after it, a Tensor of its
        own (Keras's: its variable's ``assign``; float32 where the state is of integers)."""
        y_true, y_pred = metric_inputs(y_true, y_pred)
        xp = self._to(array_device(y_pred))
        y_true = y_true.astype(np.float32, copy=False)
        y_pred = y_pred.astype(np.float32, copy=False)
        if not self.sparse_y_true:
            y_true = _class_indices(xp, y_true, self.axis)
        if not self.sparse_y_pred:
            y_pred = _class_indices(xp, y_pred, self.axis)
        y_true, y_pred = _truncated(y_true).reshape(-1), _truncated(y_pred).reshape(-1)
        if y_true.size != y_pred.size:
            raise ValueError(
                f"{type(self).__name__}: y_true and y_pred must hold one label per entry, got "
                f"{y_true.size} and {y_pred.size} labels"
            )
        weights = xp.ones_like(y_true)
        if sample_weight is not None:
            sample_weight = on_device(self.device, sample_weight, np.float32).reshape(-1)
            if sample_weight.size not in (1, y_true.size):
                raise ValueError(
                    f"{type(self).__name__}: sample_weight must give one weight per label "
                    f"({y_true.size}) or one in all, got {sample_weight.size}"
                )
            if self.dtype.kind in "iu":
                sample_weight = _truncated(sample_weight)
            weights = weights * sample_weight
        if self.ignore_class is not None:
            weights = weights * (1 - as_float(y_true == self.ignore_class))
        classes = xp.asarray(np.arange(self.num_classes, dtype=np.float32).reshape(1, -1))
        # a label outside [0, num_classes) gives a row of zeros: its pair counts nowhere
        true_rows = as_float(y_true.reshape((-1, 1)) == classes)
        predicted_rows = as_float(y_pred.reshape((-1, 1)) == classes) * weights.reshape((-1, 1))
        batch = xp.matmul(true_rows, predicted_rows, transpose_a=True)
        self.total_confusion_matrix = self.total_confusion_matrix + batch.astype(self.dtype)
        return state_tensor(self.total_confusion_matrix)

    def result(self) -> Any:
        matrix = self._read("total_confusion_matrix")
        diagonal = np.diag(matrix)
        true_positives = diagonal.astype(np.float32)[self.target_class_ids]
        union = matrix.sum(axis=0) + matrix.sum(axis=1) - diagonal
        union = union.astype(np.float32)[self.target_class_ids]
        valid = union > 1e-9
        ious = np.where(valid, true_positives / (union + np.float32(epsilon())), 0)
        return (ious.sum() / (valid.sum() + np.float32(epsilon()))).astype(np.float32)[()]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "num_classes": self.num_classes,
            "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
            "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
            "axis": self.axis,
        }  # fmt: skip


class MeanIoU(IoU):
    """The IoU averaged over all ``num_classes`` classes."""

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
        sparse_y_pred=True, axis=-1,
    ):  # fmt: skip
        super().__init__(
            num_classes, list(range(num_classes)), name, dtype, ignore_class, sparse_y_true,
            sparse_y_pred, axis,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class BinaryIoU(IoU):
    """The IoU of two classes, 0 and 1: a prediction is class 1 at or above ``threshold``,
    y_true holds 0/1 labels; ``target_class_ids`` the classes averaged ((0, 1): both)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(2, target_class_ids, name, dtype)
        self.threshold = threshold

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_true, y_pred = metric_inputs(y_true, y_pred)
        y_pred = as_float(y_pred.astype(np.float32, copy=False) >= self.threshold)
        return super().update_state(y_true, y_pred, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {
            "target_class_ids": self.target_class_ids,
            "threshold": self.threshold,
            "name": self.name,
            "dtype": self.dtype.name,
        }


class OneHotIoU(IoU):
    """:class:`IoU` of one-hot (or score) y_true along ``axis``; y_pred scores too, or labels
    with ``sparse_y_pred``."""

    def __init__(
        self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
        sparse_y_pred=False, axis=-1,
    ):  # fmt: skip
        super().__init__(
            num_classes, target_class_ids, name, dtype, ignore_class, False, sparse_y_pred, axis
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` of one-hot (or score) y_true along ``axis`` (see :class:`OneHotIoU`)."""

    def __init__(
        self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1
    ):
        super().__init__(num_classes, name, dtype, ignore_class, False, sparse_y_pred, axis)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


__all__ = ["BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"]
