"""The convolution ops of autoconv/ops/convolution.py (conv2d and its fused ReLU, grouped and
1-D convolutions, conv2d_max_pool by each route, batches in slices): the worked examples of
SPEC.md, parametrized gradcheck sweeps, PyTorch parity.

(Over ~600 lines on purpose: one module's ops, which share the reference convolution and the
routes' settings the tests change.)"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autoconv as ac
from autoconv.ops import convolution as conv_ops
from autoconv.testing import gradcheck
from autoconv.windows import as_pair, padding_amounts
from tests.conftest import distinct

IMAGE_1 = [[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]]
KERNEL_1 = [[0, 1, 2], [2, 2, 0], [0, 1, 2]]
IMAGE_2 = [
    [105, 102, 100, 97, 96],
    [103, 99, 103, 101, 102],
    [101, 98, 104, 102, 100],
    [99, 101, 106, 104, 99],
    [104, 104, 104, 100, 98],
]
SHARPEN = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]


def single(image) -> np.ndarray:
    """A 2-D list as a (1, H, W, 1) image or a (KH, KW, 1, 1) kernel."""
    array = np.array(image, dtype=np.float64)
    return array.reshape(1, *array.shape, 1)


def kernel(k) -> np.ndarray:
    array = np.array(k, dtype=np.float64)
    return array.reshape(*array.shape, 1, 1)


def reference_conv2d(x, w, b, stride, padding, dilation):
    """Direct loops over output pixels: slow and obviously right."""
    (sh, sw), (dh, dw) = as_pair(stride, "s", "ref"), as_pair(dilation, "d", "ref")
    kh, kw, _, c_out = w.shape
    pads = padding if isinstance(padding, tuple) else (padding, padding)
    top, bottom = padding_amounts(pads[0], x.shape[1], kh, sh, dh, "ref")
    left, right = padding_amounts(pads[1], x.shape[2], kw, sw, dw, "ref")
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            patch = xp[
                :,
                i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                j * sw : j * sw + dw * (kw - 1) + 1 : dw,
            ]
            out[:, i, j] = np.einsum("nabc,abcd->nd", patch, w)
    return out if b is None else out + b


# ------------------------------------------------------------------ worked examples
def test_worked_example_1_valid():
    out = ac.conv2d(single(IMAGE_1), kernel(KERNEL_1), padding="valid")
    np.testing.assert_array_equal(out.data[0, :, :, 0], [[12, 12, 17], [10, 17, 19], [9, 6, 14]])


def test_worked_example_2_sharpen_same():
    out = ac.conv2d(single(IMAGE_2), kernel(SHARPEN), padding="same")
    assert out.shape == (1, 5, 5, 1)
    assert out.data[0, 0, 0, 0] == 320
    expected = reference_conv2d(single(IMAGE_2), kernel(SHARPEN), None, 1, "same", 1)
    np.testing.assert_array_equal(out.data, expected)


@pytest.mark.parametrize(
    ("n", "f", "p", "s", "expected"),
    [(7, 3, 0, 1, 5), (7, 3, 0, 2, 3), (6, 3, 1, 1, 6), (9, 3, 1, 2, 5), (28, 3, 0, 1, 26)],
)
def test_worked_example_4_output_size(n, f, p, s, expected):
    x = np.zeros((1, n, n, 1))
    out = ac.conv2d(x, np.zeros((f, f, 1, 1)), stride=s, padding=p)
    assert (
        out.shape
        == (1, expected, expected, 1)
        == (1, (n + 2 * p - f) // s + 1, (n + 2 * p - f) // s + 1, 1)
    )


@pytest.mark.parametrize(("n", "s", "expected"), [(5, 1, 5), (5, 2, 3), (6, 2, 3), (7, 3, 3)])
def test_same_padding_output_is_ceil_n_over_s(n, s, expected):
    out = ac.conv2d(np.zeros((1, n, n + 1, 1)), np.zeros((3, 3, 1, 1)), stride=s, padding="same")
    assert out.shape[1] == expected == -(-n // s)


def test_same_padding_puts_the_odd_pad_bottom_right():
    # a 2x2 kernel on 3x3 at stride 1 needs one pad row: it must go at the bottom
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out = ac.conv2d(x, np.ones((2, 2, 1, 1)), padding="same").data[0, :, :, 0]
    np.testing.assert_array_equal(out[-1], [13, 15, 8])  # 6+7, 7+8, 8 (pad right/bottom)
    np.testing.assert_array_equal(out[0], [8, 12, 7])


def test_multichannel_kernel_spans_all_input_channels():
    x = np.ones((1, 3, 3, 2))
    x[..., 1] = 10
    w = np.ones((3, 3, 2, 4))
    w[..., 3] = 0
    out = ac.conv2d(x, w, b=np.arange(4.0)).data
    np.testing.assert_array_equal(out[0, 0, 0], [99, 100, 101, 3])


# ------------------------------------------------------------------ sweep
SHAPES = [(1, 5, 5, 1), (3, 6, 7, 3)]
KERNELS = [(1, 1), (2, 3), (3, 3)]
STRIDES = [1, 2, 3]
DILATIONS = [1, 2]
PADDINGS = ["valid", "same", 1, (2, 0)]
SWEEP = [
    (shape, k, s, d, p)
    for shape, k, s, d, p in itertools.product(SHAPES, KERNELS, STRIDES, DILATIONS, PADDINGS)
    if not (s > 1 and d > 1)
]


def sweep_inputs(shape, k, rng, c_out=2):
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*k, shape[-1], c_out))
    b = rng.standard_normal(c_out)
    return x, w, b


@pytest.mark.parametrize(("shape", "k", "s", "d", "p"), SWEEP)
def test_sweep_values_and_gradcheck(shape, k, s, d, p, rng):
    x, w, b = sweep_inputs(shape, k, rng)
    out = ac.conv2d(x, w, b, stride=s, padding=p, dilation=d)
    np.testing.assert_allclose(out.data, reference_conv2d(x, w, b, s, p, d), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w, b: ac.conv2d(x, w, b, stride=s, padding=p, dilation=d), [x, w, b])


@pytest.mark.parametrize(("shape", "k", "s", "d", "p"), [c for c in SWEEP if c[4] != "same"])
def test_sweep_matches_torch(shape, k, s, d, p, rng, torch):
    x, w, b = sweep_inputs(shape, k, rng)
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)  # NHWC -> NCHW
    tw = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)  # HWIO -> OIHW
    tb = torch.tensor(b, requires_grad=True)
    padding = p if isinstance(p, int | tuple) else 0
    ref = torch.nn.functional.conv2d(tx, tw, tb, stride=s, padding=padding, dilation=d)
    ours = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = ac.conv2d(*ours, stride=s, padding=p, dilation=d)
    np.testing.assert_allclose(
        out.data, ref.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12
    )
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours[0].grad, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(ours[1].grad, tw.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12)
    np.testing.assert_allclose(ours[2].grad, tb.grad.numpy(), atol=1e-12)


def test_float32_in_float32_out(rng):
    x = ac.Tensor(rng.standard_normal((2, 6, 6, 3)).astype(np.float32), requires_grad=True)
    w = ac.Tensor(rng.standard_normal((3, 3, 3, 4)).astype(np.float32), requires_grad=True)
    b = ac.Tensor(np.zeros(4, np.float32), requires_grad=True)
    out = ac.conv2d(x, w, b, padding="same")
    out.sum().backward()
    assert out.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_no_input_gradient_when_not_needed(rng):
    x = ac.Tensor(rng.standard_normal((1, 4, 4, 1)))
    w = ac.Tensor(rng.standard_normal((3, 3, 1, 2)), requires_grad=True)
    ac.conv2d(x, w).sum().backward()
    assert x.grad is None and w.grad is not None


# ------------------------------------------------------------------ errors
X = np.zeros((2, 8, 8, 3))
W = np.zeros((3, 3, 3, 4))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((8, 8, 3))}, r"x must be \(N, H, W, Cin\), got shape \(8, 8, 3\)"),
        ({"w": np.zeros((3, 3, 3))}, r"w must be \(KH, KW, Cin, Cout\)"),
        ({"w": np.zeros((3, 3, 2, 4))}, r"x has 3 channels .* w expects 2"),
        ({"b": np.zeros(3)}, r"b must have shape \(4,\)"),
        ({"stride": 0}, "stride must be positive"),
        ({"dilation": (1, -1)}, "dilation must be positive"),
        ({"stride": 2, "dilation": 2}, "stride .* together with dilation"),
        ({"padding": "full"}, "padding must be 'valid', 'same'"),
        ({"padding": -1}, "padding must be"),
        ({"padding": (1, 2, 3)}, "padding pair must have 2 entries"),
        ({"w": np.zeros((9, 9, 3, 4))}, "the output would be empty: input 8x8, kernel 9x9"),
        ({"w": np.zeros((3, 3, 3, 4)), "dilation": 4}, "output would be empty"),
    ],
)
def test_bad_arguments_are_clear_value_errors(kwargs, message):
    args = {"x": X, "w": W, "b": None} | kwargs
    with pytest.raises(ValueError, match=message):
        ac.conv2d(**args)


@pytest.mark.parametrize(("shape", "k", "s", "d", "p"), SWEEP[::7])
@pytest.mark.parametrize("with_bias", [True, False])
def test_fused_relu_equals_relu_of_conv(shape, k, s, d, p, with_bias, rng):
    x, w, b = sweep_inputs(shape, k, rng)
    b = b if with_bias else None
    fused = ac.conv2d(x, w, b, stride=s, padding=p, dilation=d, activation="relu")
    plain = ac.relu(ac.conv2d(x, w, b, stride=s, padding=p, dilation=d))
    np.testing.assert_array_equal(fused.data, plain.data)
    inputs = [x, w] + ([b] if with_bias else [])
    assert gradcheck(
        lambda x, w, *b: ac.conv2d(x, w, *b, stride=s, padding=p, dilation=d, activation="relu"),
        inputs,
    )


def test_fused_relu_keeps_nan_and_gives_dead_cells_a_zero_gradient():
    """NaN stays NaN (as np.maximum), so a divergence shows; a cell the ReLU cut gets gradient
    0 even when the gradient arriving there is infinite (as PyTorch's ReLU)."""
    x = np.ones((1, 3, 3, 1))
    x[0, 0, 0, 0] = np.nan
    w = np.ones((1, 1, 1, 2))
    w[..., 1] = -1
    xt, wt = ac.Tensor(x, requires_grad=True), ac.Tensor(w, requires_grad=True)
    out = ac.conv2d(xt, wt, activation="relu")
    assert np.isnan(out.data[0, 0, 0]).all() and (out.data[0, 1:, :, 1] == 0).all()
    g = np.ones(out.shape)
    g[..., 1] = np.inf  # into the channel the ReLU cut everywhere but at the NaN
    out.backward(g)
    assert np.isfinite(xt.grad[0, 1:]).all() and (xt.grad[0, 1:] == 1).all()


def test_unknown_fused_activation():
    with pytest.raises(ValueError, match="activation must be None or 'relu', got 'tanh'"):
        ac.conv2d(X, W, activation="tanh")


# ------------------------------------------------------------------ conv2d_max_pool
POOLS = [(2, None, "valid"), ((2, 3), None, "same"), (3, 2, "valid"), (3, 2, "same")]


@pytest.mark.parametrize(("shape", "k", "s", "d", "p"), SWEEP[::5])
@pytest.mark.parametrize(("pool_size", "pool_strides", "pool_padding"), POOLS)
@pytest.mark.parametrize("activation", [None, "relu"])
def test_conv2d_max_pool_equals_max_pool_of_conv(
    shape, k, s, d, p, pool_size, pool_strides, pool_padding, activation, rng
):
    """The fused op: the same values as the two ops, the same gradients (checked against
    the two ops and by finite differences); overlapping pools (3 with stride 2) included."""
    x, w, b = sweep_inputs(shape, k, rng)
    x = distinct(shape, rng)  # no ties, so the winner of each window is unambiguous
    conv = ac.conv2d(x, w, b, stride=s, padding=p, dilation=d, activation=activation)
    if (
        min(conv.shape[1:3]) < as_pair(pool_size, "pool_size", "test")[0]
        and pool_padding == "valid"
    ):
        with pytest.raises(ValueError, match="conv2d_max_pool: the output would be empty"):
            ac.conv2d_max_pool(x, w, b, s, p, d, activation, pool_size, pool_strides, pool_padding)
        return

    def fused(x, w, b):
        return ac.conv2d_max_pool(
            x, w, b, s, p, d, activation, pool_size, pool_strides, pool_padding
        )

    def two_ops(x, w, b):
        conv = ac.conv2d(x, w, b, stride=s, padding=p, dilation=d, activation=activation)
        return ac.max_pool2d(conv, pool_size, pool_strides, pool_padding)

    inputs = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    references = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out, expected = fused(*inputs), two_ops(*references)  # equal up to summation order
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    expected.backward(g)
    for ours, theirs in zip(inputs, references, strict=True):
        np.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-12, atol=1e-12)
    assert gradcheck(fused, [x, w, b])


def test_conv2d_max_pool_float32_and_nan(rng):
    """float32 in, float32 out; a NaN in the convolution's output wins its window, as in
    max_pool2d(conv2d(...)), so a divergence shows."""
    x = rng.standard_normal((2, 6, 6, 1)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan
    w = rng.standard_normal((3, 3, 1, 4)).astype(np.float32)
    b = np.zeros(4, np.float32)
    out = ac.conv2d_max_pool(x, w, b, activation="relu")
    expected = ac.max_pool2d(ac.conv2d(x, w, b, activation="relu"))
    assert out.dtype == np.float32
    assert np.isnan(out.data[0, 0, 0]).all()
    np.testing.assert_array_equal(out.data, expected.data)


@pytest.mark.parametrize(
    ("size", "pool_size", "cut"), [(13, 2, True), (12, 2, False), (13, 3, True)]
)
def test_conv2d_max_pool_skips_what_no_pool_window_reads(size, pool_size, cut, rng):
    """Pooling 'valid' 2x2 over an 11x11 convolution reads 10x10 of it: the last input column
    then feeds only outputs no window reads, so a NaN there changes no output and no gradient
    (it would poison the kernel gradient if those outputs were computed, as the two ops do)."""
    x = rng.standard_normal((2, size, size, 2))
    w, b = rng.standard_normal((3, 3, 2, 3)), rng.standard_normal(3)
    poisoned = x.copy()
    poisoned[:, :, -1, :] = np.nan

    def grads(x):
        tensors = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
        out = ac.conv2d_max_pool(*tensors, activation="relu", pool_size=pool_size)
        out.backward(np.ones(out.shape))
        return out.data, *(t.grad for t in tensors)

    (out, grad_x, grad_w, grad_b), poisoned_results = grads(x), grads(poisoned)
    if not cut:  # 12x12 -> 10x10 convolution, every column pooled: the NaN reaches the output
        assert np.isnan(poisoned_results[0]).any()
        return
    p_out, p_grad_x, p_grad_w, p_grad_b = poisoned_results
    np.testing.assert_array_equal(p_out, out)
    np.testing.assert_array_equal(p_grad_x, grad_x)  # the unread column's is zero in both
    assert (p_grad_x[:, :, -1] == 0).all()
    np.testing.assert_array_equal(p_grad_w, grad_w)
    np.testing.assert_array_equal(p_grad_b, grad_b)


def test_conv2d_max_pool_bad_pool_is_a_clear_error():
    with pytest.raises(ValueError, match="conv2d_max_pool: pool_size must be positive"):
        ac.conv2d_max_pool(X, W, pool_size=0)
    with pytest.raises(ValueError, match="conv2d_max_pool: padding must be 'valid' or 'same'"):
        ac.conv2d_max_pool(X, W, pool_padding=1)


# ------------------------------------------------------------------ groups
def torch_conv2d(torch, x, w, b, stride, padding, dilation, groups):
    """PyTorch's conv2d on channels-last arrays, 'same' padding applied as Keras places it."""
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)  # NHWC -> NCHW
    tw = torch.tensor(w.transpose(3, 2, 0, 1), requires_grad=True)  # HWIO -> OIHW
    tb = torch.tensor(b, requires_grad=True)
    padded = tx
    if padding == "same":
        (sh, sw), (dh, dw) = as_pair(stride, "s", "ref"), as_pair(dilation, "d", "ref")
        top, bottom = padding_amounts("same", x.shape[1], w.shape[0], sh, dh, "ref")
        left, right = padding_amounts("same", x.shape[2], w.shape[1], sw, dw, "ref")
        padded, padding = torch.nn.functional.pad(tx, (left, right, top, bottom)), 0
    elif padding == "valid":
        padding = 0
    out = torch.nn.functional.conv2d(padded, tw, tb, stride, padding, dilation, groups)
    return out, (tx, tw, tb)


def assert_matches_torch(torch, ours, out, ref, leaves, rng):
    """Values and the gradients of x, w, b against PyTorch's (NCHW / OIHW) in float64."""
    np.testing.assert_allclose(
        out.data, ref.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12
    )
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    tx, tw, tb = leaves
    np.testing.assert_allclose(ours[0].grad, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(ours[1].grad, tw.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12)
    np.testing.assert_allclose(ours[2].grad, tb.grad.numpy(), atol=1e-12)


GROUP_SWEEP = [
    (c_in, c_out, groups, k, s, d, p)
    for (c_in, c_out, groups), k, (s, d), p in itertools.product(
        [(4, 6, 2), (6, 3, 3), (3, 6, 3), (4, 4, 4)],
        [(1, 1), (2, 3), (3, 3)],
        [(1, 1), (2, 1), (1, 2)],
        ["valid", "same", 1],
    )
]


@pytest.mark.parametrize(("c_in", "c_out", "groups", "k", "s", "d", "p"), GROUP_SWEEP)
def test_grouped_conv_matches_torch_and_gradcheck(c_in, c_out, groups, k, s, d, p, rng, torch):
    x = rng.standard_normal((2, 5, 6, c_in))
    w = rng.standard_normal((*k, c_in // groups, c_out))
    b = rng.standard_normal(c_out)
    ours = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = ac.conv2d(*ours, stride=s, padding=p, dilation=d, groups=groups)
    ref, leaves = torch_conv2d(torch, x, w, b, s, p, d, groups)
    assert_matches_torch(torch, ours, out, ref, leaves, rng)
    x = x[:1]  # a smaller gradcheck
    assert gradcheck(
        lambda x, w, b: ac.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=groups),
        [x, w, b],
    )


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_conv_is_a_conv_per_group(groups, rng):
    """Filters k*Cout/G ... of a grouped convolution see only input channels k*Cin/G ...: each
    group is an ordinary convolution of its channels."""
    x, w = rng.standard_normal((2, 5, 5, 8)), rng.standard_normal((3, 3, 8 // groups, 4))
    out = ac.conv2d(x, w, padding="same", groups=groups).data
    step_in, step_out = 8 // groups, 4 // groups
    for k in range(groups):
        part = ac.conv2d(
            x[..., k * step_in : (k + 1) * step_in],
            w[..., k * step_out : (k + 1) * step_out],
            padding="same",
        )
        np.testing.assert_allclose(out[..., k * step_out : (k + 1) * step_out], part.data)


@pytest.mark.parametrize("with_bias", [True, False])
def test_grouped_conv_with_fused_relu(with_bias, rng):
    x, w = rng.standard_normal((2, 5, 5, 4)), rng.standard_normal((3, 3, 2, 6))
    b = rng.standard_normal(6) if with_bias else None
    fused = ac.conv2d(x, w, b, padding="same", activation="relu", groups=2)
    plain = ac.relu(ac.conv2d(x, w, b, padding="same", groups=2))
    np.testing.assert_array_equal(fused.data, plain.data)
    inputs = [x[:1], w] + ([b] if with_bias else [])
    assert gradcheck(
        lambda x, w, *b: ac.conv2d(x, w, *b, padding="same", activation="relu", groups=2), inputs
    )


def test_grouped_conv_float32_in_float32_out(rng):
    x = ac.Tensor(rng.standard_normal((2, 6, 6, 4)).astype(np.float32), requires_grad=True)
    w = ac.Tensor(rng.standard_normal((3, 3, 2, 6)).astype(np.float32), requires_grad=True)
    b = ac.Tensor(np.zeros(6, np.float32), requires_grad=True)
    out = ac.conv2d(x, w, b, padding="same", groups=2)
    out.sum().backward()
    assert out.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("c_in", "w_shape", "groups", "message"),
    [
        (4, (3, 3, 2, 6), 0, r"the number of groups must be a positive integer. .*groups=0"),
        (4, (3, 3, 2, 6), 1.5, "the number of groups must be a positive integer"),
        (
            6, (3, 3, 2, 5), 3,
            r"number of filters must be evenly divisible by the number of groups. "
            r"Received: groups=3, filters=5",
        ),
        (
            5, (3, 3, 2, 6), 2,
            r"number of input channels must be evenly divisible by the number of groups. "
            r"Received groups=2, but the input has 5 channels \(full input shape is "
            r"\(1, 6, 6, 5\)\)",
        ),
        (4, (3, 3, 3, 6), 2, r"x has 4 channels .* in 2 groups of 2 but w expects 3"),
    ],
)  # fmt: skip
def test_bad_groups_are_clear_errors(c_in, w_shape, groups, message):
    with pytest.raises(ValueError, match=f"conv2d: .*{message}"):
        ac.conv2d(np.zeros((1, 6, 6, c_in)), np.zeros(w_shape), groups=groups)


# ------------------------------------------------------------------ conv1d
def torch_conv1d(torch, x, w, b, stride, padding, dilation, groups):
    """PyTorch's conv1d on (N, L, C) arrays; 'same' and 'causal' padded by hand, as Keras."""
    tx = torch.tensor(x.transpose(0, 2, 1), requires_grad=True)  # NLC -> NCL
    tw = torch.tensor(w.transpose(2, 1, 0), requires_grad=True)  # (K, I, O) -> (O, I, K)
    tb = torch.tensor(b, requires_grad=True)
    k = w.shape[0]
    if padding == "causal":
        before, after = dilation * (k - 1), 0
    elif padding == "same":
        before, after = padding_amounts("same", x.shape[1], k, stride, dilation, "ref")
    else:
        before = after = 0 if padding == "valid" else padding
    padded = torch.nn.functional.pad(tx, (before, after))
    out = torch.nn.functional.conv1d(padded, tw, tb, stride, 0, dilation, groups)
    return out, (tx, tw, tb)


def keras_conv_length(length, k, s, d, padding):
    """Keras's compute_conv_output_shape for one axis (an int padding: torch's rule)."""
    if padding in ("same", "causal"):
        return (length - 1) // s + 1
    pad = 0 if padding == "valid" else 2 * padding
    return (length + pad - d * (k - 1) - 1) // s + 1


CONV1D_SWEEP = [
    (length, k, s, d, p, groups)
    for length, k, (s, d), p, groups in itertools.product(
        [7], [1, 2, 3], [(1, 1), (2, 1), (3, 1), (1, 2)], ["valid", "same", "causal", 1], [1, 2]
    )
    if keras_conv_length(length, k, s, d, p) >= 1
]


@pytest.mark.parametrize(("length", "k", "s", "d", "p", "groups"), CONV1D_SWEEP)
def test_conv1d_matches_torch_and_keras_sizes_and_gradcheck(length, k, s, d, p, groups, rng, torch):
    x = rng.standard_normal((2, length, 4))
    w = rng.standard_normal((k, 4 // groups, 6))
    b = rng.standard_normal(6)
    ours = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = ac.conv1d(*ours, stride=s, padding=p, dilation=d, groups=groups)
    assert out.shape == (2, keras_conv_length(length, k, s, d, p), 6)
    ref, (tx, tw, tb) = torch_conv1d(torch, x, w, b, s, p, d, groups)
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 1), atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 2, 1)))
    np.testing.assert_allclose(ours[0].grad, tx.grad.numpy().transpose(0, 2, 1), atol=1e-12)
    np.testing.assert_allclose(ours[1].grad, tw.grad.numpy().transpose(2, 1, 0), atol=1e-12)
    np.testing.assert_allclose(ours[2].grad, tb.grad.numpy(), atol=1e-12)
    assert gradcheck(
        lambda x, w, b: ac.conv1d(x, w, b, stride=s, padding=p, dilation=d, groups=groups),
        [x[:1], w, b],
    )


@pytest.mark.parametrize(("k", "d"), [(2, 1), (3, 2), (4, 1)])
def test_causal_conv1d_output_t_reads_no_later_input(k, d, rng):
    """Keras's 'causal': dilation*(K-1) zeros on the left only; the gradient of output t
    reaches inputs 0 ... t and none after, and the length is kept."""
    x = ac.Tensor(rng.standard_normal((1, 9, 2)), requires_grad=True)
    w = rng.standard_normal((k, 2, 3))
    out = ac.conv1d(x, w, padding="causal", dilation=d)
    assert out.shape == (1, 9, 3)
    out[0, 4].sum().backward()
    assert (x.grad[0, 5:] == 0).all() and (x.grad[0, 4] != 0).all()
    padded = np.pad(x.data, ((0, 0), (d * (k - 1), 0), (0, 0)))
    np.testing.assert_allclose(out.data, ac.conv1d(padded, w, dilation=d).data, atol=1e-12)


def test_conv1d_is_conv2d_of_height_one(rng):
    x, w, b = rng.standard_normal((2, 7, 3)), rng.standard_normal((3, 3, 4)), np.ones(4)
    as_2d = ac.conv2d(x[:, None], w[None], b, stride=2, padding="same").data[:, 0]
    np.testing.assert_array_equal(ac.conv1d(x, w, b, stride=2, padding="same").data, as_2d)


def test_conv1d_float32_in_float32_out(rng):
    x = ac.Tensor(rng.standard_normal((2, 6, 3)).astype(np.float32), requires_grad=True)
    w = ac.Tensor(rng.standard_normal((3, 3, 4)).astype(np.float32), requires_grad=True)
    out = ac.conv1d(x, w, np.zeros(4, np.float32), padding="causal")
    out.sum().backward()
    assert out.dtype == x.grad.dtype == w.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((2, 8, 8, 3))}, r"x must be \(N, L, Cin\), got shape \(2, 8, 8, 3\)"),
        ({"w": np.zeros((3, 3, 3, 4))}, r"w must be \(K, Cin, Cout\)"),
        ({"w": np.zeros((3, 2, 4))}, r"x has 3 channels .* w expects 2"),
        ({"padding": "full"}, "padding must be 'valid', 'same', 'causal' or an int"),
        ({"stride": (1, 1)}, "stride must be an int or a tuple of 1 int"),
        ({"stride": 2, "dilation": 2}, "stride 2 > 1 together with dilation 2"),
        ({"dilation": 0}, "dilation must be positive"),
        ({"w": np.zeros((9, 3, 4))}, "the output would be empty: input length 8, kernel 9"),
        ({"groups": 2}, "the number of input channels must be evenly divisible"),
    ],
)
def test_conv1d_bad_arguments_are_clear_value_errors(kwargs, message):
    args = {"x": np.zeros((2, 8, 3)), "w": np.zeros((3, 3, 4)), "b": None} | kwargs
    with pytest.raises(ValueError, match=f"conv1d: {message}"):
        ac.conv1d(**args)


SLICED = {
    "conv2d": lambda x, w, b: ac.conv2d(x, w, b, 1, "same", 1, "relu"),
    "conv2d_max_pool": lambda x, w, b: ac.conv2d_max_pool(x, w, b, 1, "valid", 1, "relu", 2),
    "grouped conv2d": lambda x, w, b: ac.conv2d(x, w[:, :, :1], b, groups=2),
    "conv1d": lambda x, w, b: ac.conv1d(x[:, 0], w[0], b, padding="causal"),
}


def slice_by(monkeypatch, slice_bytes):
    """The CPU's convolutions in slices of about ``slice_bytes``, whatever the batch's size
    (none runs whole by WHOLE_BATCH_BYTES)."""
    monkeypatch.setattr(ac.backends.cpu, "WHOLE_BATCH_BYTES", 0)
    monkeypatch.setattr(ac.backends.cpu, "SLICE_BYTES", slice_bytes)


@pytest.mark.parametrize("name", sorted(SLICED))
@pytest.mark.parametrize("slice_bytes", [1, 400])
def test_a_batch_is_convolved_in_slices_to_the_same_values(name, slice_bytes, monkeypatch, rng):
    """The batch goes through in slices of images (one image, a few), with or without a
    gradient, and gives the whole batch's values (up to the rounding of BLAS products of other
    sizes); nothing keeps a slice's unrolled windows: the backward unrolls each slice again."""
    x = rng.standard_normal((5, 6, 7, 2)).astype(np.float32)
    w = rng.standard_normal((3, 3, 2, 2)).astype(np.float32)
    b = rng.standard_normal(2).astype(np.float32)
    whole = SLICED[name](ac.Tensor(x), ac.Tensor(w), ac.Tensor(b)).numpy()
    calls = []
    backend = ac.backends.namespace("cpu")
    original = backend.im2col
    monkeypatch.setattr(backend, "im2col", lambda images, win: calls.append(len(images)) or
                        original(images, win))  # fmt: skip
    slice_by(monkeypatch, slice_bytes)
    with ac.no_grad():
        sliced = SLICED[name](ac.Tensor(x), ac.Tensor(w), ac.Tensor(b))
    assert len(calls) > 1 and sum(calls) == len(x) * (2 if name == "grouped conv2d" else 1)
    assert sliced.shape == whole.shape and not sliced.requires_grad
    np.testing.assert_allclose(sliced.numpy(), whole, rtol=2e-6, atol=1e-6)
    forward_calls = list(calls)
    calls.clear()
    tensors = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = SLICED[name](*tensors)
    np.testing.assert_allclose(out.numpy(), whole, rtol=2e-6, atol=1e-6)
    out.sum().backward()
    assert calls == forward_calls * 2  # the forward's slices, then the backward's: the same
    assert all(t.grad.shape == t.shape for t in tensors)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_a_pointwise_conv_unrolls_nothing(groups, padding, monkeypatch, rng):
    """A 1x1 window at stride 1 (SeparableConv2D's pointwise step) multiplies the images
    themselves: no im2col, no col2im; the values and gradients are the sweeps' (above)."""
    backend = ac.backends.namespace("cpu")
    for name in ("im2col", "col2im"):
        monkeypatch.setattr(backend, name, lambda *args: pytest.fail("unrolled a 1x1 window"))
    x = ac.Tensor(rng.standard_normal((2, 3, 4, 4)), requires_grad=True)
    w = ac.Tensor(rng.standard_normal((1, 1, 4 // groups, 6)), requires_grad=True)
    out = ac.conv2d(x, w, padding=padding, groups=groups)
    out.sum().backward()
    x_groups = x.numpy().reshape(2, 3, 4, groups, 4 // groups)
    w_groups = w.numpy()[0, 0].reshape(4 // groups, groups, 6 // groups)
    expected = np.einsum("nhwgc,cgk->nhwgk", x_groups, w_groups).reshape(2, 3, 4, 6)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert x.grad.shape == x.shape and w.grad.shape == w.shape


# ------------------------------------------- conv2d_max_pool: the direct convolution
DIRECT_CASES = [  # images, kernel size, filters, padding
    ((3, 8, 8, 1), (3, 3), 16, "valid"),
    ((2, 9, 7, 3), (3, 3), 16, "same"),
    ((2, 7, 9, 2), (2, 3), 20, 1),
    ((1, 5, 5, 4), (3, 3), 17, 4),  # padding wider than the kernel
    ((2, 13, 11, 1), (3, 3), 32, "valid"),  # 11x9 convolution: the last row/column unread
]


def direct_operands(shape, k, filters, rng):
    return (
        distinct(shape, rng),
        rng.standard_normal((*k, shape[-1], filters)),
        rng.standard_normal(filters),
    )


@pytest.mark.parametrize(("shape", "k", "filters", "padding"), DIRECT_CASES)
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_max_pool_direct_equals_the_unrolled_convolution(
    shape, k, filters, padding, activation, bias, rng, monkeypatch
):
    """Few input channels, images without gradient: the direct kernels, with the values and
    the kernel and bias gradients of im2col + product + pool, and finite differences."""
    x, w, b = direct_operands(shape, k, filters, rng)
    b = b if bias else None

    def run(direct: bool):
        monkeypatch.setattr(conv_ops, "DIRECT_MAX_CHANNELS", 4 if direct else 0)
        params = [ac.Tensor(a, requires_grad=True) for a in (w, b) if a is not None]
        out = ac.conv2d_max_pool(x, *params, padding=padding, activation=activation)
        out.backward(np.linspace(-1, 1, out.size).reshape(out.shape))
        return out, [p.grad for p in params]

    calls = []
    monkeypatch.setattr(ac.backends.cpu, "im2col", lambda *a: calls.append(a))
    out, grads = run(direct=True)
    assert not calls  # nothing unrolled
    monkeypatch.undo()
    expected, expected_grads = run(direct=False)
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    params = [w] if b is None else [w, b]
    assert gradcheck(
        lambda *p: ac.conv2d_max_pool(x, *p, padding=padding, activation=activation), params
    )


@pytest.mark.parametrize(
    ("change", "direct"),
    [
        ({}, True),
        ({"x_grad": True}, False),  # the images' gradient is the unrolled path's
        ({"filters": 8}, False),
        ({"channels": 5}, False),
        ({"stride": 2}, False),
        ({"dilation": 2}, False),
        ({"pool_size": 3}, False),
        ({"pool_padding": "same", "size": 9}, False),  # a padded pool window
    ],
)
def test_conv2d_max_pool_runs_direct_only_where_it_applies(change, direct, rng, monkeypatch):
    """The direct kernels for 2x2 pools at stride 2 over a stride-1 undilated convolution of
    at most DIRECT_MAX_CHANNELS channels into DIRECT_MIN_FILTERS or more, images without
    gradient; the unrolled path (with the same values) otherwise."""
    size, channels = change.get("size", 10), change.get("channels", 2)
    x = ac.Tensor(
        distinct((2, size, size, channels), rng), requires_grad=change.get("x_grad", False)
    )
    w = ac.Tensor(
        rng.standard_normal((3, 3, channels, change.get("filters", 16))), requires_grad=True
    )
    calls = []
    direct_kernel = ac.backends.cpu.conv_max_pool_2x2
    monkeypatch.setattr(
        ac.backends.cpu, "conv_max_pool_2x2", lambda *a: calls.append(1) or direct_kernel(*a)
    )
    args = (change.get("stride", 1), "valid", change.get("dilation", 1), "relu")
    out = ac.conv2d_max_pool(
        x, w, None, *args, change.get("pool_size", 2), None, change.get("pool_padding", "valid")
    )
    assert bool(calls) == direct
    expected = ac.max_pool2d(ac.conv2d(x, w, None, *args), change.get("pool_size", 2), None,
                             change.get("pool_padding", "valid"))  # fmt: skip
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)


def test_conv2d_max_pool_direct_float32_and_nan(rng):
    """float32 stays float32; a NaN pixel makes NaN outputs that win their windows, as in
    max_pool2d(conv2d(...)), and the weight gradient shows it."""
    x, w, b = (a.astype(np.float32) for a in direct_operands((2, 8, 8, 1), (3, 3), 16, rng))
    x[0, 2, 2, 0] = np.nan
    w_tensor = ac.Tensor(w, requires_grad=True)
    out = ac.conv2d_max_pool(x, w_tensor, b, activation="relu")
    expected = ac.max_pool2d(ac.conv2d(x, w, b, activation="relu"))
    assert out.dtype == np.float32 and out._op == "conv2d_max_pool"
    np.testing.assert_array_equal(np.isnan(out.data), np.isnan(expected.data))
    assert np.isnan(out.data[0, 0, 0]).all() and not np.isnan(out.data[1]).any()
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-5, atol=1e-5, equal_nan=True)
    out.sum().backward()
    assert np.isnan(w_tensor.grad).any()


@pytest.mark.parametrize(("shape", "k", "s", "d", "p"), SWEEP[::3])
@pytest.mark.parametrize("groups", [1, 2])
def test_gradients_by_slices_equal_the_whole(shape, k, s, d, p, groups, rng, monkeypatch):
    """The gradients are computed a slice of images at a time (SLICE_BYTES; one image each
    here), with any number of groups: the same gradients as whole, every shape."""
    shape = (3, *shape[1:3], 2 * shape[3])  # several images, channels divisible by 2
    x, w, b = sweep_inputs(shape, k, rng, c_out=4)
    w = w[:, :, : shape[3] // groups]

    def grads(slice_bytes):
        slice_by(monkeypatch, slice_bytes)
        tensors = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
        out = ac.conv2d(*tensors, stride=s, padding=p, dilation=d, groups=groups)
        out.backward(np.linspace(-1, 1, out.size).reshape(out.shape))
        return [t.grad for t in tensors]

    for sliced, whole in zip(grads(1), grads(2**40), strict=True):
        np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_max_pool_direct_without_gradient_runs_in_slices(padding, rng, monkeypatch):
    """Without a gradient the direct convolution runs a slice of images at a time
    (SLICE_BYTES; one image each here): the values of the whole batch at once."""
    x, w, b = direct_operands((3, 8, 6, 3), (3, 3), 16, rng)
    outs = []
    for slice_bytes in (1, 2**40):
        slice_by(monkeypatch, slice_bytes)
        with ac.no_grad():
            outs.append(ac.conv2d_max_pool(x, w, b, padding=padding, activation="relu"))
    assert outs[0].shape == ((3, 4, 3, 16) if padding == "same" else (3, 3, 2, 16))
    np.testing.assert_array_equal(outs[0].data, outs[1].data)


# ------------------------------------------- conv2d_max_pool: Winograd F(2x2, 3x3)
WINOGRAD_CASES = [  # images, padding
    ((2, 8, 8, 16), "valid"),
    ((2, 9, 7, 16), "same"),  # a 9x7 convolution: its last row and column unread
    ((1, 13, 13, 17), "valid"),  # MNIST's second convolution's 11x11, an odd channel count
    ((2, 6, 5, 16), (2, 1)),
    ((1, 4, 4, 16), 3),  # padding wider than the kernel
]


def run_conv_pool(x, w, b, padding, activation, winograd, monkeypatch):
    """conv2d_max_pool's output and the gradients of its operands, by Winograd or unrolled."""
    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_CHANNELS", 16 if winograd else 10**9)
    operands = [ac.Tensor(a, requires_grad=True) for a in (x, w, b) if a is not None]
    out = ac.conv2d_max_pool(*operands, padding=padding, activation=activation)
    out.backward(np.linspace(-1, 1, out.size).reshape(out.shape))
    return out, [t.grad for t in operands]


# Bytes an image of the (4, 8, 6, 32) float64 batch below, under a 3x3 'valid' conv (6x4
# outputs) into 4 filters: its windows (6*4 rows of 9*32), its Winograd tiles and products.
PER_IMAGE = {"im2col": 6 * 4 * 9 * 32 * 8, "winograd_input": 4 * 6 * 4 * (32 + 4) * 8}


@pytest.mark.parametrize(
    ("transform", "pooled"), [("im2col", False), ("im2col", True), ("winograd_input", True)]
)
def test_a_batch_within_whole_batch_bytes_keeps_its_windows(transform, pooled, rng, monkeypatch):
    """A batch of at most WHOLE_BATCH_BYTES of windows (or Winograd tiles and products) runs
    whole, and its backward takes the forward's windows or tiles; one byte less and it runs in
    slices of SLICE_BYTES (one image here), each unrolled again in the backward. The values
    and gradients are the same."""
    x, w, b = direct_operands((4, 8, 6, 32), (3, 3), 4, rng)
    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_CHANNELS", 16 if transform != "im2col" else 10**9)
    monkeypatch.setattr(ac.backends.cpu, "SLICE_BYTES", PER_IMAGE[transform])
    original = getattr(ac.backends.cpu, transform)
    runs = []
    for whole_bytes in (4 * PER_IMAGE[transform], 4 * PER_IMAGE[transform] - 1):
        monkeypatch.setattr(ac.backends.cpu, "WHOLE_BATCH_BYTES", whole_bytes)
        calls = []
        monkeypatch.setattr(ac.backends.cpu, transform, lambda images, win, calls=calls: calls
                            .append(len(images)) or original(images, win))  # fmt: skip
        tensors = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
        op = ac.conv2d_max_pool if pooled else ac.conv2d
        out = op(*tensors, activation="relu")
        out.backward(np.linspace(-1, 1, out.size).reshape(out.shape))
        runs.append((out.data, [t.grad for t in tensors], calls))
    (whole, whole_grads, whole_calls), (sliced, sliced_grads, sliced_calls) = runs
    assert whole_calls == [4] and sliced_calls == [1] * 8  # forward (and backward) unrolls
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(sliced_grads, whole_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("shape", "padding"), WINOGRAD_CASES)
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_max_pool_winograd_equals_the_unrolled_convolution(
    shape, padding, activation, bias, rng, monkeypatch
):
    """A 3x3 stride-1 convolution of WINOGRAD_MIN_CHANNELS or more channels + 2x2 pool: the
    values and the images', kernel's and bias's gradients of im2col + product + pool, with
    nothing unrolled."""
    x, w, b = direct_operands(shape, (3, 3), 5, rng)
    b = b if bias else None
    calls = []
    for name in ("im2col", "col2im"):
        monkeypatch.setattr(ac.backends.cpu, name, lambda *a: calls.append(a))
    out, grads = run_conv_pool(x, w, b, padding, activation, True, monkeypatch)
    assert not calls and out._op == "conv2d_max_pool"
    monkeypatch.undo()
    expected, expected_grads = run_conv_pool(x, w, b, padding, activation, False, monkeypatch)
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_max_pool_winograd_gradcheck(padding, rng, monkeypatch):
    """Finite differences of the images, the kernel and the bias through the Winograd route."""
    x, w, b = direct_operands((1, 6, 5, 16), (3, 3), 3, rng)
    monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_CHANNELS", 16)
    assert gradcheck(
        lambda *p: ac.conv2d_max_pool(*p, padding=padding, activation="relu"), [x, w, b]
    )


@pytest.mark.parametrize(
    ("change", "winograd"),
    [
        ({}, True),
        ({"x_grad": False}, True),  # a first layer of many channels
        ({"channels": -1}, False),  # one channel fewer than WINOGRAD_MIN_CHANNELS
        ({"kernel": 5}, False),
        ({"stride": 2}, False),
        ({"dilation": 2}, False),
        ({"pool_size": 3}, False),
        ({"pool_padding": "same", "size": 9}, False),  # a padded pool window
    ],
)
def test_conv2d_max_pool_runs_winograd_only_where_it_applies(change, winograd, rng, monkeypatch):
    """Winograd for 3x3 kernels at stride 1 without dilation over WINOGRAD_MIN_CHANNELS or
    more channels, under 2x2 pools at stride 2; the unrolled path (the same values) otherwise."""
    size, k = change.get("size", 10), change.get("kernel", 3)
    channels = conv_ops.WINOGRAD_MIN_CHANNELS + change.get("channels", 0)
    x = ac.Tensor(
        distinct((2, size, size, channels), rng), requires_grad=change.get("x_grad", True)
    )
    w = ac.Tensor(rng.standard_normal((k, k, channels, 4)), requires_grad=True)
    calls = []
    winograd_kernel = ac.backends.cpu.winograd_input
    monkeypatch.setattr(
        ac.backends.cpu, "winograd_input", lambda *a: calls.append(1) or winograd_kernel(*a)
    )
    args = (change.get("stride", 1), "valid", change.get("dilation", 1), "relu")
    pool = (change.get("pool_size", 2), None, change.get("pool_padding", "valid"))
    out = ac.conv2d_max_pool(x, w, None, *args, *pool)
    assert bool(calls) == winograd
    expected = ac.max_pool2d(ac.conv2d(x, w, None, *args), *pool)
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-12, atol=1e-12)


def test_conv2d_max_pool_winograd_float32_and_nan(rng):
    """float32 stays float32 within float32 rounding of the unrolled route; a NaN pixel makes
    NaN outputs that win their windows, and reaches the kernel's gradient."""
    shape = (2, 8, 8, conv_ops.WINOGRAD_MIN_CHANNELS)
    x, w, b = (a.astype(np.float32) for a in direct_operands(shape, (3, 3), 8, rng))
    out = ac.conv2d_max_pool(x, w, b, activation="relu")
    expected = ac.max_pool2d(ac.conv2d(x, w, b, activation="relu"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected.data, rtol=1e-5, atol=1e-4)
    x[0, 2, 2, 3] = np.nan
    w_tensor = ac.Tensor(w, requires_grad=True)
    out = ac.conv2d_max_pool(ac.Tensor(x, requires_grad=True), w_tensor, b, activation="relu")
    assert np.isnan(out.data[0, :2, :2]).all() and not np.isnan(out.data[1]).any()
    out.sum().backward()
    assert np.isnan(w_tensor.grad).any()


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("winograd", [True, False])
def test_conv2d_max_pool_runs_in_slices(padding, winograd, rng, monkeypatch):
    """By Winograd or by unrolled windows, conv2d_max_pool runs a slice of images at a time
    (SLICE_BYTES; one image each here), with or without a gradient, and the backward makes each
    slice's tiles or windows again: the values and gradients of the whole batch at once, whose
    backward takes the forward's."""
    x, w, b = direct_operands((3, 8, 6, 32), (3, 3), 4, rng)
    transform = "winograd_input" if winograd else "im2col"
    original = getattr(ac.backends.cpu, transform)
    runs = []
    for slice_bytes in (1, 2**40):
        slice_by(monkeypatch, slice_bytes)
        monkeypatch.setattr(conv_ops, "WINOGRAD_MIN_CHANNELS", 16 if winograd else 10**9)
        calls = []
        monkeypatch.setattr(ac.backends.cpu, transform, lambda images, win, calls=calls: calls
                            .append(len(images)) or original(images, win))  # fmt: skip
        with ac.no_grad():
            values = ac.conv2d_max_pool(x, w, b, padding=padding, activation="relu").data
        out, grads = run_conv_pool(x, w, b, padding, "relu", winograd, monkeypatch)
        np.testing.assert_array_equal(out.data, values)
        runs.append((values, grads, calls))
    (sliced, sliced_grads, sliced_calls), (whole, whole_grads, whole_calls) = runs
    assert sliced_calls == [1] * 9  # without gradient, forward, backward: 3 slices each
    assert whole_calls == [3] * 2  # without gradient, forward (the backward takes its tiles)
    assert sliced.shape == ((3, 4, 3, 4) if padding == "same" else (3, 3, 2, 4))
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(sliced_grads, whole_grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
