"""autoconv: a small, readable reverse-mode autograd engine for convolutional networks.

>>> import autoconv as ac
>>> x = ac.Tensor([[1.0, -2.0, 3.0]], requires_grad=True)
>>> y = ac.relu(x).sum()
>>> y.backward()
>>> x.grad
array([[1., 0., 1.]], dtype=float32)
"""

from autoconv import (
    activations,
    applications,
    backend,
    callbacks,
    config,
    constraints,
    data,
    datasets,
    distillation,
    distributed,
    dtype_policies,
    initializers,
    layers,
    losses,
    metrics,
    mixed_precision,
    models,
    ops,
    optimizers,
    preprocessing,
    random,
    regularizers,
    saving,
    tree,
    utils,
    visualization,
    wrappers,
)
from autoconv.config import device_scope as device
from autoconv.dtype_policies import DTypePolicy, FloatDTypePolicy
from autoconv.initializers import Initializer
from autoconv.layers import Input, InputLayer, InputSpec, Layer, Variable
from autoconv.layers.calls import NameScope as name_scope
from autoconv.layers.symbolic import SymbolicTensor as KerasTensor
from autoconv.losses import Loss
from autoconv.metrics import Metric
from autoconv.models import Model, Sequential
from autoconv.ops.engine import (
    avg_pool1d,
    avg_pool2d,
    categorical_crossentropy,
    clip,
    conv1d,
    conv2d,
    conv2d_max_pool,
    conv2d_transpose,
    depthwise_conv2d,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    max_pool1d,
    max_pool2d,
    mean_squared_error,
    relu,
    reshape,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    sparse_categorical_crossentropy,
    tanh,
    transpose,
)
from autoconv.optimizers import Optimizer
from autoconv.process import configure_process
from autoconv.regularizers import Regularizer
from autoconv.saving import load_model
from autoconv.tensor import Tensor, is_grad_enabled, no_grad

__version__ = "0.1.0"


def version() -> str:
    """autoconv's version, as ``keras.version()`` gives Keras's."""
    return __version__


__all__ = [
    "DTypePolicy",
    "FloatDTypePolicy",
    "Initializer",
    "Input",
    "InputLayer",
    "InputSpec",
    "KerasTensor",
    "Layer",
    "Loss",
    "Metric",
    "Model",
    "Optimizer",
    "Regularizer",
    "Sequential",
    "Tensor",
    "Variable",
    "__version__",
    "activations",
    "applications",
    "avg_pool1d",
    "avg_pool2d",
    "backend",
    "callbacks",
    "categorical_crossentropy",
    "clip",
    "config",
    "configure_process",
    "constraints",
    "conv1d",
    "conv2d",
    "conv2d_max_pool",
    "conv2d_transpose",
    "data",
    "datasets",
    "depthwise_conv2d",
    "device",
    "distillation",
    "distributed",
    "dtype_policies",
    "exp",
    "flatten",
    "initializers",
    "is_grad_enabled",
    "layers",
    "load_model",
    "log",
    "log_softmax",
    "losses",
    "matmul",
    "max_pool1d",
    "max_pool2d",
    "mean_squared_error",
    "metrics",
    "mixed_precision",
    "models",
    "name_scope",
    "no_grad",
    "ops",
    "optimizers",
    "preprocessing",
    "random",
    "regularizers",
    "relu",
    "reshape",
    "saving",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "sparse_categorical_crossentropy",
    "tanh",
    "transpose",
    "tree",
    "utils",
    "version",
    "visualization",
    "wrappers",
]
