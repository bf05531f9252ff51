"""autoconv's ops namespace: ``keras.ops``, name for name.

``from autoconv import ops`` gives Keras's functions with Keras's signatures (``ops.expand_dims``,
``ops.softmax``, ``ops.conv``, ``ops.image.resize``, ``ops.linalg.inv``, ...), differentiable
through autoconv's autograd and running on the tensors' device; :mod:`autoconv.ops.convert`
says what they take and give (Tensors for real values, NumPy arrays for integers and bools).
The submodules are Keras's: :mod:`~autoconv.ops.numpy`, :mod:`~autoconv.ops.nn`,
:mod:`~autoconv.ops.image`, :mod:`~autoconv.ops.linalg`, and :mod:`~autoconv.ops.core` and
:mod:`~autoconv.ops.math` for the rest.

The engine's own ops (``conv2d``, ``batch_norm``, ``max_pool2d``, ...: what layers call, in
:mod:`autoconv.ops.engine`) stay reachable here under the names Keras does not use.
"""

from autoconv.ops import core, engine, image, linalg, math, nn, numpy, operators
from autoconv.ops.convert import recording
from autoconv.ops.core import *
from autoconv.ops.engine import (  # the engine's ops whose names Keras does not use
    affine_transform,
    avg_pool1d,
    avg_pool2d,
    batch_norm,
    conv1d,
    conv2d,
    conv2d_max_pool,
    conv2d_transpose,
    crop2d,
    depthwise_conv2d,
    div,
    dropout,
    flatten,
    gaussian_noise,
    getitem,
    layer_norm,
    max_pool1d,
    max_pool2d,
    mean_squared_error,
    mish,
    mul,
    neg,
    pad2d,
    pow,
    resize,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
    sub,
)
from autoconv.ops.linalg import *
from autoconv.ops.math import *
from autoconv.ops.nn import *
from autoconv.ops.numpy import *

SUBMODULES = ("core", "engine", "image", "linalg", "math", "nn", "numpy")
# Functions that read a symbolic tensor's facts, or run Python, rather than compute a value:
# given a graph's tensor they answer at once instead of adding an Operation to the graph.
NOT_RECORDED = frozenset(
    {
        "associative_scan", "cond", "convert_to_numpy", "custom_gradient", "dtype",
        "fori_loop", "is_tensor", "map", "ndim", "scan", "shape", "size", "switch",
        "vectorize", "vectorized_map", "while_loop",
    }
)  # fmt: skip
KERAS_NAMES = sorted({*core.__all__, *linalg.__all__, *math.__all__, *nn.__all__, *numpy.__all__})
ENGINE_NAMES = sorted(set(engine.__all__) - set(KERAS_NAMES))
__all__ = [*KERAS_NAMES, *ENGINE_NAMES, *SUBMODULES]


# Aliases that Keras records as the Operation of the function they name (``ops.swish`` as
# ``Silu``); every other function is recorded as its own name's Operation, as Keras's are, even
# where autoconv computes two names with one function (``abs`` and ``absolute``;
# ``divide`` and ``true_divide``, which ``x / y`` records).
RECORDED_AS = {"swish": "silu", "hard_swish": "hard_silu"}


def _record_in_graphs() -> None:
    """Every Keras function, in its submodule and here, records an Operation when called on a
    functional graph's symbolic tensors (see :func:`autoconv.ops.convert.recording`)."""
    wrapped: dict[tuple[int, str], object] = {}
    for module in (core, image, linalg, math, nn, numpy):
        for name in module.__all__:
            function = getattr(module, name)
            if name in NOT_RECORDED or getattr(function, "not_implemented", None):
                continue
            recorded_as = f"image.{name}" if module is image else RECORDED_AS.get(name, name)
            op = wrapped.setdefault((id(function), recorded_as), recording(recorded_as, function))
            setattr(module, name, op)
            if module is not image:
                globals()[name] = op


_record_in_graphs()
