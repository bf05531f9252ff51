"""The backend contract: every function a backend module must define, with its signature.

:class:`Backend` is a :class:`typing.Protocol` that the modules :mod:`autoconv.backends.cpu`
and :mod:`autoconv.backends.cuda` satisfy structurally (a type checker accepts either where a
``Backend`` is expected); ``tests/backends/test_contract.py`` fails when one of them lacks a
name or defines it with other parameters. ``Array`` is a NumPy array on the CPU and a
:class:`~autoconv.backends.cuda.CudaArray` on the GPU; both support the Python operators and
``sum``/``max``/``mean``/``reshape``/``transpose``/``astype``, which the ops use directly.

Shapes are channels-last: images (N, H, W, C), products of a convolution (N*OH*OW, C).
``win`` is an :class:`autoconv.windows.Window`. ``status`` is the training loop's int64
array [code, step] (0 while every step was finite); the optimizer updates, ``accumulate``,
``accumulate_gradient``, ``ema_update``, ``guarded_copy`` and the zeroing of
``release_gradient`` do nothing once it is set.

Every function checks, before it launches a kernel, that the arrays it is given fit each other
and ``win`` (:mod:`autoconv.backends.bounds`): no argument makes a kernel read or write out of
bounds; a mismatch is a ``ValueError`` naming the function.

(Over ~600 lines on purpose: it is one Protocol, every backend function's signature and what it
computes, read as one list; split, a backend's author would check two halves against one
module.)
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import numpy as np

from autoconv.windows import Window

Array = Any  # numpy.ndarray or CudaArray


class Backend(Protocol):
    # ------------------------------------------------------------------ constants
    # How :mod:`autoconv.ops.convolution` splits a batch of images: whole up to
    # WHOLE_BATCH_BYTES of windows (or Winograd tiles and products), which the backward then
    # takes, else in slices of about SLICE_BYTES each, unrolled again in the backward.
    SLICE_BYTES: int
    WHOLE_BATCH_BYTES: int

    # ------------------------------------------------------------ creation and transfer
    def asarray(self, value: Any, dtype: Any = None) -> Array:
        """``value`` (an array of either device, a scalar or a list) on this device."""

    def to_numpy(self, array: Any) -> np.ndarray:
        """A NumPy array with the values of ``array`` (a copy for device arrays)."""

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Array:
        """An uninitialised C-contiguous array, for kernels to write whole: a batch's output,
        say, whose rows the kernels of each slice of images are given as ``out``."""

    def zeros(self, shape: tuple[int, ...], dtype: Any = np.float32) -> Array: ...
    def zeros_like(self, array: Array) -> Array: ...

    def zero(self, array: Array) -> None:
        """array[...] = 0, in place: a state array reset where a replayed step reads it."""

    def ones_like(self, array: Array) -> Array: ...

    def ones_constant(self, like: Array) -> Array:
        """Ones of ``like``'s shape and dtype that no one writes into (a backward's first
        gradient): on the GPU one array for each shape and dtype, filled once."""

    def copy(self, array: Array) -> Array:
        """A C-contiguous copy (also of a read-only broadcast view)."""

    def copy_into(self, target: Array, source: Array) -> None:
        """target[...] = source, in place (same shape and dtype): a state array (a batch
        norm's moving statistics) updated where it is, as a replayed step needs."""

    def copy_from_host(self, target: Array, source: np.ndarray) -> None:
        """target[...] = source, a host array of target's shape and dtype, in place: on the GPU
        asynchronously, in order with every kernel (the host goes on while the device copies;
        ``source`` may change once this returns). A dataset's batch loaded where a replayed
        step reads it."""

    def owned(self, array: Any) -> bool:
        """Whether ``array`` may be kept where a copy of it would be (a leaf's gradient): a
        writeable C-contiguous array that nothing refers to but the caller's one variable (call
        it as ``owned(name)``), nor to its memory but itself (and the pool it came from)."""

    # --------------------------------------------------------------------- shapes
    def broadcast_to(self, a: Array, shape: tuple[int, ...]) -> Array: ...
    def expand_dims(self, a: Array, axes: tuple[int, ...]) -> Array: ...
    def swapaxes(self, a: Array, first: int, second: int) -> Array: ...

    # ------------------------------------------------------------------- indexing
    def getitem(self, a: Array, index: Any) -> Array:
        """``a[index]`` (basic or integer-array index) as a contiguous array."""

    def scatter_add(self, grad: Array, shape: tuple[int, ...], index: Any) -> Array:
        """Zeros of ``shape`` with ``grad`` added at ``[index]`` (repeats accumulate)."""

    def scatter_add_rows(self, grad: Array, rows: Array, num_rows: int) -> Array:
        """Zeros (num_rows, D) with row i of ``grad`` (len(rows), D) added into row rows[i]
        (repeats accumulate): the gradient of :meth:`take`, an embedding's backward. Host rows
        outside [0, num_rows) are a ValueError; device rows are not read back: such a row is
        skipped."""

    def concatenate_rows(self, arrays: list[Array]) -> Array:
        """Arrays of one dtype and trailing shape joined along their first axis (a copy)."""

    def take(self, a: Array, rows: Array) -> Array:
        """``a[rows]`` for a 1-D integer array of row numbers (batches of a dataset). Host rows
        outside [0, len(a)) are a ValueError; device rows are not read back: their kernel
        never reads outside ``a`` and fills such a row with NaN (0 for integer arrays)."""

    def take_window(self, a: Array, order: Array, start: Array, count: int) -> Array:
        """``a[order[start : start + count]]`` for a one-element integer array ``start`` (a
        batch of a shuffled epoch, gathered at a step input); like ``take`` on device rows."""

    def put_rows(self, target: Array, source: Array, start: Array) -> None:
        """``target[start : start + len(source)] = source`` in place, for a one-element
        integer array ``start`` (a step input: a replayed ``predict`` step writes each batch's
        outputs at its own rows). Rows outside ``target``: a ValueError on the CPU, not
        written on the GPU (``start`` is not read back)."""

    def one_hot(self, labels: Array, num_classes: int, dtype: Any) -> Array:
        """Rows of ``num_classes`` with a 1 at each label. Host labels outside [0, num_classes)
        are a ValueError; device labels are not read back: such a label gives a row of 0s."""

    def argmax(self, a: Array, axis: int = -1) -> Array:
        """Index of the first maximum along ``axis`` (the last; a NaN counts as largest)."""

    def random_uniform(self, shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> Array:
        """Uniform numbers in [0, 1) of ``dtype``, seeded from ``rng``."""

    def random_normal(self, shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> Array:
        """Standard normal numbers (mean 0, standard deviation 1) of ``dtype``, seeded from
        ``rng`` (GaussianNoise, GaussianDropout)."""

    # ---------------------------------------------------------------------- maths
    def exp(self, a: Array) -> Array: ...
    def log(self, a: Array) -> Array: ...
    def tanh(self, a: Array) -> Array: ...
    def abs(self, a: Array) -> Array: ...
    def sqrt(self, a: Array) -> Array: ...
    def erf(self, a: Array) -> Array: ...

    def expm1(self, a: Array) -> Array:
        """exp(a) - 1, accurate near 0."""

    def log1p(self, a: Array) -> Array:
        """log(1 + a), accurate near 0."""

    def sigmoid(self, a: Array) -> Array:
        """1 / (1 + exp(-a)), without overflow for very negative ``a``."""

    def softplus(self, a: Array) -> Array:
        """log(1 + exp(a)), without overflow for large ``a`` (= a + log1p(exp(-a)) there)."""

    def maximum(self, a: Any, b: Any) -> Array:
        """Elementwise maximum with broadcasting; a NaN wins, as in NumPy."""

    def minimum(self, a: Any, b: Any) -> Array: ...

    def relu_grad(self, grad: Array, out: Array) -> Array:
        """A ReLU's gradient from its output: ``grad * (out > 0)`` in one pass (so -0.0 for a
        negative grad where out <= 0, NaN for a NaN or infinite one), grad and out of one shape
        and dtype."""

    def matmul(
        self, a: Array, b: Array, transpose_a: bool = False, transpose_b: bool = False,
        bias: Array | None = None, relu: bool = False,
    ) -> Array:  # fmt: skip
        """``a @ b`` (leading axes broadcast); ``transpose_a``/``transpose_b`` swap an
        operand's last two axes without a copy. The epilogue, for matrices: + ``bias`` (one
        value per column), then max(., 0) if ``relu`` (NaN stays NaN), as :meth:`bias_relu`
        after the product (on the GPU as the product's kernel writes each entry)."""

    def matmuls(self, *products: tuple[Array, Array, bool, bool] | None) -> list[Array | None]:
        """Each product (a, b, transpose_a, transpose_b) as :meth:`matmul` gives it (None for
        None): a backward's products, which share an operand, in one launch on the GPU."""

    # ---------------------------------------------------------------- convolution
    def im2col(self, x: Array, win: Window) -> Array:
        """(N, H, W, C) -> (N*OH*OW, KH*KW*C): one row per output pixel, its window unrolled
        (cells in the padding read 0)."""

    def col2im(
        self, cols: Array, x_shape: tuple[int, ...], win: Window, out: Array | None = None
    ) -> Array:
        """The adjoint of im2col: each entry of ``cols`` added back where it was read.

        ``out`` here and in the other kernels that take it: an array of the result's shape
        and dtype (a :meth:`empty` one's rows, say; C-contiguous and writeable, not
        overlapping the inputs) that the result is written into and returned as; a new one
        without."""

    def depthwise_conv(self, x: Array, w: Array, win: Window, relu: bool = False) -> Array:
        """Each channel c of x (N, H, W, C) convolved with its own kernels w[:, :, c, m]
        (w is (KH, KW, C, M)): (N, OH, OW, C*M), channel c*M + m from kernel m (Keras's
        order; cells in the padding read 0). ``relu``: of max(x, 0) (a ReLU before it, applied
        as each cell is read; a NaN stays NaN)."""

    def depthwise_conv_input_grad(
        self, grad_out: Array, w: Array, x_shape: tuple[int, ...], win: Window,
        relu_of: Array | None = None,
    ) -> Array:  # fmt: skip
        """The gradient of :meth:`depthwise_conv` with respect to x, from ``grad_out``
        (N, OH, OW, C*M): each output's gradient times its kernel, added back where it read.
        ``relu_of``: the x of a forward with ``relu``: the gradient through that ReLU too,
        times (x > 0) as ``relu_grad``."""

    def depthwise_conv_kernel_grad(
        self, x: Array, grad_out: Array, w_shape: tuple[int, ...], win: Window,
        relu: bool = False,
    ) -> Array:  # fmt: skip
        """The gradient of :meth:`depthwise_conv` with respect to w (KH, KW, C, M): for each
        kernel cell, the sum over images and output pixels of the input cell it read (with
        ``relu``, max(cell, 0)) times the output's gradient."""

    def depthwise_conv_grads(
        self, x: Array, grad_out: Array, w: Array, win: Window, relu: bool = False
    ) -> tuple[Array, Array]:
        """Both gradients of :meth:`depthwise_conv` (``relu``: of max(x, 0)): (the input
        gradient through the ReLU, the kernel gradient), the values of
        :meth:`depthwise_conv_input_grad` and :meth:`depthwise_conv_kernel_grad`; a backend
        may take them in one pass over x and ``grad_out``."""

    def conv_max_pool_2x2(
        self, x: Array, w: Array, bias: Array | None, relu: bool, win: Window
    ) -> tuple[Array, Array]:
        """Direct convolution of x (N, H, W, Cin) with w (KH, KW, Cin, Cout) over ``win``
        (stride 1, no dilation, even output size; cells in the padding read 0), + bias,
        max(., 0) if ``relu``, then 2x2 max pooling: (pooled (N, OH/2, OW/2, Cout); int32
        arg-max, each winner's flat offset (y*OW + x)*Cout + c in the convolution's output).
        The same values and winners as max_pool_forward of the convolution, up to rounding."""

    def conv_max_pool_2x2_kernel_grad(
        self,
        x: Array,
        grad_out: Array,
        out: Array,
        argmax: Array,
        relu: bool,
        w_shape: tuple[int, ...],
        win: Window,
    ) -> tuple[Array, Array]:
        """(kernel gradient (KH, KW, Cin, Cout), bias gradient (Cout,)) of
        :meth:`conv_max_pool_2x2` from ``grad_out`` and its ``out`` and ``argmax``: each
        pooled gradient, masked where the ReLU cut, routed to its window's winner. An arg-max
        that is none of its window's four offsets routes nothing."""

    # Winograd F(2x2, 3x3) for a 3x3 convolution at stride 1 followed by a 2x2 max pool: the
    # transforms on either side of the 16 matrix products (see autoconv.backends.cpu.winograd).
    def winograd_input(self, x: Array, win: Window) -> Array:
        """Images x (N, H, W, C) under a 3x3 stride-1 window ``win`` of even output size (OH,
        OW) -> each 4x4 tile d under a 2x2 block of outputs transformed, B^T d B: (16,
        N*OH/2*OW/2, C), entry 4a + b of tile (n*OH/2 + i)*OW/2 + j first (cells in the
        padding read 0)."""

    def winograd_input_grad(
        self, grad_tiles: Array, x_shape: tuple[int, ...], win: Window, out: Array | None = None
    ) -> Array:
        """The adjoint of :meth:`winograd_input`: the images' gradient (N, H, W, C), each
        tile's B dV B^T added back where the tile was read (``out``: see :meth:`col2im`)."""

    def winograd_max_pool_2x2(
        self,
        products: Array,
        n: int,
        win: Window,
        bias: Array | None,
        relu: bool,
        out: tuple[Array, Array] | None = None,
    ) -> tuple[Array, Array]:
        """From the 16 products (16, N*OH/2*OW/2, Cout) of n images' transformed tiles with
        the transformed kernel: each tile's 2x2 outputs A^T M A, + bias, max(., 0) if
        ``relu``, max pooled 2x2: (pooled (N, OH/2, OW/2, Cout), int32 arg-max as
        :meth:`conv_max_pool_2x2`'s). ``out``: a (maxima, arg-max) pair (see :meth:`col2im`)."""

    def winograd_max_pool_2x2_grad(
        self, grad_out: Array, out: Array, argmax: Array, relu: bool
    ) -> tuple[Array, Array]:
        """(gradient of the 16 products (16, N*PH*PW, Cout), bias gradient (Cout,)) of
        :meth:`winograd_max_pool_2x2` from ``grad_out`` (N, PH, PW, Cout) and its ``out`` and
        ``argmax``: each pooled gradient, masked where the ReLU cut, routed to its window's
        winner, then through A^T M A's adjoint. An arg-max that is none of its window's four
        offsets routes nothing."""

    def bias_relu(self, out: Array, bias: Array | None, relu: bool) -> Array:
        """In place on a (rows, C) product: + bias per column, then max(., 0) if ``relu``
        (NaN stays NaN)."""

    def relu_grad_and_column_sums(self, grad: Array, out: Array) -> tuple[Array, Array]:
        """(grad where ``out`` > 0 else 0, its column sums): the gradient through a ReLU whose
        output was ``out`` (rows, C), and the bias gradient, in one pass."""

    def bias_relu_grad(self, grad: Array, out: Array, relu: bool) -> tuple[Array, Array]:
        """The gradient through :meth:`matmul`'s epilogue, whose output was ``out`` (rows, C):
        (``grad * (out > 0)`` if ``relu`` else ``grad``, its column sums, the bias gradient),
        the same values as those operations and ``.sum(axis=0)`` give (one launch on the GPU
        for a batch of rows: the mask and the sums in one pass)."""

    # -------------------------------------------------------------------- pooling
    def max_pool_forward(
        self,
        x: Array,
        win: Window,
        bias: Array | None = None,
        relu: bool = False,
        out: tuple[Array, Array] | None = None,
    ) -> tuple[Array, Array]:
        """(window maxima (N, OH, OW, C) of x + bias, through max(., 0) if ``relu``; int32
        arg-max, the flat offset (y*W + x)*C + c of each winner in its image). The first
        maximum in row-major order wins; a NaN wins. ``out``: a (maxima, arg-max) pair (see
        :meth:`col2im`)."""

    def max_pool_backward(
        self, grad_out: Array, argmax: Array, x_shape: tuple[int, ...], win: Window
    ) -> Array:
        """Each output gradient routed to its window's winner (overlaps accumulate). An arg-max
        outside the image (not made by max_pool_forward for ``x_shape``) is a ValueError."""

    def avg_pool_forward(self, x: Array, win: Window) -> Array:
        """Window means over the cells inside the image (N, OH, OW, C)."""

    def avg_pool_backward(self, grad_out: Array, x_shape: tuple[int, ...], win: Window) -> Array:
        """Each output gradient spread evenly over the cells its window averaged."""

    # -------------------------------------------------------------- normalization
    def batch_norm_forward(
        self, x: Array, gamma: Array | None, beta: Array | None, epsilon: float,
        mean: Array | None = None, variance: Array | None = None, relu: bool = False,
        bias: Array | None = None,
    ) -> tuple[Array, Array, Array]:  # fmt: skip
        """Normalize each column c of x (rows, C): (out, mean, variance) with out[:, c] =
        (x[:, c] - mean[c]) * scale[c] + beta[c], scale[c] = gamma[c] / sqrt(variance[c] +
        epsilon) (gamma None: 1, beta None: 0), the normalization taken from ``mean`` and
        ``variance`` in x's dtype. Without ``mean`` and ``variance``, they are each column's
        mean and biased variance (divided by rows), returned in x's dtype; given, they are used
        and returned as they are. ``relu``: max(out, 0) instead, in the same pass (a NaN
        stays NaN, as ``maximum``'s). ``bias`` (C,): x + bias stands for x everywhere, added
        in x's dtype as each pass reads x (the bias of the layer before, never written out)."""

    def batch_norm_backward(
        self, grad: Array, x: Array, gamma: Array | None, mean: Array, variance: Array,
        epsilon: float, training: bool, beta: Array | None = None, relu: bool = False,
        bias: Array | None = None,
    ) -> tuple[Array, Array, Array, Array | None]:  # fmt: skip
        """(grad_x, grad_gamma, grad_beta, grad_bias) of :meth:`batch_norm_forward` for the
        output gradient ``grad`` (rows, C). ``training``: ``mean`` and ``variance`` were x's own
        column statistics, so grad_x also flows through them; else they were constants.
        ``relu``: of the forward with ``relu`` (and this ``beta``): ``grad`` counts only where
        the normalized value, found again from x as the forward found it (the same bits), was
        positive, as ``relu_grad`` masks by the output. ``bias``: the forward's; its gradient,
        grad_x's column sums (within rounding: the GPU sums them as it writes grad_x), else
        None."""

    def moving_averages(self, averages: list[Array], values: list[Array], momentum: float) -> None:
        """Each average = average * momentum + value * (1 - momentum), in place (a
        BatchNormalization's moving mean and variance after a training step: one launch on the
        GPU). The arrays of a pair have one shape, and all one dtype."""

    # --------------------------------------------------------------- image sampling
    def resize(self, x: Array, size: tuple[int, int], interpolation: str) -> Array:
        """(N, H, W, C) -> (N, size[0], size[1], C) as ``jax.image.resize`` without
        antialiasing (Keras's ``ops.image.resize``): 'bilinear' with half-pixel centres,
        clamped at the border, or 'nearest' (see :func:`autoconv.backends.sampling.resize_taps`)."""

    def resize_backward(
        self, grad_out: Array, x_shape: tuple[int, ...], interpolation: str
    ) -> Array:
        """The adjoint of resize: each output gradient spread back, with its weights, over the
        input pixels it was interpolated from."""

    def affine_transform(
        self, x: Array, transforms: Array, interpolation: str, fill_mode: str, fill_value: float
    ) -> Array:
        """(N, H, W, C) -> the same shape: output pixel (row i, column j) of image n samples x
        at column a0*j + a1*i + a2, row b0*j + b1*i + b2, with ``transforms`` (N, 8) rows
        [a0, a1, a2, b0, b1, b2, 0, 0] in x's dtype; 'bilinear' or 'nearest', and a Keras
        ``fill_mode`` (constant, nearest, wrap, mirror, reflect) outside the image, as
        ``jax.scipy.ndimage.map_coordinates``."""

    def affine_transform_backward(
        self, grad_out: Array, transforms: Array, interpolation: str, fill_mode: str
    ) -> Array:
        """The adjoint of affine_transform in x: each output gradient added, times its weight,
        to the pixels it was read from (what the fill value gave gets no gradient)."""

    # ----------------------------------------------------------------------- loss
    def log_softmax(self, x: Array) -> Array:
        """log(softmax(x)) along the last axis, stable."""

    def softmax(self, x: Array, axis: int | tuple[int, ...]) -> Array:
        """exp(x) / sum(exp(x)) along ``axis`` (an axis or a tuple of axes, each >= 0), stable:
        the maximum along it subtracted first."""

    def gru_step(self, x: Array, recurrent: Array, h_prev: Array) -> tuple[Array, Array]:
        """(h, gates) of a GRU step with Keras's default activations and ``reset_after``:
        ``x`` and ``recurrent`` (batch, 3 units) the input's and the previous state's
        projections (each with its bias) for z, r and the candidate; z = sigmoid(x_z + rec_z),
        r = sigmoid(x_r + rec_r), hh = tanh(x_h + r * rec_h), h = z * h_prev + (1 - z) * hh;
        ``gates`` the activations z, r, hh (batch, 3 units), kept for the backward pass."""

    def gru_step_grad(
        self, gates: Array, recurrent: Array, h_prev: Array, grad_h: Array
    ) -> tuple[Array, Array, Array]:
        """(grad of x, grad of recurrent, grad of h_prev) of :meth:`gru_step`."""

    def lstm_step(self, z: Array, c_prev: Array) -> tuple[Array, Array, Array, Array]:
        """(h, c, gates, tanh(c)) of an LSTM step with Keras's default activations: ``z``
        (batch, 4 units) the pre-activations of the gates i, f, g, o (sigmoid, sigmoid, tanh,
        sigmoid; their activations ``gates`` are kept for the backward pass); c = f * c_prev +
        i * g and h = o * tanh(c), (batch, units)."""

    def lstm_step_grad(
        self, gates: Array, c_prev: Array, tanh_c: Array, grad_h: Array, grad_c: Array
    ) -> tuple[Array, Array]:
        """(grad of z, grad of c_prev) of :meth:`lstm_step` from the gradients of its h and c
        (each (batch, units))."""

    def ctc_loss(
        self, log_probs: Array, targets: Any, target_lengths: Any, input_lengths: Any, blank: int
    ) -> tuple[Array, Array]:
        """(alpha (N, T, 2 L + 1), loss (N,)): the connectionist temporal classification forward
        variables (log space) and -log p(labels | input) of each sample, from log-probabilities
        (N, T, C), targets (N, L) and lengths (N,) of any numeric dtype (host or device). A
        sample with a length or label out of range gets NaN; one whose labels cannot fit its
        input, an infinite loss."""

    def ctc_loss_grad(
        self, log_probs: Array, targets: Any, target_lengths: Any, input_lengths: Any,
        blank: int, alpha: Array, loss: Array, grad_loss: Array,
    ) -> Array:  # fmt: skip
        """d(sum(grad_loss * loss))/d(logits) (N, T, C) for the logits of ``log_probs``:
        softmax minus the labels' posteriors up to each sample's input length, 0 after it (NaN
        for an invalid or unalignable sample)."""

    def softmax_cross_entropy(self, logits: Array, target: Array) -> tuple[Array, Any]:
        """(log_softmax(logits), mean over rows of -sum(target * log_softmax)): (N..., C)."""

    def softmax_cross_entropy_grad(self, log_probs: Array, target: Array, grad_loss: Any) -> Array:
        """d(mean loss)/d(logits) * grad_loss: (softmax * sum(target) - target) * g / rows."""

    def sigmoid_cross_entropy(self, logits: Array, target: Array) -> Array:
        """Elementwise -z log(sigmoid(x)) - (1 - z) log(1 - sigmoid(x)) of logits x and
        targets z (one shape), computed as max(x, 0) - x * z + log(1 + exp(-|x|)): no
        overflow. One pass."""

    def sigmoid_cross_entropy_grad(self, grad: Array, logits: Array, target: Array) -> Array:
        """:meth:`sigmoid_cross_entropy`'s gradient for the logits times ``grad`` (all one
        shape): grad * (sigmoid(x) - z), sigmoid(x) as exp(min(x, 0)) / (1 + exp(-|x|)). One
        pass."""

    def count_correct(self, scores: Array, target: Array) -> Any:
        """How many rows of ``scores`` (N..., C) are largest at the true class; ``target``
        holds labels (N...) or rows (N..., C). A number, or a 0-d array on the device."""

    # ----------------------------------------------------------------- optimizers
    # Each ``*_update`` is Keras 3's ``update_step`` of that optimizer, fused with what Keras's
    # base optimizer does before it, in one pass over the parameter ``value``, in place, with
    # the rules of :mod:`autoconv.backends.rules`: the gradient times ``scale`` (a 0-d array
    # from :meth:`clip_scale`, or None: clipping by norm), then clipped into
    # [-clipvalue, clipvalue] (when clipvalue > 0), the weight decayed to value - value*decay
    # (decay = learning rate * weight_decay), then the update. Slots are arrays of the
    # parameter's shape, updated in place; an optional one is None when the option is off.
    # Scalars are Python floats, cast to the parameter's dtype. Nothing happens once ``status``
    # is set. The element rules and these functions' bodies are :mod:`autoconv.backends.rules`.
    # Several parameters at once: ``value``, ``grad``, each slot in use, ``scale`` and
    # ``decay`` are then lists with an entry per parameter (parameters may differ in shape and
    # dtype), all updated in one pass: on the GPU one launch per dtype.
    def clip_scale(self, grads: list[Array], clipnorm: float, per_tensor: bool) -> Array:
        """The factor that clips gradients by L2 norm, a 0-d array of their dtype computed on
        the device (no host read). ``per_tensor`` (Keras's ``clipnorm``, one gradient):
        clipnorm / max(norm, clipnorm); else (``global_clipnorm``, the norm of all ``grads``
        together): clipnorm * min(1/norm, 1/clipnorm) + (norm - norm), NaN unless finite."""

    def trust_ratios(self, values: list[Array], directions: list[Array]) -> list[Array]:
        """LAMB's trust ratio of each parameter, |value| / |direction| (L2 norms; 1 where
        either is 0 or NaN), a one-element array of its dtype on its device."""

    def adafactor_factors(
        self, values: list[Array], gradients: list[Array], rows: list[Array | None],
        columns: list[Array | None], velocities: list[Array], scalars: Any, status: Array,
    ) -> list[Array]:  # fmt: skip
        """Adafactor's second moments and step sizes, after ``adafactor_update`` (lists, one
        entry per parameter). ``scalars()`` gives (beta, 1 - beta, epsilon_1, epsilon_2,
        clip_threshold); on the GPU a step input, so a replayed step calls it anew. With
        regulated = gradient^2 + epsilon_1: a parameter of rank >= 2 has its ``rows``
        (shape[:-1]) = beta*rows + (1-beta)*mean(regulated, -1) and ``columns`` (shape[:-2] +
        shape[-1:]) likewise with the mean over axis -2, and velocity = rows / mean(rows, -1)
        (outer, over the last two axes) columns; one of rank < 2 (its rows and columns None)
        velocity = beta*velocity + (1-beta)*regulated. Then gradient = gradient /
        sqrt(velocity), in place (0 where the velocity underflowed to 0: a gradient row and
        column all zero, where Keras divides 0 by 0 and the layer becomes NaN), and the
        result is each parameter's max(epsilon_2, rms(value)) / max(1, rms(gradient) /
        clip_threshold) (rms: the root of the mean square), a one-element array of its dtype
        on its device: the scale of its step. Nothing is written once ``status`` is set."""

    def apply_update(
        self, rule: str, values: list[Array], grads: list[Array], slots: list[Any],
        scalars: Any, scales: list[Any], clipvalue: float, status: Array,
    ) -> None:  # fmt: skip
        """The update rule ``rule`` (one of :data:`autoconv.backends.rules.RULES`) over every
        parameter of ``values`` in place (lists, one entry per parameter; each of ``slots`` a
        list, or None for a slot not in use). ``scalars()`` gives (hyper, decays): the rule's
        scalars and each parameter's decay; on the GPU they are a step input, so a replayed
        step calls it anew. The ``*_update`` functions below are this one with their
        arguments made into a rule's (:class:`autoconv.backends.rules.Updates`)."""

    def sgd_update(
        self, value: Array, grad: Array, velocity: Array | None, lr: float, momentum: float,
        nesterov: bool, scale: Array | None, clipvalue: float, decay: float, status: Array,
    ) -> None:  # fmt: skip
        """SGD: value -= lr*g, or with momentum velocity = momentum*velocity - lr*g, then
        value += velocity (Nesterov: value += momentum*velocity - lr*g)."""

    def rmsprop_update(
        self, value: Array, grad: Array, velocity: Array, momentum_slot: Array | None,
        average_grad: Array | None, lr: float, rho: float, momentum: float, epsilon: float,
        scale: Array | None, clipvalue: float, decay: float, status: Array,
    ) -> None:  # fmt: skip
        """RMSprop: velocity = rho*velocity + (1-rho)*g^2; increment = lr*g / sqrt(velocity
        + eps) (centered, with ``average_grad``: sqrt(velocity - average^2 + eps)); with
        momentum, momentum_slot = momentum*momentum_slot + increment is subtracted instead."""

    def adam_update(
        self, value: Array, grad: Array, m: Array, v: Array, v_hat: Array | None, alpha: float,
        beta_1: float, beta_2: float, epsilon: float, scale: Array | None, clipvalue: float,
        decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Adam with alpha = lr*sqrt(1-beta_2^t)/(1-beta_1^t): value -= alpha*m /
        (sqrt(v) + eps); AMSGrad with ``v_hat`` = max(v_hat, v) in place of v."""

    def nadam_update(
        self, value: Array, grad: Array, m: Array, v: Array, lr: float, beta_1: float,
        beta_2: float, epsilon: float, u: float, u_next: float, u_product: float,
        u_product_next: float, beta_2_power: float, scale: Array | None, clipvalue: float,
        decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Nadam at step t: u = u_t, u_next = u_{t+1}, u_product = u_1*...*u_t,
        u_product_next = u_product*u_{t+1}, beta_2_power = beta_2^t."""

    def adamax_update(
        self, value: Array, grad: Array, m: Array, u: Array, lr: float, beta_1: float,
        beta_2: float, epsilon: float, beta_1_power: float, scale: Array | None,
        clipvalue: float, decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Adamax: u = max(beta_2*u, |g|); value -= lr*m / ((1 - beta_1^t)*(u + eps))."""

    def lamb_update(
        self, value: Array, grad: Array, m: Array, v: Array, direction: Array, beta_1: float,
        beta_2: float, epsilon: float, step: int, scale: Array | None, clipvalue: float,
        decay: float, status: Array,
    ) -> None:  # fmt: skip
        """LAMB's first part at step t: m and v as Adam's, direction = (m / (1 - beta_1^t)) /
        (sqrt(v / (1 - beta_2^t)) + eps); the value only decayed. The step, value -= lr *
        trust ratio * direction, is an ``sgd_update`` scaled by :meth:`trust_ratios`."""

    def adafactor_update(
        self, value: Array, grad: Array, gradient: Array, scale: Array | None, clipvalue: float,
        decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Adafactor's first part: the value only decayed and the clipped gradient written into
        ``gradient``; :meth:`adafactor_factors` and an ``sgd_update`` scaled by its result (at
        learning rate min(lr, 1/sqrt(t))) do the rest."""

    def adagrad_update(
        self, value: Array, grad: Array, accumulator: Array, lr: float, epsilon: float,
        scale: Array | None, clipvalue: float, decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Adagrad: accumulator += g^2; value -= lr*g / sqrt(accumulator + eps)."""

    def adadelta_update(
        self, value: Array, grad: Array, accumulated_grad: Array, accumulated_delta: Array,
        lr: float, rho: float, epsilon: float, scale: Array | None, clipvalue: float,
        decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Adadelta: delta = -sqrt(accumulated_delta + eps)*g / sqrt(accumulated_grad + eps)
        with the new accumulated_grad; value += lr*delta."""

    def lion_update(
        self, value: Array, grad: Array, m: Array, lr: float, beta_1: float, beta_2: float,
        scale: Array | None, clipvalue: float, decay: float, status: Array,
    ) -> None:  # fmt: skip
        """Lion: value -= lr*sign(beta_1*m + (1-beta_1)*g); m = beta_2*m + (1-beta_2)*g."""

    def ftrl_update(
        self, value: Array, grad: Array, accumulator: Array, linear: Array, lr: float,
        learning_rate_power: float, l1: float, l2: float, l2_shrinkage: float, beta: float,
        scale: Array | None, clipvalue: float, decay: float, status: Array,
    ) -> None:  # fmt: skip
        """FTRL-proximal as Keras writes it (accumulator and linear slots)."""

    # ------------------------------------------------------------------- training
    def accumulate_gradient(self, total: Array, grad: Array, status: Array) -> None:
        """total += grad in place (gradient accumulation's steps between updates)."""

    def release_gradient(self, total: Array, grad: Array, steps: int, status: Array) -> Array:
        """(grad + total) / steps, the gradient of an update after accumulating; ``total`` is
        zeroed in place."""

    def ema_update(
        self, average: Array, value: Array, momentum: float, overwrite: bool, status: Array
    ) -> None:
        """average = momentum * average + (1 - momentum) * value in place (the optimizer's
        moving average of a weight, ``use_ema``), then, with ``overwrite``, value = average."""

    def guarded_copy(self, target: Array, source: Array, status: Array) -> None:
        """target = source in place (``source`` of target's shape and dtype): a weight's
        constraint written back after an optimizer step."""

    # ------------------------------------------------------ recorded and replayed steps
    def step_input(self, compute: Any, dtype: Any) -> Array:
        """``compute()`` (a value the host computes at each step: the batch's place, a seed, a
        learning rate) as an array of ``dtype``; in a recorded step, a replay computes it again
        (so ``compute`` reads the live state, never a value captured when it was made)."""

    def recording(self) -> Any:
        """A context manager recording this thread's step; it gives the tape (None where the
        backend does not replay steps)."""

    def difference(self, first: Any, second: Any) -> str | None:
        """None when the tape ``second`` can be replayed as the step ``first`` recorded before
        it, else why not."""

    def replay(self, tape: Any) -> Any:
        """The replay of the step ``tape`` recorded (the device's work only): ``stage()``
        computes the next step's inputs, ``launch()`` runs the steps staged since the last
        launch (together), calling it does both for one step."""

    def new_status(self) -> Array:
        """A clean status: int64 [0, 0]."""

    def check_finite(self, values: Array, code: int, step: int, status: Array) -> None:
        """Set ``status`` to (code, step) if ``values`` hold a NaN or infinity and it is clean."""

    def check_step(self, loss: Array, grads: list[Array], step: Array, status: Array) -> None:
        """A training step's checks in one pass (one launch per dtype of ``grads`` on the GPU):
        ``check_finite(loss, 1, step[0], status)``, then ``check_finite(grad, 2, step[0],
        status)`` for each of ``grads``. ``loss`` holds a few values (a 0-d loss); ``step`` is
        a one-element int64 array (a step input: a replayed step marks its own number)."""

    def update_metrics(
        self, loss_total: Array | None, loss_count: Array | None, loss: Any, weight: float,
        total: Array | None, count: Array | None, scores: Array | None, target: Array | None,
    ) -> None:  # fmt: skip
        """Keras's running means of a training step in place, each in its state's dtype, as
        their out-of-place sums would compute them: the loss tracker's (``loss_total`` +=
        ``loss`` * ``weight``, ``loss_count`` += ``weight``; ``loss`` 0-d) and an argmax
        accuracy's (``total`` += ``count_correct(scores, target)``, ``count`` += the rows of
        ``scores`` (N, C)). Either group may be None; one launch on the GPU. Unlike
        ``accumulate`` they go on whatever the status says, as Keras's metrics do."""

    def accumulate(self, totals: Array, loss: Any, correct: Any, count: int, status: Array) -> None:
        """totals (float64 [loss*count, correct, count]) += this batch's, unless status is set."""


def constants() -> tuple[str, ...]:
    """Every constant of the contract (an int each backend module defines)."""
    return tuple(Backend.__annotations__)


def names() -> tuple[str, ...]:
    """Every function name of the contract, in the order above."""
    return tuple(name for name in Backend.__dict__ if not name.startswith("_"))


def signature(name: str) -> inspect.Signature:
    """The contract's signature of ``name``, without ``self`` and without annotations."""
    parameters = list(inspect.signature(getattr(Backend, name)).parameters.values())[1:]
    return inspect.Signature([p.replace(annotation=inspect.Parameter.empty) for p in parameters])
