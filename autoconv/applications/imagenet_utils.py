"""Keras's ``keras.applications.imagenet_utils``: the ImageNet models' input preprocessing
(``preprocess_input``), the decoding of their 1000-class predictions (``decode_predictions``)
and the input-shape checks every model makes (``obtain_input_shape``).

>>> x = np.full((1, 2, 2, 3), 255.0, dtype="float32")
>>> preprocess_input(x, mode="tf")[0, 0, 0]
array([1., 1., 1.], dtype=float32)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from autoconv import activations, ops
from autoconv.applications.download import get_file
from autoconv.backend import standardize_dtype
from autoconv.ops.convert import is_symbolic
from autoconv.tensor import Tensor

CLASS_INDEX: dict[str, list[str]] | None = None
CLASS_INDEX_PATH = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"

MODES = ("caffe", "tf", "torch")
# Per channel, RGB: "caffe" subtracts the BGR means; "torch" scales to [0, 1] first.
CAFFE_MEAN = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_input(x: Any, data_format: str | None = None, mode: str = "caffe") -> Any:
    """A batch of images (N, H, W, 3), or one image (H, W, 3), with values in [0, 255], as an
    ImageNet model of ``mode`` expects it:

    - ``"caffe"``: RGB to BGR, then each channel less its ImageNet mean, unscaled;
    - ``"tf"``: scaled to [-1, 1];
    - ``"torch"``: scaled to [0, 1], then each channel normalized by ImageNet's mean and std.

    As Keras's: a float NumPy array is changed in place (pass ``np.copy(x)`` to keep it), other
    arrays become float32; an autoconv Tensor gives a new Tensor; a model's symbolic input (as
    in ``x = preprocess_input(inputs)``) gives the graph's ops that compute it. ``data_format``
    ``"channels_first"`` takes (N, 3, H, W) or (3, H, W)."""
    if mode not in MODES:
        raise ValueError(
            f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}"
        )
    if data_format is None:
        data_format = "channels_last"
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError(
            "Expected data_format to be one of `channels_first` or `channels_last`. "
            f"Received: data_format={data_format}"
        )
    if isinstance(x, np.ndarray):
        return _preprocess_numpy_input(x, data_format, mode)
    if not isinstance(x, Tensor) and not is_symbolic(x):  # (a model's input: recorded ops)
        x = Tensor(np.asarray(x, dtype=np.float32))
    return _preprocess_tensor_input(x, data_format, mode)


def preprocessing(mode: str) -> Callable[..., Any]:
    """A model module's ``preprocess_input(x, data_format=None)``: this one in ``mode``."""

    def preprocess(x: Any, data_format: str | None = None) -> Any:
        return preprocess_input(x, data_format=data_format, mode=mode)

    preprocess.__name__ = preprocess.__qualname__ = "preprocess_input"
    preprocess.__doc__ = f"""Images in [0, 255] as the model expects them: ``preprocess_input`` in
    mode ``"{mode}"`` (see :func:`autoconv.applications.imagenet_utils.preprocess_input`)."""
    return preprocess


def _channel_shape(data_format: str) -> tuple[int, ...]:
    """The shape a per-channel vector broadcasts in over images (or batches) of a format."""
    return (3,) if data_format == "channels_last" else (3, 1, 1)


def _preprocess_numpy_input(x: np.ndarray, data_format: str, mode: str) -> np.ndarray:
    """Keras's NumPy path, in place where the array is float."""
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(np.float32, copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = TORCH_MEAN, TORCH_STD
    else:
        channel_axis = -1 if data_format == "channels_last" else x.ndim - 3
        x = np.flip(x, axis=channel_axis)  # RGB -> BGR, a view as Keras's x[..., ::-1]
        mean, std = CAFFE_MEAN, None
    shape = _channel_shape(data_format)
    x -= np.asarray(mean, dtype=x.dtype).reshape(shape)
    if std is not None:
        x /= np.asarray(std, dtype=x.dtype).reshape(shape)
    return x


def _preprocess_tensor_input(x: Any, data_format: str, mode: str) -> Any:
    """Keras's tensor path, op for op, so that a model's symbolic input records Keras's graph
    (and its file loads in Keras, whose PyTorch backend has no negative slice steps): "caffe"
    stacks the channels' slices in reverse order and adds the negated means as a constant."""
    ndim = len(x.shape)
    if mode == "tf":
        x = x / 127.5
        return x - 1.0
    if mode == "torch":
        x = x / 255.0
        mean, std = TORCH_MEAN, TORCH_STD
    else:
        if data_format == "channels_first":
            slices = [x[i, ...] if ndim == 3 else x[:, i, :] for i in (2, 1, 0)]
            x = ops.stack(slices, axis=0 if ndim == 3 else 1)
        else:
            x = ops.stack([x[..., i] for i in (2, 1, 0)], axis=-1)
        mean, std = CAFFE_MEAN, None
    dtype = np.dtype(standardize_dtype(x.dtype))
    if data_format == "channels_first":
        shape = (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)
    else:
        shape = (1,) * (ndim - 1) + (3,)
    x = x + Tensor(-np.asarray(mean, dtype=dtype).reshape(shape))
    if std is not None:
        shape = (-1, 1, 1) if data_format == "channels_first" else (3,)
        x = x / Tensor(np.asarray(std, dtype=dtype).reshape(shape))
    return x


def decode_predictions(preds: Any, top: int = 5) -> list[list[tuple[str, str, Any]]]:
    """The ``top`` classes of each row of ``preds`` (N, 1000), best first, as tuples
    ``(class_name, class_description, score)``. The class index is Keras's JSON file, fetched
    once into ``$KERAS_HOME/models`` (see :func:`autoconv.applications.download.get_file`)."""
    global CLASS_INDEX

    preds = preds.numpy() if isinstance(preds, Tensor) else np.asarray(preds)
    if len(preds.shape) != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
            f"(samples, 1000)). Received array with shape: {preds.shape}"
        )
    if CLASS_INDEX is None:
        path = get_file(
            "imagenet_class_index.json",
            CLASS_INDEX_PATH,
            cache_subdir="models",
            file_hash=CLASS_INDEX_HASH,
        )
        with open(path, encoding="utf-8") as f:
            CLASS_INDEX = json.load(f)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [(*CLASS_INDEX[str(i)], pred[i]) for i in top_indices]
        result.sort(key=lambda item: item[2], reverse=True)
        results.append(result)
    return results


def obtain_input_shape(
    input_shape: tuple[int | None, ...] | None,
    default_size: int,
    min_size: int,
    data_format: str,
    require_flatten: bool,
    weights: Any = None,
) -> tuple[int | None, ...]:
    """A model's input shape (H, W, C), from ``input_shape`` (None: the default) checked as
    Keras checks it: 3 dims, H and W at least ``min_size``, 3 channels with ImageNet weights,
    and exactly ``(default_size, default_size, 3)`` with the top and ImageNet weights;
    ``require_flatten`` (the top) needs a static shape."""
    channels_first = data_format == "channels_first"
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[0] if channels_first else input_shape[-1]
        if channels not in {1, 3}:
            warnings.warn(
                "This model usually expects 1 or 3 input channels. However, it was passed an "
                f"input_shape with {channels} input channels.",
                stacklevel=3,
            )
        spatial = (default_size, default_size)
        default_shape = (channels, *spatial) if channels_first else (*spatial, channels)
    else:
        default_shape = (3, default_size, default_size) if channels_first else (
            default_size, default_size, 3)  # fmt: skip
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and tuple(input_shape) != default_shape:
            raise ValueError(
                "When setting `include_top=True` and loading `imagenet` weights, `input_shape` "
                f"should be {default_shape}.  Received: input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError("`input_shape` must be a tuple of three integers.")
        channels = input_shape[0] if channels_first else input_shape[-1]
        rows, cols = input_shape[1:] if channels_first else input_shape[:2]
        if channels != 3 and weights == "imagenet":
            raise ValueError(
                f"The input must have 3 channels; Received `input_shape={input_shape}`"
            )
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size}; Received: "
                f"input_shape={input_shape}"
            )
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (3, None, None) if channels_first else (None, None, 3)
    if require_flatten and None in input_shape:
        raise ValueError(
            "If `include_top` is True, you should specify a static `input_shape`. "
            f"Received: input_shape={input_shape}"
        )
    return tuple(input_shape)


def correct_pad(inputs: Any, kernel_size: int | tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """The ((top, bottom), (left, right)) zero padding before a strided ``kernel_size``
    convolution of ``inputs`` (N, H, W, C) that TensorFlow's "same" padding would give."""
    input_size = inputs.shape[1:3]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    if input_size[0] is None:
        adjust = (1, 1)
    else:
        adjust = (1 - input_size[0] % 2, 1 - input_size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def validate_activation(classifier_activation: Any, weights: Any) -> None:
    """With pretrained ``weights``, the classifier's activation must be None or softmax."""
    if weights is None:
        return
    if activations.get(classifier_activation) not in {
        activations.get("softmax"),
        activations.get(None),
    }:
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the `classifier_activation` "
            "argument when using pretrained weights, with `include_top=True`; Received: "
            f"classifier_activation={classifier_activation}"
        )
