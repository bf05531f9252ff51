"""CUDA backend (numba.cuda, from the numba-cuda package): :class:`CudaArray` and a kernel for
every op of a training step. Its modules line up with :mod:`autoconv.backends.cpu`'s by topic:
``conv``, ``winograd``, ``pool``, ``norm``, ``image``, ``embedding``, ``loss``, ``optimizers``,
``training`` name for name, and the names of the CPU's ``array`` split by concern: ``array``
(the device array itself, its creation and transfer), ``elementwise`` (maths with broadcasting,
casts and transposes), ``reduce`` (reductions, ``block_sum``, ``argmax``), ``gemm`` (the matrix
product), ``index`` (gathers, scatters, ``take``, ``one_hot``) and ``random``. ``runtime`` holds
what is the GPU's own: the launch sizes, the buffer pool and ``Launch``, through which every kernel
is launched. The names every backend defines are listed in :mod:`autoconv.backends.contract`.

Design, in short:
- Every CudaArray is C-contiguous; kernels index a flat view and get shapes and element
  strides as tuples padded to ``MAX_DIMS`` (broadcast axes have stride 0, a transposed view
  permutes them), so one elementwise kernel serves broadcasting, transposes and dtype casts.
- Kernels are float32 when the data is (they are compiled per dtype; scalars are cast to the
  array's dtype before launch, so no literal drags a kernel into float64).
- Freed buffers go to a pool keyed by (size, dtype) and are reused: a training step asks for
  the same shapes every batch, so after the first step nothing is allocated. Reuse is safe
  because every kernel runs in order on one stream.
- Nothing here reads a value back to the host except ``to_numpy`` (and ``float(a)``).
"""

from autoconv.backends.cuda.array import (
    CudaArray,
    asarray,
    copy,
    copy_from_host,
    copy_into,
    empty,
    ones_constant,
    ones_like,
    owned,
    to_numpy,
    zero,
    zeros,
    zeros_like,
)
from autoconv.backends.cuda.capture import difference, recording, replay, step_input
from autoconv.backends.cuda.conv import (
    SLICE_BYTES,
    WHOLE_BATCH_BYTES,
    bias_relu,
    bias_relu_grad,
    col2im,
    im2col,
    relu_grad_and_column_sums,
)
from autoconv.backends.cuda.conv_pool import conv_max_pool_2x2, conv_max_pool_2x2_kernel_grad
from autoconv.backends.cuda.ctc import ctc_loss, ctc_loss_grad
from autoconv.backends.cuda.depthwise import (
    depthwise_conv,
    depthwise_conv_grads,
    depthwise_conv_input_grad,
    depthwise_conv_kernel_grad,
)
from autoconv.backends.cuda.elementwise import (
    abs,
    broadcast_to,
    erf,
    exp,
    expand_dims,
    expm1,
    log,
    log1p,
    maximum,
    minimum,
    relu_grad,
    sigmoid,
    softplus,
    sqrt,
    swapaxes,
    tanh,
)
from autoconv.backends.cuda.embedding import scatter_add_rows
from autoconv.backends.cuda.gemm import matmul, matmuls
from autoconv.backends.cuda.image import (
    affine_transform,
    affine_transform_backward,
    resize,
    resize_backward,
)
from autoconv.backends.cuda.index import (
    concatenate_rows,
    getitem,
    one_hot,
    put_rows,
    scatter_add,
    take,
    take_window,
)
from autoconv.backends.cuda.loss import (
    count_correct,
    log_softmax,
    sigmoid_cross_entropy,
    sigmoid_cross_entropy_grad,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_grad,
)
from autoconv.backends.cuda.norm import batch_norm_backward, batch_norm_forward, moving_averages
from autoconv.backends.cuda.optimizers import (
    accumulate_gradient,
    adadelta_update,
    adafactor_factors,
    adafactor_update,
    adagrad_update,
    adam_update,
    adamax_update,
    apply_update,
    clip_scale,
    ema_update,
    ftrl_update,
    guarded_copy,
    lamb_update,
    lion_update,
    nadam_update,
    release_gradient,
    rmsprop_update,
    sgd_update,
    trust_ratios,
)
from autoconv.backends.cuda.pool import (
    avg_pool_backward,
    avg_pool_forward,
    max_pool_backward,
    max_pool_forward,
)
from autoconv.backends.cuda.random import random_normal, random_uniform
from autoconv.backends.cuda.recurrent import (
    gru_step,
    gru_step_grad,
    lstm_step,
    lstm_step_grad,
)
from autoconv.backends.cuda.reduce import argmax
from autoconv.backends.cuda.runtime import SIMULATED, available, empty_cache
from autoconv.backends.cuda.training import (
    accumulate,
    check_finite,
    check_step,
    new_status,
    update_metrics,
)
from autoconv.backends.cuda.winograd import (
    winograd_input,
    winograd_input_grad,
    winograd_max_pool_2x2,
    winograd_max_pool_2x2_grad,
)

__all__ = [
    "SIMULATED",
    "SLICE_BYTES",
    "WHOLE_BATCH_BYTES",
    "CudaArray",
    "abs",
    "accumulate",
    "accumulate_gradient",
    "adadelta_update",
    "adafactor_factors",
    "adafactor_update",
    "adagrad_update",
    "adam_update",
    "adamax_update",
    "affine_transform",
    "affine_transform_backward",
    "apply_update",
    "argmax",
    "asarray",
    "available",
    "avg_pool_backward",
    "avg_pool_forward",
    "batch_norm_backward",
    "batch_norm_forward",
    "bias_relu",
    "bias_relu_grad",
    "broadcast_to",
    "check_finite",
    "check_step",
    "clip_scale",
    "col2im",
    "concatenate_rows",
    "conv_max_pool_2x2",
    "conv_max_pool_2x2_kernel_grad",
    "copy",
    "copy_from_host",
    "copy_into",
    "count_correct",
    "ctc_loss",
    "ctc_loss_grad",
    "depthwise_conv",
    "depthwise_conv_grads",
    "depthwise_conv_input_grad",
    "depthwise_conv_kernel_grad",
    "difference",
    "ema_update",
    "empty",
    "empty_cache",
    "erf",
    "exp",
    "expand_dims",
    "expm1",
    "ftrl_update",
    "getitem",
    "gru_step",
    "gru_step_grad",
    "guarded_copy",
    "im2col",
    "lamb_update",
    "lion_update",
    "log",
    "log1p",
    "log_softmax",
    "lstm_step",
    "lstm_step_grad",
    "matmul",
    "matmuls",
    "max_pool_backward",
    "max_pool_forward",
    "maximum",
    "minimum",
    "moving_averages",
    "nadam_update",
    "new_status",
    "one_hot",
    "ones_constant",
    "ones_like",
    "owned",
    "put_rows",
    "random_normal",
    "random_uniform",
    "recording",
    "release_gradient",
    "relu_grad",
    "relu_grad_and_column_sums",
    "replay",
    "resize",
    "resize_backward",
    "rmsprop_update",
    "scatter_add",
    "scatter_add_rows",
    "sgd_update",
    "sigmoid",
    "sigmoid_cross_entropy",
    "sigmoid_cross_entropy_grad",
    "softmax",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softplus",
    "sqrt",
    "step_input",
    "swapaxes",
    "take",
    "take_window",
    "tanh",
    "to_numpy",
    "trust_ratios",
    "update_metrics",
    "winograd_input",
    "winograd_input_grad",
    "winograd_max_pool_2x2",
    "winograd_max_pool_2x2_grad",
    "zero",
    "zeros",
    "zeros_like",
]  # fmt: skip
