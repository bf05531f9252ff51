"""The differentiable ops. Each module holds its ops' forward and VJP side by side."""

from autoconv.ops.activation import log_softmax, softmax
from autoconv.ops.conv import conv1d, conv2d, conv2d_max_pool
from autoconv.ops.conv_variants import conv2d_transpose, depthwise_conv2d
from autoconv.ops.elementwise import (
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
from autoconv.ops.image import affine_transform, crop2d, flip, pad2d, repeat, resize
from autoconv.ops.linalg import matmul
from autoconv.ops.loss import (
    categorical_crossentropy,
    mean_squared_error,
    one_hot,
    softmax_cross_entropy,
    sparse_categorical_crossentropy,
)
from autoconv.ops.norm import batch_norm, layer_norm
from autoconv.ops.pool import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from autoconv.ops.reduce import max, mean, sum
from autoconv.ops.shape import concatenate, flatten, getitem, reshape, transpose

__all__ = [
    "add",
    "affine_transform",
    "avg_pool1d",
    "avg_pool2d",
    "batch_norm",
    "categorical_crossentropy",
    "clip",
    "concatenate",
    "conv1d",
    "conv2d",
    "conv2d_max_pool",
    "conv2d_transpose",
    "crop2d",
    "depthwise_conv2d",
    "div",
    "dropout",
    "exp",
    "flatten",
    "flip",
    "getitem",
    "layer_norm",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "max_pool1d",
    "max_pool2d",
    "mean",
    "mean_squared_error",
    "mul",
    "neg",
    "one_hot",
    "pad2d",
    "pow",
    "relu",
    "repeat",
    "reshape",
    "resize",
    "sigmoid",
    "softmax",
    "softmax_cross_entropy",
    "sparse_categorical_crossentropy",
    "sub",
    "sum",
    "tanh",
    "transpose",
]
