"""CPU backend: NumPy arrays, with the heavy loops compiled by Numba (``prange`` over independent
outputs). Its modules line up with :mod:`autoconv.backends.cuda`'s, name for name: ``array``
(creation, indexing, maths, matrix product), ``conv``, ``pool``, ``loss``, ``optimizers``,
``training``; ``jit`` holds the compile options. The names every backend defines are listed,
with their signatures, in :mod:`autoconv.backends.contract`."""

from autoconv.backends.cpu.array import (
    abs,
    argmax,
    asarray,
    broadcast_to,
    copy,
    exp,
    expand_dims,
    getitem,
    log,
    matmul,
    maximum,
    minimum,
    one_hot,
    ones_like,
    random_uniform,
    scatter_add,
    sqrt,
    swapaxes,
    take,
    tanh,
    to_numpy,
    zeros,
    zeros_like,
)
from autoconv.backends.cpu.conv import bias_relu, col2im, im2col, relu_grad_and_column_sums
from autoconv.backends.cpu.loss import (
    count_correct,
    log_softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
)
from autoconv.backends.cpu.optimizers import (
    adadelta_update,
    adagrad_update,
    adam_update,
    adamax_update,
    clip_scale,
    ftrl_update,
    lion_update,
    nadam_update,
    rmsprop_update,
    sgd_update,
)
from autoconv.backends.cpu.pool import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from autoconv.backends.cpu.training import accumulate, check_finite, new_status

__all__ = [
    "abs", "accumulate", "adadelta_update", "adagrad_update", "adam_update", "adamax_update",
    "argmax", "asarray", "avg_pool_backward", "avg_pool_forward", "bias_relu", "broadcast_to",
    "check_finite", "clip_scale", "col2im", "copy", "count_correct", "exp", "expand_dims",
    "ftrl_update", "getitem", "im2col", "lion_update", "log", "log_softmax", "matmul",
    "max_pool_backward", "max_pool_forward", "maximum", "minimum", "nadam_update", "new_status",
    "one_hot", "ones_like", "random_uniform", "relu_grad_and_column_sums", "rmsprop_update",
    "scatter_add", "sgd_update", "softmax_cross_entropy", "softmax_cross_entropy_grad", "sqrt",
    "swapaxes", "take", "tanh", "to_numpy", "zeros", "zeros_like",
]  # fmt: skip
