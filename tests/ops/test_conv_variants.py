"""depthwise_conv2d, conv2d_transpose and the separable convolution made of them: Keras's
layouts and output sizes, float64 gradchecks over parametrized sweeps, PyTorch parity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autoconv as ac
from autoconv.testing import gradcheck
from autoconv.windows import as_pair
from tests.ops.test_convolution import reference_conv2d, torch_conv2d


# ------------------------------------------------------------------ depthwise
def reference_depthwise(x, w, b, stride, padding, dilation):
    """Keras's definition: channel c convolved with kernel m is output channel c*M + m."""
    channels, multiplier = w.shape[2:]
    out = np.concatenate(
        [
            reference_conv2d(x[..., c : c + 1], w[:, :, c : c + 1, m : m + 1], None, stride,
                             padding, dilation)
            for c in range(channels)
            for m in range(multiplier)
        ],
        axis=-1,
    )  # fmt: skip
    return out if b is None else out + b


DEPTHWISE_SWEEP = [
    (shape, k, s, d, p, m)
    for shape, k, (s, d), p, m in itertools.product(
        [(1, 5, 5, 1), (2, 4, 5, 3)],
        [(1, 1), (2, 3), (3, 3)],
        [(1, 1), (2, 1), (1, 2)],
        ["valid", "same", 1, (2, 0)],
        [1, 2],
    )
    if not (shape[1] < 5 and k == (3, 3) and d == 2 and p == "valid")  # would be empty
]


@pytest.mark.parametrize(("shape", "k", "s", "d", "p", "m"), DEPTHWISE_SWEEP)
def test_depthwise_values_and_gradcheck(shape, k, s, d, p, m, rng):
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*k, shape[-1], m))
    b = rng.standard_normal(shape[-1] * m)
    out = ac.depthwise_conv2d(x, w, b, stride=s, padding=p, dilation=d)
    np.testing.assert_allclose(out.data, reference_depthwise(x, w, b, s, p, d), atol=1e-12)
    assert gradcheck(
        lambda x, w, b: ac.depthwise_conv2d(x, w, b, stride=s, padding=p, dilation=d), [x, w, b]
    )


@pytest.mark.parametrize(("shape", "k", "s", "d", "p", "m"), DEPTHWISE_SWEEP[::4])
def test_depthwise_of_a_relu_values_and_gradcheck(shape, k, s, d, p, m, rng):
    """relu_input=True: the convolution of max(x, 0) and its float64 gradients (x kept off the
    kink, where gradcheck's steps would cross it)."""
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5
    w, b = rng.standard_normal((*k, shape[-1], m)), rng.standard_normal(shape[-1] * m)

    def fn(x, w, b):
        return ac.depthwise_conv2d(x, w, b, s, p, d, relu_input=True)

    want = reference_depthwise(np.maximum(x, 0), w, b, s, p, d)
    np.testing.assert_allclose(fn(x, w, b).data, want, atol=1e-12)
    assert gradcheck(fn, [x, w, b])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("s", "p", "m"), [(1, "same", 1), (2, "same", 2), (1, "valid", 1)])
def test_depthwise_of_a_relu_is_the_ops_one_by_one_bit_for_bit(device, dtype, s, p, m, rng):
    """The output and the gradients of x, w and b are the same bits as relu then the
    convolution: zeros (the kink), negative zeros and a NaN (kept, as maximum keeps it)
    included."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    x = rng.standard_normal((2, 7, 6, 3))
    x[0, 1, :, 0], x[1, 2, 3, 1], x[0, 4, 4, 2] = 0.0, -0.0, np.nan
    w, b = rng.standard_normal((3, 3, 3, m)), rng.standard_normal(3 * m)
    upstream = None
    results = []
    for fused in (True, False):
        tensors = [ac.Tensor(a.astype(dtype), device=device, requires_grad=True)
                   for a in (x, w, b)]  # fmt: skip
        x_t, w_t, b_t = tensors
        if fused:
            out = ac.depthwise_conv2d(x_t, w_t, b_t, s, p, relu_input=True)
        else:
            out = ac.depthwise_conv2d(ac.ops.relu(x_t), w_t, b_t, s, p)
        if upstream is None:
            upstream = rng.standard_normal(out.shape).astype(dtype)
        (out * ac.Tensor(upstream, device=device)).sum().backward()
        xp = ac.backends.namespace(device)
        results.append([out.numpy(), *(xp.to_numpy(t.grad) for t in tensors)])
    for got, want in zip(*results, strict=True):
        np.testing.assert_array_equal(got, want)
    assert np.isnan(results[0][0]).any()


@pytest.mark.parametrize(("shape", "k", "s", "d", "p", "m"), DEPTHWISE_SWEEP[::3])
def test_depthwise_matches_torch_grouped_conv(shape, k, s, d, p, m, rng, torch):
    """Keras's own reduction (backend depthwise_conv): the kernel reshaped to (KH, KW, 1,
    C*M) and a convolution in C groups."""
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*k, shape[-1], m))
    b = rng.standard_normal(shape[-1] * m)
    ours = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = ac.depthwise_conv2d(*ours, stride=s, padding=p, dilation=d)
    w_grouped = w.reshape(*k, 1, shape[-1] * m)
    ref, (tx, tw, tb) = torch_conv2d(torch, x, w_grouped, b, s, p, d, groups=shape[-1])
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours[0].grad, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)
    grad_w = tw.grad.numpy().transpose(2, 3, 1, 0).reshape(w.shape)
    np.testing.assert_allclose(ours[1].grad, grad_w, atol=1e-12)
    np.testing.assert_allclose(ours[2].grad, tb.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("m", [1, 3])
def test_depthwise_is_conv2d_in_one_group_per_channel(m, rng):
    x, w = rng.standard_normal((2, 6, 5, 4)), rng.standard_normal((3, 3, 4, m))
    grouped = ac.conv2d(x, w.reshape(3, 3, 1, 4 * m), padding="same", groups=4)
    np.testing.assert_allclose(
        ac.depthwise_conv2d(x, w, padding="same").data, grouped.data, atol=1e-12
    )


def test_depthwise_output_channel_order_is_channel_major():
    """Output channel c*M + m comes from input channel c and kernel m (Keras's order)."""
    x = np.zeros((1, 1, 1, 2))
    x[..., 1] = 1.0  # only channel 1 is on
    w = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)  # w[0, 0, c, m] = 1 + 3c + m
    out = ac.depthwise_conv2d(x, w).data.reshape(-1)
    np.testing.assert_array_equal(out, [0, 0, 0, 4, 5, 6])


def test_depthwise_float32_in_float32_out(rng):
    x = ac.Tensor(rng.standard_normal((2, 6, 6, 3)).astype(np.float32), requires_grad=True)
    w = ac.Tensor(rng.standard_normal((3, 3, 3, 2)).astype(np.float32), requires_grad=True)
    b = ac.Tensor(np.zeros(6, np.float32), requires_grad=True)
    out = ac.depthwise_conv2d(x, w, b, padding="same")
    out.sum().backward()
    assert out.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((8, 8, 3))}, r"x must be \(N, H, W, C\), got shape \(8, 8, 3\)"),
        ({"w": np.zeros((3, 3, 3))}, r"w must be \(KH, KW, C, depth_multiplier\)"),
        (
            {"w": np.zeros((3, 3, 2, 1))},
            "the number of input channels must match the kernel's input channels. "
            "Received: input channels=3, kernel input channels=2",
        ),
        ({"b": np.zeros(3)}, r"b must have shape \(6,\)"),
        ({"stride": 2, "dilation": 2}, "stride .* together with dilation"),
        ({"padding": "causal"}, "padding must be 'valid', 'same'"),
        ({"w": np.zeros((9, 9, 3, 2))}, "the output would be empty"),
        ({"w": np.zeros((3, 3, 3, 0))}, "empty input or kernel"),
    ],
)
def test_depthwise_bad_arguments_are_clear_value_errors(kwargs, message):
    args = {"x": np.zeros((2, 8, 8, 3)), "w": np.zeros((3, 3, 3, 2)), "b": None} | kwargs
    with pytest.raises(ValueError, match=f"depthwise_conv2d: {message}"):
        ac.depthwise_conv2d(**args)


# ------------------------------------------------------------------ separable
@pytest.mark.parametrize(("s", "p", "m"), [(1, "valid", 1), (2, "same", 1), (1, "same", 2)])
def test_separable_conv_is_depthwise_then_pointwise_as_in_torch(s, p, m, rng, torch):
    """Keras's SeparableConv2D: a depthwise convolution (kernel (KH, KW, C, M)) then a 1x1
    convolution (kernel (1, 1, C*M, Cout)) plus bias; PyTorch: a conv in C groups, then a 1x1
    conv."""
    x = rng.standard_normal((2, 7, 6, 3))
    depthwise = rng.standard_normal((3, 3, 3, m))
    pointwise = rng.standard_normal((1, 1, 3 * m, 5))
    b = rng.standard_normal(5)

    def separable(x, depthwise, pointwise, b):
        return ac.conv2d(ac.depthwise_conv2d(x, depthwise, stride=s, padding=p), pointwise, b)

    ours = [ac.Tensor(a, requires_grad=True) for a in (x, depthwise, pointwise, b)]
    out = separable(*ours)
    grouped = depthwise.reshape(3, 3, 1, 3 * m)  # Keras's depthwise kernel as a grouped one
    mid, (tx, td, _) = torch_conv2d(torch, x, grouped, np.zeros(3 * m), s, p, 1, groups=3)
    tp = torch.tensor(pointwise.transpose(3, 2, 0, 1), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    ref = torch.nn.functional.conv2d(mid, tp, tb)
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours[0].grad, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(
        ours[1].grad, td.grad.numpy().transpose(2, 3, 1, 0).reshape(depthwise.shape), atol=1e-12
    )
    np.testing.assert_allclose(ours[2].grad, tp.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12)
    np.testing.assert_allclose(ours[3].grad, tb.grad.numpy(), atol=1e-12)
    assert gradcheck(separable, [x[:1], depthwise, pointwise, b])


# ------------------------------------------------------------------ transpose
def keras_transpose_size(n, k, s, d, padding, output_padding):
    """Keras's _get_output_shape_given_tf_padding (backend_utils.py), one axis."""
    k = (k - 1) * d + 1
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return (n - 1) * s + k + extra
    return n * s if output_padding is None else (n - 1) * s + k % 2 + output_padding


def keras_jax_padding(k, s, d, padding, output_padding):
    """Keras's _convert_conv_transpose_padding_args_from_keras_to_jax, one axis."""
    k = (k - 1) * d + 1
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    pad_len = s + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return left, pad_len - left


def per_axis(output_padding):
    """output_padding as a pair (None for each axis when None)."""
    if output_padding is None or isinstance(output_padding, int):
        return (output_padding, output_padding)
    return tuple(output_padding)


def reference_conv2d_transpose(x, w, b, stride, padding, output_padding, dilation):
    """As Keras computes it through jax.lax.conv_transpose: x dilated by the stride (zeros
    between its pixels), padded by Keras's rule, correlated with the kernel flipped in space
    and with its two channel axes swapped (w is (KH, KW, Cout, Cin))."""
    (sh, sw), (dh, dw) = as_pair(stride, "s", "ref"), as_pair(dilation, "d", "ref")
    extra = per_axis(output_padding)
    n, h, wd, c_in = x.shape
    kh, kw = w.shape[:2]
    dilated = np.zeros((n, (h - 1) * sh + 1, (wd - 1) * sw + 1, c_in))
    dilated[:, ::sh, ::sw] = x
    rows = keras_jax_padding(kh, sh, dh, padding, extra[0])
    columns = keras_jax_padding(kw, sw, dw, padding, extra[1])
    padded = np.pad(dilated, ((0, 0), rows, columns, (0, 0)))
    flipped = w[::-1, ::-1].transpose(0, 1, 3, 2)  # (KH, KW, Cin, Cout)
    return reference_conv2d(padded, flipped, b, 1, "valid", (dh, dw))


TRANSPOSE_SWEEP = [
    (shape, k, s, d, p, op)
    for shape, k, (s, d), p, op in itertools.product(
        [(1, 3, 3, 1), (2, 3, 4, 3)],
        [(1, 1), (2, 2), (3, 3), (2, 3)],
        [(1, 1), (2, 1), ((2, 3), 1), (1, 2), (1, (2, 1))],
        ["valid", "same"],
        [None, 0, (1, 0)],
    )
    if op is None or all(e < t for e, t in zip(per_axis(op), as_pair(s, "s", "t"), strict=True))
]


def transpose_args(shape, k, rng, c_out=2):
    x = rng.standard_normal(shape)
    w = rng.standard_normal((*k, c_out, shape[-1]))
    b = rng.standard_normal(c_out)
    return x, w, b


@pytest.mark.parametrize(("shape", "k", "s", "d", "p", "op"), TRANSPOSE_SWEEP)
def test_transpose_values_sizes_and_gradcheck(shape, k, s, d, p, op, rng):
    x, w, b = transpose_args(shape, k, rng)
    out = ac.conv2d_transpose(x, w, b, stride=s, padding=p, output_padding=op, dilation=d)
    (sh, sw), (dh, dw) = as_pair(s, "s", "t"), as_pair(d, "d", "t")
    extra = per_axis(op)
    expected = (
        keras_transpose_size(shape[1], k[0], sh, dh, p, extra[0]),
        keras_transpose_size(shape[2], k[1], sw, dw, p, extra[1]),
    )
    assert out.shape == (shape[0], *expected, 2)
    np.testing.assert_allclose(
        out.data, reference_conv2d_transpose(x, w, b, s, p, op, d), atol=1e-12
    )
    assert gradcheck(lambda x, w, b: ac.conv2d_transpose(x, w, b, s, p, op, d), [x[:1], w, b])


@pytest.mark.parametrize(("shape", "k", "s", "d", "p", "op"), TRANSPOSE_SWEEP[::3])
def test_transpose_matches_torch(shape, k, s, d, p, op, rng, torch):
    """PyTorch's conv_transpose2d with no padding gives the largest output; Keras's is a
    window of it (zeros beyond it), the crop Keras's own torch backend makes."""
    x, w, b = transpose_args(shape, k, rng)
    ours = [ac.Tensor(a, requires_grad=True) for a in (x, w, b)]
    out = ac.conv2d_transpose(*ours, stride=s, padding=p, output_padding=op, dilation=d)
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    tw = torch.tensor(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), requires_grad=True)
    tb = torch.tensor(b, requires_grad=True)
    full = torch.nn.functional.conv_transpose2d(tx, tw, None, stride=s, dilation=d)
    crops = []
    for size, stride, dilation, extra in zip(
        k, as_pair(s, "s", "t"), as_pair(d, "d", "t"), per_axis(op), strict=True
    ):
        span = (size - 1) * dilation + 1
        left, right = keras_jax_padding(size, stride, dilation, p, extra)
        crops.append((span - 1 - left, span - 1 - right))
    (top, bottom), (left, right) = crops
    grown = torch.nn.functional.pad(full, (0, max(0, -right), 0, max(0, -bottom)))  # zeros
    ref = grown[:, :, top : top + out.shape[1], left : left + out.shape[2]] + tb[:, None, None]
    np.testing.assert_allclose(out.data, ref.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(ours[0].grad, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(ours[1].grad, tw.grad.numpy().transpose(2, 3, 1, 0), atol=1e-12)
    np.testing.assert_allclose(ours[2].grad, tb.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize(("s", "op", "d"), [(2, 1, 1), (3, 2, 1), (3, 1, 1), (1, 0, 2), (2, 0, 1)])
def test_transpose_valid_with_output_padding_is_torchs(s, op, d, rng, torch):
    """'valid' with an explicit output_padding is PyTorch's conv_transpose2d with the same
    output_padding and no padding."""
    x, w, b = transpose_args((2, 3, 4, 3), (3, 2), rng)
    out = ac.conv2d_transpose(x, w, b, stride=s, output_padding=op, dilation=d)
    ref = torch.nn.functional.conv_transpose2d(
        torch.tensor(x.transpose(0, 3, 1, 2)), torch.tensor(w.transpose(3, 2, 0, 1)),
        torch.tensor(b), stride=s, output_padding=op, dilation=d,
    )  # fmt: skip
    np.testing.assert_allclose(out.data, ref.numpy().transpose(0, 2, 3, 1), atol=1e-12)


@pytest.mark.parametrize(("s", "p", "d"), [(1, "valid", 1), (2, "same", 1), (1, "same", 2)])
def test_transpose_is_the_adjoint_of_conv2d(s, p, d, rng):
    """<conv2d(z, w), x> = <z, conv2d_transpose(x, w)> for z of the transposed output's size:
    with 'valid' and 'same' Keras's sizes make conv2d map that size back to x's."""
    x, w, _ = transpose_args((2, 4, 3, 3), (3, 2), rng)
    out = ac.conv2d_transpose(x, w, stride=s, padding=p, dilation=d)
    z = rng.standard_normal(out.shape)
    conv = ac.conv2d(z, w, stride=s, padding=p, dilation=d)
    assert conv.shape == x.shape
    np.testing.assert_allclose((conv.data * x).sum(), (z * out.data).sum(), rtol=1e-12)


def test_transpose_kernel_layout_is_keras(rng):
    """w is (KH, KW, Cout, Cin): a 1x1 transposed convolution is x @ w[0, 0].T."""
    x, w, _ = transpose_args((2, 3, 3, 4), (1, 1), rng, c_out=5)
    out = ac.conv2d_transpose(x, w)
    np.testing.assert_allclose(out.data, x @ w[0, 0].T, atol=1e-12)


def test_transpose_float32_in_float32_out(rng):
    x = ac.Tensor(rng.standard_normal((2, 3, 3, 2)).astype(np.float32), requires_grad=True)
    w = ac.Tensor(rng.standard_normal((3, 3, 4, 2)).astype(np.float32), requires_grad=True)
    b = ac.Tensor(np.zeros(4, np.float32), requires_grad=True)
    out = ac.conv2d_transpose(x, w, b, stride=2, padding="same")
    out.sum().backward()
    assert out.shape == (2, 6, 6, 4)
    assert out.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"x": np.zeros((4, 4, 3))}, r"x must be \(N, H, W, Cin\), got shape \(4, 4, 3\)"),
        ({"w": np.zeros((3, 3, 3))}, r"w must be \(KH, KW, Cout, Cin\)"),
        (
            {"w": np.zeros((3, 3, 3, 2))},
            "the number of input channels must match the kernel's input channels. "
            "Received: input channels=3, kernel input channels=2",
        ),
        ({"b": np.zeros(3)}, r"b must have shape \(2,\)"),
        ({"stride": 2, "output_padding": 2}, r"`output_padding` must be < `strides`"),
        ({"output_padding": 1}, r"`output_padding` must be < `strides`. output_padding=1"),
        ({"stride": 2, "output_padding": -1}, "output_padding must be None, a non-negative"),
        ({"stride": 2, "output_padding": (1, 1, 1)}, "output_padding must be None"),
        ({"stride": 2, "dilation": 2}, "stride .* together with dilation"),
        ({"padding": 1}, "padding must be 'valid' or 'same', got 1"),
        ({"padding": "causal"}, "padding must be 'valid' or 'same'"),
        ({"stride": 0}, "stride must be positive"),
        (
            {"x": np.zeros((1, 1, 1, 3)), "w": np.zeros((2, 2, 2, 3)), "padding": "same",
             "stride": 2, "output_padding": 0},
            "the output would be empty",
        ),
    ],
)  # fmt: skip
def test_transpose_bad_arguments_are_clear_value_errors(kwargs, message):
    args = {"x": np.zeros((2, 4, 4, 3)), "w": np.zeros((3, 3, 2, 3)), "b": None} | kwargs
    with pytest.raises(ValueError, match=f"conv2d_transpose: {message}"):
        ac.conv2d_transpose(**args)
