"""Compile every float32 CUDA kernel of autoconv to PTX for sm_90 (H100) and print, as JSON,
how many float64 instructions each has, plus a deliberately float64 control kernel.

Its list of kernels is what tests/backends/disk_cache.py compiles (and counts, for
tests/backends/test_cuda_ptx.py); run on its own, without the CUDA simulator, it prints the
same counts. Needs NVVM (numba-cuda's cu12 extra) but no GPU: numba asks the current device for
its compute capability when it compiles device functions, so that question is answered with
sm_90 here.
Exit code 3: NVVM is not installed.
"""

import json
import re
import sys
import types as pytypes

from numba import cuda, types
from numba.cuda import dispatcher

dispatcher.get_current_device = lambda: pytypes.SimpleNamespace(compute_capability=(9, 0))

from autoconv.backends import rules  # noqa: E402
from autoconv.backends.cuda import (  # noqa: E402
    array,
    conv,
    conv_pool,
    depthwise_kernels,
    elementwise,
    embedding,
    gemm,
    image,
    index,
    loss,
    norm,
    optimizers,
    pool,
    random,
    reduce,
    runtime,
    training,
    winograd,
)

f32, i64, i32 = types.float32, types.int64, types.int32
A1 = types.Array(f32, 1, "C")
A2 = types.Array(f32, 2, "C")
A3 = types.Array(f32, 3, "C")
A4 = types.Array(f32, 4, "C")
I1 = types.Array(i64, 1, "C")
I4 = types.Array(i32, 4, "C")
W1 = types.Array(i32, 1, "C")  # an arg-max, flat
T4, T6 = types.UniTuple(i64, 4), types.UniTuple(i64, 6)
P1, P3 = types.UniTuple(A1, 1), types.UniTuple(A1, 3)  # one array per parameter
S3 = types.UniTuple(i64, 4)  # where each of three parameters' elements start, and the end
B = types.boolean
TAPS = (types.Array(i32, 1, "C"), types.Array(i32, 1, "C"), A1)  # start, index, weight
# A column-sum kernel (reduce.sum_columns) of an entry function: its arguments (a tuple of the
# entry's), then the rows, zero, the columns, the sums (head, tail, split), the chunks'
# partial sums, the counters of chunks done.
# An elementwise kernel's args: two arrays, an array and a scalar, one array (each with its
# strides and the shape).
ARRAYS = types.Tuple((A1, T6, A1, T6, T6))
WITH_SCALAR = types.Tuple((A1, T6, f32, B, T6))
UNARY = types.Tuple((A1, T6, T6))
SUMS = (i64, types.Tuple((A1, A1, i64)), A2, types.Array(i32, 1, "C"))


def column_sums(entry, *args):
    return reduce._column_sum_kernel(entry, "<f4"), (types.Tuple(args), i64, f32, *SUMS)


# The depthwise kernels' signatures: forward, input gradient, kernel gradient's parts, one pass.
DEPTHWISE = (
    (A1, T4, A1, i64, i64, A1, T4, f32, i64, i64),
    (A1, T4, A1, i64, i64, A1, T4, f32, A1, i64, i64),
    (A1, T4, A1, T4, i64, i64, A1, f32, i64, i64),
    (A1, T4, A1, A1, i64, i64, A1, A1, f32, i64, i64),
)

PLAIN = (gemm.BLOCK, gemm.BLOCK, False, False)  # the matmul kernel's tiling of most products

KERNELS = {
    "binary add": (elementwise._binary_kernels("add")[0], (A1, ARRAYS)),
    "binary mul scalar": (elementwise._binary_kernels("mul")[1], (A1, WITH_SCALAR)),
    "binary pow": (elementwise._binary_kernels("pow")[0], (A1, ARRAYS)),
    "greater": (elementwise._binary_kernels("greater")[0], (A1, ARRAYS)),
    "relu_grad": (elementwise._binary_kernels("relu_grad")[0], (A1, ARRAYS)),
    "maximum scalar": (elementwise._binary_kernels("maximum")[1], (A1, WITH_SCALAR)),
    "maximum scalar, flat": (
        elementwise._binary_kernels("maximum", elementwise.READ_FLAT)[1],
        (A1, WITH_SCALAR),
    ),
    "relu_grad, flat": (
        elementwise._binary_kernels("relu_grad", elementwise.READ_FLAT, elementwise.READ_FLAT)[0],
        (A1, ARRAYS),
    ),
    "mul, flat by one": (
        elementwise._binary_kernels("mul", elementwise.READ_FLAT, elementwise.READ_ONE)[0],
        (A1, ARRAYS),
    ),
    "unary exp": (elementwise._unary_kernel("exp"), (A1, UNARY)),
    "unary log": (elementwise._unary_kernel("log"), (A1, UNARY)),
    "unary tanh": (elementwise._unary_kernel("tanh"), (A1, UNARY)),
    "unary sqrt": (elementwise._unary_kernel("sqrt"), (A1, UNARY)),
    "unary abs": (elementwise._unary_kernel("abs"), (A1, UNARY)),
    "unary erf": (elementwise._unary_kernel("erf"), (A1, UNARY)),
    "unary expm1": (elementwise._unary_kernel("expm1"), (A1, UNARY)),
    "unary log1p": (elementwise._unary_kernel("log1p"), (A1, UNARY)),
    "unary sigmoid": (elementwise._unary_kernel("sigmoid"), (A1, UNARY)),
    "unary softplus": (elementwise._unary_kernel("softplus"), (A1, UNARY)),
    "fill": (array._fill, (A1, f32)),
    "copy_into": (array._copy_into, (A1, A1)),
    "reduce sum": (reduce._reduce_kernel("sum", "<f4"), (A1, A1, T6, T6, T6, T6, i64, f32)),
    "reduce max": (reduce._reduce_kernel("max", "<f4"), (A1, A1, T6, T6, T6, T6, i64, f32)),
    # One product, and two in one launch on the plain tiles (a launch's count of products
    # changes only its tuples' length, not the code: 30 s of compiles for every tiling): per
    # product its operands, output, parts, element strides, sizes and first block; then zero,
    # the bias, the epilogue's flags, the counters.
    **{
        f"matmul of {count}, tiles {rows}x{columns}{' tf32' * tf32}{' wide' * wide}": (
            gemm._matmul_kernel("<f4", rows, columns, tf32, wide),
            (
                *(types.UniTuple(A1, count),) * 4,
                types.UniTuple(types.UniTuple(i64, 6), count),
                types.UniTuple(types.UniTuple(i64, 6), count),
                types.UniTuple(i64, count),
                f32,
                A1,
                i64,
                types.Array(i32, 1, "C"),
            ),
        )
        for rows, columns, tf32, wide in (
            (gemm.BLOCK, gemm.BLOCK, False, False),
            (2 * gemm.BLOCK, gemm.BLOCK // 2, False, False),
            (gemm.BLOCK, gemm.BLOCK // 2, False, False),  # split products of 32 columns
            (gemm.BLOCK // 2, gemm.BLOCK, False, False),  # products of 32 rows
            (64, 64, True, False),  # tensor cores: 2 x 2 fragments a warp
            (128, 128, True, False),  # 4 x 4 (a GPU's TC_TILE)
            (gemm.BLOCK, gemm.BLOCK, False, True),  # 64-bit offsets into the operands
        )
        for count in ((1, 2) if (rows, columns, tf32, wide) == PLAIN else (1,))
    },
    "im2col 3x3": (
        conv._window_kernels(3, 3, 1, 1, 1, 1)[0],
        (A1, T4, *(i64,) * 4, A1, f32, i64, i64),
    ),
    "col2im 3x3": (
        conv._window_kernels(3, 3, 1, 1, 1, 1)[1],
        (A1, *(i64,) * 4, A1, T4, f32, i64, i64),
    ),
    "im2col 3x3, 64-bit offsets": (
        conv._window_kernels(3, 3, 1, 1, 1, 1, True)[0],
        (A1, T4, *(i64,) * 4, A1, f32, i64, i64),
    ),
    "col2im 3x3, 64-bit offsets": (
        conv._window_kernels(3, 3, 1, 1, 1, 1, True)[1],
        (A1, *(i64,) * 4, A1, T4, f32, i64, i64),
    ),
    "col2im 3x3 stride 2": (
        conv._window_kernels(3, 3, 2, 2, 1, 1)[1],
        (A1, *(i64,) * 4, A1, T4, f32, i64, i64),
    ),
    **{
        f"depthwise_conv{name} 3x3{' of a relu' * relu}{', 64-bit offsets' * wide}": (
            kernel,
            signature,
        )
        for relu, wide in ((False, False), (True, False), (True, True))
        for name, kernel, signature in zip(
            ("", " input grad", " kernel grad parts", " grads in one pass"),
            depthwise_kernels.depthwise_kernels(3, 3, 1, 1, 1, 1, 1, "<f4", relu, wide),
            DEPTHWISE,
            strict=True,
        )
    },
    **{  # the forward and the one pass walked down the columns, of a ReLU (all their code)
        f"depthwise_conv{name} 3x3 of a relu, down the columns": (kernel, signature)
        for name, kernel, signature in zip(
            ("", " grads in one pass"),
            depthwise_kernels.depthwise_kernels(3, 3, 1, 1, 1, 1, 1, "<f4", True, False, True)[::3],
            DEPTHWISE[::3],
            strict=True,
        )
    },
    "conv_max_pool_2x2 3x3 gray": (
        conv_pool._conv_max_pool_2x2(3, 3, 1, 32, 4, 8, "<f4", runtime.THREADS),
        (A1, T4, A1, A1, B, f32, i64, i64, A1, T4, W1, i64),
    ),
    "conv_max_pool_2x2 3x3 rgb": (
        conv_pool._conv_max_pool_2x2(3, 3, 3, 16, 4, 4, "<f4", runtime.THREADS),
        (A1, T4, A1, A1, B, f32, i64, i64, A1, T4, W1, i64),
    ),
    "conv_max_pool_2x2 kernel grad": (
        reduce._column_sum_kernel(
            conv_pool._direct_kernel_grad_entry(13, 13),
            "<f4",
            conv_pool._direct_kernel_grad_column,
            True,
        ),
        (types.Tuple((A1, T4, A1, A1, W1, B, *(i64,) * 5, f32)), i64, f32, *SUMS),
    ),
    **{
        f"conv_max_pool_2x2 kernel grad parts 3x3 {name}": (
            conv_pool._direct_kernel_grad_parts(3, 3, channels, "<f4", runtime.THREADS),
            (A1, T4, A1, A1, W1, B, f32, i64, i64, T4, A1, i64, i64),
        )
        for name, channels in (("gray", 1), ("rgb", 3))
    },
    "winograd input": (winograd._input_tiles, (A1, T4, *(i64,) * 4, A1, f32, i64, i64)),
    "winograd input grad": (winograd._input_tiles_grad, (A1, *(i64,) * 4, A1, T4, f32, i64, i64)),
    "winograd max_pool": (winograd._output_max_pool, (A1, A1, B, f32, A1, T4, W1, i64, i64)),
    "winograd max_pool grad and bias sums": column_sums(
        winograd._routed_entry(5, 5, False), A1, A1, W1, B, f32, A1, i64, i64
    ),
    "bias_relu": (conv._bias_relu, (A1, A1, B, f32, i64, i64)),
    "masked column sums": column_sums(conv._masked_entry, A2, A2, A2, B, f32, f32),
    "column sums": column_sums(reduce._entry, A2),
    "run sums": (
        reduce._column_sum_kernel(reduce._run_entry, "<f4", reduce._run_column),
        (types.Tuple((A1, i64, i64)), i64, f32, *SUMS),
    ),
    "max_pool fwd 3x3 stride 2": (
        pool._max_pool_kernels(3, 3, 2, 2, "<f4")[0],
        (A1, T4, A1, B, f32, i64, i64, A1, T4, W1, i64, i64),
    ),
    "max_pool bwd 3x3 stride 2": (
        pool._max_pool_kernels(3, 3, 2, 2, "<f4")[1],
        (A1, T4, W1, i64, i64, A1, T4, f32, i64, i64),
    ),
    "max_pool bwd 2x2": (
        pool._max_pool_kernels(2, 2, 2, 2, "<f4")[1],
        (A1, T4, W1, i64, i64, A1, T4, f32, i64, i64),
    ),
    "max_pool fwd 3x3 stride 2, 64-bit": (
        pool._max_pool_kernels(3, 3, 2, 2, "<f4", True)[0],
        (A1, T4, A1, B, f32, i64, i64, A1, T4, W1, i64, i64),
    ),
    "max_pool bwd 3x3 stride 2, 64-bit": (
        pool._max_pool_kernels(3, 3, 2, 2, "<f4", True)[1],
        (A1, T4, W1, i64, i64, A1, T4, f32, i64, i64),
    ),
    "avg_pool fwd 3x3 stride 2": (
        pool._avg_pool_kernels(3, 3, 2, 2, "<f4")[0],
        (A1, T4, i64, i64, A1, T4, i64, i64),
    ),
    "avg_pool bwd 3x3 stride 2": (
        pool._avg_pool_kernels(3, 3, 2, 2, "<f4")[1],
        (A1, T4, i64, i64, A1, T4, i64, i64),
    ),
    "batch_norm moments": (
        norm._batch_norm_kernels("<f4")[0],
        (A1, i64, A1, B, A1, A1, i64, i64),
    ),
    "batch_norm moments merged": (
        norm._merge_moments("<f4"),
        (A1, i64, A1, B, A1, A1, A1, A1),
    ),
    "batch_norm fwd": (
        norm._batch_norm_kernels("<f4")[1],
        (A1, i64, A1, B, A1, A1, f32, B, A1, A1, A1, i64, i64),
    ),
    "batch_norm gradient sums": (
        norm._batch_norm_kernels("<f4")[2],
        (A1, A1, i64, A1, B, A1, A1, A1, A1, f32, B, A1, i64, i64),
    ),
    "batch_norm bwd": (
        norm._batch_norm_kernels("<f4")[3],
        (A1, A1, i64, A1, B, A1, A1, A1, A1, f32, B, B, A1, A1, A1, A1, A1, i64, i64),
    ),
    "log_softmax": (loss._log_softmax_rows, (A1, i64, A1, f32)),
    "softmax": (loss._softmax_rows, (A1, i64, A1, f32)),
    "softmax_cross_entropy": (
        loss._softmax_cross_entropy_kernel("<f4"),
        (A1, A1, i64, i64, A1, A1),
    ),
    "softmax_cross_entropy_grad": (
        loss._softmax_cross_entropy_grad_rows,
        (A1, A1, i64, A1, f32, A1, f32),
    ),
    "sigmoid_cross_entropy": (loss._sigmoid_cross_entropy, (A1, A1, A1)),
    "sigmoid_cross_entropy_grad": (loss._sigmoid_cross_entropy_grad, (A1, A1, A1, A1)),
    "count_correct one-hot": (loss._count_correct, (A1, A1, i64, B, types.Array(i32, 1, "C"))),
    "count_correct labels": (
        loss._count_correct,
        (A1, types.Array(i32, 1, "C"), i64, B, types.Array(i32, 1, "C")),
    ),
    "argmax": (reduce._argmax_rows, (A1, i64, types.Array(i32, 1, "C"))),
    "uniform": (random._uniform_kernel("<f4"), (types.Array(types.uint64, 1, "C"), A1)),
    **{
        f"{rule} update": (optimizers._kernel(rule, 0b111), (*(P3,) * 6, f32, A1, S3, I1))
        for rule in rules.RULES
    },
    "rmsprop update, two slots off": (  # a slot not in use: a tuple of one array
        optimizers._kernel("rmsprop", 0b001),
        (P3, P3, P3, P1, P1, P3, f32, A1, S3, I1),
    ),
    "accumulate_gradient": (optimizers._accumulate_gradient, (A1, A1, I1)),
    "release_gradient": (optimizers._release_gradient, (A1, A1, f32, A1, I1)),
    "ema_update": (optimizers._ema_update, (A1, A1, f32, f32, B, I1)),
    "guarded_copy": (optimizers._guarded_copy, (A1, A1, I1)),
    "check_step": (training._check_step, (A1, P3, S3, I1, I1)),
    **{
        f"update_metrics, {kind}": (
            training._update_metrics_kernel("<f4"),
            (*(A1,) * 3, f32, *(A1,) * 3, target, i64, B, i64, i64),
        )
        for kind, target in (("one-hot", A1), ("labels", types.Array(i32, 1, "C")))
    },
    "sum of squares": (optimizers._sum_of_squares_kernel("<f4"), (A1, A1, i64, f32)),
    "clip_scale": (optimizers._clip_scale, (A1, f32, B, f32, f32, A1)),
    "trust_ratios": (optimizers._trust_ratios, (A1, A1, f32)),
    "adafactor moments": (optimizers._adafactor_moments, (A1, A1, A1, i64, i64, f32, f32, A1, I1)),
    "adafactor row means": (optimizers._adafactor_row_means, (A1, i64, f32, A1)),
    "adafactor scale": (optimizers._adafactor_scale, (*(A1,) * 5, i64, i64, B, A1, I1)),
    "adafactor ratio": (optimizers._adafactor_ratio, (A1, f32, A1, f32, A1)),
    "normal": (random._normal_kernel("<f4"), (types.Array(types.uint64, 1, "C"), A1)),
    "gather": (index._gather, (A1, I1, A1)),
    "take_rows": (
        elementwise._elementwise_kernel(index._row_entry),
        (A1, types.Tuple((A1, i64, i64, types.Array(i32, 1, "C"), I1, f32))),
    ),
    "scatter_add_rows": (embedding._scatter_add_rows, (A1, i64, I1, A1)),
    "resample": (image._resample, (A4, *TAPS, *TAPS, A4, f32)),
    "affine fwd": (image._affine_forward, (A4, A2, B, i64, f32, f32, f32, A4)),
    "affine bwd": (image._affine_backward, (A4, A2, B, i64, f32, f32, A4)),
}


def float64_count(ptx: str) -> int:
    """The lines of PTX with a float64 instruction."""
    return sum(bool(re.search(r"\.f64\b", line)) for line in ptx.splitlines())


def float64_lines(pyfunc, signature) -> int:
    ptx, _ = cuda.compile_ptx(pyfunc, signature, cc=(9, 0))
    return float64_count(ptx)


def control(a, rho):  # an int literal next to a float32: numba computes in float64
    a[0] = a[0] * (1 - rho)


if __name__ == "__main__":
    try:
        counts = {"control": float64_lines(control, (A1, f32))}
    except Exception as error:  # no NVVM (or no CUDA toolkit libraries) here
        print(f"cannot compile PTX: {error}", file=sys.stderr)
        sys.exit(3)
    counts |= {name: float64_lines(k.py_func, sig) for name, (k, sig) in KERNELS.items()}
    print(json.dumps(counts))
