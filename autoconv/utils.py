"""``keras.utils``: the helpers users know from Keras.

Most live in the module of their topic and are gathered here: ``get_file``
(:mod:`autoconv.file_utils`), ``Progbar`` (:mod:`autoconv.progbar`), ``split_dataset``
(:mod:`autoconv.dataset_utils`), the custom-object registry (:mod:`autoconv.registration`) and
Keras's object entries (:mod:`autoconv.saving`), the images', text's, audio's, time series' and
datasets' helpers, ``FeatureSpace`` (:mod:`autoconv.feature_space`), and Keras's bounding-box
utilities, ``bounding_boxes`` (:mod:`autoconv.layers.bounding_boxes`: ``convert_format``,
``clip_to_image_size``, ``crop``, ``pad``, ``affine_transform``, the anchors' deltas and IoUs).
Keras's ``legacy`` module is not implemented: asking for it says so by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoconv import ops
from autoconv.backend import is_keras_tensor, standardize_dtype
from autoconv.config import (
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from autoconv.config_dict import Config
from autoconv.data.audio_directory import audio_dataset_from_directory
from autoconv.data.directory import image_dataset_from_directory
from autoconv.data.py_dataset import PyDataset, Sequence
from autoconv.data.sequences import pad_sequences
from autoconv.data.text_directory import text_dataset_from_directory
from autoconv.data.timeseries import timeseries_dataset_from_array
from autoconv.dataset_utils import split_dataset
from autoconv.feature_space import FeatureSpace
from autoconv.file_utils import get_file
from autoconv.layers import bounding_boxes, clear_session
from autoconv.layers.symbolic import SymbolicTensor
from autoconv.naming import missing_names
from autoconv.ops.engine import one_hot
from autoconv.plot_model import model_to_dot, plot_model
from autoconv.preprocessing.image import array_to_img, img_to_array, load_img, save_img
from autoconv.progbar import Progbar
from autoconv.registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from autoconv.saving import deserialize_keras_object, serialize_keras_object
from autoconv.seeds import set_random_seed
from autoconv.windows import MAX_SIZE, is_int

__all__ = [
    "Config",
    "CustomObjectScope",
    "FeatureSpace",
    "Progbar",
    "PyDataset",
    "Sequence",
    "array_to_img",
    "audio_dataset_from_directory",
    "bounding_boxes",
    "clear_session",
    "custom_object_scope",
    "deserialize_keras_object",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "get_custom_objects",
    "get_file",
    "get_registered_name",
    "get_registered_object",
    "get_source_inputs",
    "image_dataset_from_directory",
    "img_to_array",
    "is_interactive_logging_enabled",
    "is_keras_tensor",
    "load_img",
    "model_to_dot",
    "normalize",
    "pack_x_y_sample_weight",
    "pad_sequences",
    "plot_model",
    "register_keras_serializable",
    "save_img",
    "serialize_keras_object",
    "set_random_seed",
    "split_dataset",
    "standardize_dtype",
    "text_dataset_from_directory",
    "timeseries_dataset_from_array",
    "to_categorical",
    "unpack_x_y_sample_weight",
]

# Keras 3's utilities autoconv does not have: asking for one says so by name rather than with a
# bare AttributeError.
KERAS_UTILS_NOT_IMPLEMENTED = frozenset({"legacy"})


__getattr__ = missing_names(
    "utils", KERAS_UTILS_NOT_IMPLEMENTED,
    "which implements Keras's utilities for images, sequences and convolutional networks (see "
    "docs/keras.md for the list)",
)  # fmt: skip


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels (N,) as one-hot rows (N, num_classes), float64 as Keras's (``fit``
    takes them as float32).

    ``num_classes`` defaults to max(x) + 1, as in Keras; a trailing axis of size 1 is dropped.

    >>> to_categorical([0, 2])
    array([[1., 0., 0.],
           [0., 0., 1.]])
    """
    labels = np.asarray(x)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.dtype.kind not in "iuf" or (
        labels.dtype.kind == "f" and not np.all(np.isfinite(labels) & (labels == np.round(labels)))
    ):
        raise ValueError(
            f"to_categorical: the labels must be whole numbers (class indices), got "
            f"{_sample(labels)}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(
            f"to_categorical: the labels must be non-negative class indices, got {labels.min()}"
        )
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("to_categorical: num_classes is required for empty labels")
        num_classes = int(labels.max()) + 1
        if num_classes > MAX_SIZE:
            raise ValueError(
                f"to_categorical: the largest label, {labels.max()}, asks for more than "
                f"{MAX_SIZE} classes"
            )
    if not is_int(num_classes) or not 1 <= num_classes <= MAX_SIZE:
        raise ValueError(f"to_categorical: num_classes must be a positive int, got {num_classes!r}")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"to_categorical: label {labels.max()} does not fit num_classes={num_classes} "
            f"(labels must lie in [0, {num_classes}))"
        )
    return one_hot(labels, int(num_classes), dtype=np.float64)


def _sample(labels: np.ndarray) -> str:
    """A few of ``labels``, for an error message."""
    flat = labels.reshape(-1)
    return f"dtype {labels.dtype}, values {flat[:5].tolist()}{' ...' if flat.size > 5 else ''}"


def normalize(x: Any, axis: int | tuple[int, ...] | None = -1, order: int = 2) -> Any:
    """``x`` divided by its ``order``-norm along ``axis`` (a zero norm left as 1): a NumPy
    array in, a NumPy array out (float64 for integers, as Keras); anything else (a Tensor, a
    list) goes to :func:`autoconv.ops.nn.normalize` and comes back a Tensor.

    As Keras's, ``axis=None`` takes the norm of the whole array (a matrix's spectral norm for
    order 2), and a 1-D array comes back as one row (1, n). Keras 3.15 divides by the norms
    along ``axis=0`` as if they were along the last axis (``axis or -1``), which is wrong for
    a matrix; autoconv divides along ``axis``.

    >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
    """
    if not isinstance(x, np.ndarray):
        return ops.nn.normalize(x, axis=axis, order=order)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, -1 if axis is None else axis)


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """The tuple ``fit`` takes: ``(x, y, sample_weight)``, ``(x, y)`` without weights, and
    ``x`` alone without ``y`` (``(x,)`` when ``x`` is a tuple or list, keeping it one input).
    """
    if y is None:
        return (x,) if isinstance(x, tuple | list) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` from ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
    (a list counts as a tuple), with None for what is missing.

    >>> unpack_x_y_sample_weight((1, 2))
    (1, 2, None)
    """
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if 1 <= len(data) <= 3:
        return (*data, *(None,) * (3 - len(data)))
    raise ValueError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found: {data}"
    )


def get_source_inputs(tensor: Any) -> Any:
    """The Input tensors (``autoconv.Input``'s) that a functional graph's symbolic ``tensor``
    is computed from, in the order Keras's walk back from it meets them, each once. As Keras's:
    a tensor no layer made is returned in a list by itself, and anything else as it is.

    Each tensor's sources are found once (Keras's recursion follows every path, which in a
    densely connected graph is exponentially many), without recursion.
    """
    if not isinstance(tensor, SymbolicTensor):
        return tensor
    found: dict[int, list[SymbolicTensor]] = {}  # id(tensor) -> its sources
    stack = [tensor]
    while stack:
        current = stack[-1]
        if id(current) in found:  # pushed again by another path before it was done
            stack.pop()
            continue
        node = current.node
        parents = node.inputs if node is not None else []
        waiting = [parent for parent in parents if id(parent) not in found]
        if waiting:
            stack.extend(reversed(waiting))
            continue
        stack.pop()
        if node is None:
            found[id(current)] = [current]
        elif not parents:  # an Input's own node
            found[id(current)] = list(node.outputs)
        else:
            sources: list[SymbolicTensor] = []
            for parent in parents:
                sources += [s for s in found[id(parent)] if all(s is not t for t in sources)]
            found[id(current)] = sources
    return found[id(tensor)]
