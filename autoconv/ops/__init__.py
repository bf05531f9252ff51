"""The differentiable ops. Each module holds its ops' forward and VJP side by side."""

from autoconv.ops.activation import log_softmax, softmax
from autoconv.ops.conv import conv2d, conv2d_max_pool
from autoconv.ops.elementwise import (
    abs,
    add,
    clip,
    div,
    dropout,
    exp,
    log,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sub,
    tanh,
)
from autoconv.ops.linalg import matmul
from autoconv.ops.loss import (
    categorical_crossentropy,
    mean_squared_error,
    one_hot,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
    sparse_categorical_crossentropy,
)
from autoconv.ops.pool import avg_pool2d, max_pool2d
from autoconv.ops.reduce import max, mean, sum
from autoconv.ops.shape import flatten, getitem, reshape, transpose

__all__ = [
    "abs",
    "add",
    "avg_pool2d",
    "categorical_crossentropy",
    "clip",
    "conv2d",
    "conv2d_max_pool",
    "div",
    "dropout",
    "exp",
    "flatten",
    "getitem",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "max_pool2d",
    "mean",
    "mean_squared_error",
    "mul",
    "neg",
    "one_hot",
    "pow",
    "relu",
    "reshape",
    "sigmoid",
    "sigmoid_cross_entropy",
    "softmax",
    "softmax_cross_entropy",
    "sparse_categorical_crossentropy",
    "sub",
    "sum",
    "tanh",
    "transpose",
]
