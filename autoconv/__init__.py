"""autoconv: a small, readable reverse-mode autograd engine for convolutional networks.

>>> import autoconv as ac
>>> x = ac.Tensor([[1.0, -2.0, 3.0]], requires_grad=True)
>>> y = ac.relu(x).sum()
>>> y.backward()
>>> x.grad
array([[1., 0., 1.]], dtype=float32)
"""

from autoconv import data, datasets, layers, losses, models, optimizers, preprocessing, utils
from autoconv.models import Sequential, load_model
from autoconv.ops import (
    avg_pool2d,
    categorical_crossentropy,
    clip,
    conv2d,
    conv2d_max_pool,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
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
from autoconv.process import configure_process
from autoconv.tensor import Tensor, is_grad_enabled, no_grad

__version__ = "0.1.0"

__all__ = [
    "Sequential",
    "Tensor",
    "__version__",
    "avg_pool2d",
    "categorical_crossentropy",
    "clip",
    "configure_process",
    "conv2d",
    "conv2d_max_pool",
    "data",
    "datasets",
    "exp",
    "flatten",
    "is_grad_enabled",
    "layers",
    "load_model",
    "log",
    "log_softmax",
    "losses",
    "matmul",
    "max_pool2d",
    "mean_squared_error",
    "models",
    "no_grad",
    "optimizers",
    "preprocessing",
    "relu",
    "reshape",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "sparse_categorical_crossentropy",
    "tanh",
    "transpose",
    "utils",
]
