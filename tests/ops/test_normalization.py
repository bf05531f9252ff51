"""batch_norm and layer_norm: values against NumPy references, float64 gradchecks of every input
in training and inference mode, with the scale and offset on and off, 2-D and 4-D inputs and
several axes; PyTorch parity (outputs, gradients, the running statistics); the returned batch
statistics; float32 in -> float32 out, accurate on large batches; clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import autoconv as ac
from autoconv.ops import batch_norm, layer_norm
from autoconv.testing import GradcheckError, gradcheck

EPSILON = 1e-3


def reference_batch_norm(x, gamma, beta, axis, mean=None, variance=None):
    """Keras's formula in float64: statistics over every axis but ``axis``, biased variance."""
    reduced = tuple(d for d in range(x.ndim) if d != axis % x.ndim)
    if mean is None:
        mean, variance = x.mean(axis=reduced), x.var(axis=reduced)
    shape = [1] * x.ndim
    shape[axis] = -1
    out = (x - mean.reshape(shape)) / np.sqrt(variance.reshape(shape) + EPSILON)
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out, mean, variance


def reference_layer_norm(x, gamma, beta, axes, rms_scaling=False):
    mean, variance = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    out = (x if rms_scaling else x - mean) / np.sqrt(variance + EPSILON)
    kept = [n if d in axes else 1 for d, n in enumerate(x.shape)]
    if gamma is not None:
        out = out * gamma.reshape(kept)
    if beta is not None and not rms_scaling:
        out = out + beta.reshape(kept)
    return out


# ------------------------------------------------------------------------- batch_norm
# (shape, axis): features (N, C), channels-last images, channels-first images, an inner axis.
BATCH_NORM_CASES = [
    ((6, 3), -1),
    ((5, 4), 0),
    ((2, 3, 4, 3), -1),
    ((2, 3, 2, 4), 1),
    ((2, 3, 4, 2), 2),
]
PARAMETERS = [(True, True), (False, True), (True, False), (False, False)]  # (scale, center)


def draw_batch_norm(shape, axis, rng):
    """x, gamma, beta, moving mean and moving variance (all float64)."""
    channels = shape[axis]
    x = rng.standard_normal(shape) * 1.5 + 0.5
    gamma, beta = rng.uniform(0.5, 2.0, channels), rng.standard_normal(channels)
    return x, gamma, beta, rng.standard_normal(channels), rng.uniform(0.5, 2.0, channels)


def batch_norm_fn(axis, training, scale, center, moving):
    """fn(x, [gamma], [beta]) -> batch_norm's output, taking only the parameters in use."""

    def fn(x, *params):
        params = list(params)
        gamma = params.pop(0) if scale else None
        beta = params.pop(0) if center else None
        return batch_norm(x, gamma, beta, axis, EPSILON, training, *moving)[0]

    return fn


@pytest.mark.parametrize(("shape", "axis"), BATCH_NORM_CASES)
@pytest.mark.parametrize(("scale", "center"), PARAMETERS)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_values_and_gradcheck(shape, axis, scale, center, training, rng):
    x, gamma, beta, moving_mean, moving_variance = draw_batch_norm(shape, axis, rng)
    gamma, beta = (gamma if scale else None), (beta if center else None)
    moving = (moving_mean, moving_variance)
    out, mean, variance = batch_norm(x, gamma, beta, axis, EPSILON, training, *moving)
    expected = reference_batch_norm(x, gamma, beta, axis, *(() if training else moving))
    np.testing.assert_allclose(out.numpy(), expected[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean, expected[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(variance, expected[2], rtol=1e-12)
    params = [p for p in (gamma, beta) if p is not None]
    assert gradcheck(batch_norm_fn(axis, training, scale, center, moving), [x, *params])


def test_gradcheck_catches_a_batch_norm_vjp_that_ignores_the_statistics(monkeypatch, rng):
    """Training mode differs from inference exactly by the gradient through the statistics."""
    x, gamma, beta, *_ = draw_batch_norm((6, 3), -1, rng)
    backend = ac.backends.namespace("cpu")
    original = backend.batch_norm_backward
    monkeypatch.setattr(
        backend, "batch_norm_backward", lambda *args, **kw: original(*args[:-1], False, **kw)
    )
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda x, g, b: batch_norm(x, g, b)[0], [x, gamma, beta])


@pytest.mark.parametrize(("shape", "axis"), BATCH_NORM_CASES)
@pytest.mark.parametrize(("scale", "center"), PARAMETERS)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_with_relu_values_and_gradcheck(shape, axis, scale, center, training, rng):
    """relu=True: max(batch norm, 0), its gradient through the mask, and a bias added to x
    (float64 gradcheck of every input; the inputs keep off the kink: gradcheck's steps would
    cross it)."""
    x, gamma, beta, moving_mean, moving_variance = draw_batch_norm(shape, axis, rng)
    gamma, beta = (gamma if scale else None), (beta if center else None)
    bias = rng.standard_normal(shape[axis])
    moving = (moving_mean, moving_variance)
    out, *_ = batch_norm(x, gamma, beta, axis, EPSILON, training, *moving, relu=True, bias=bias)
    along = [1] * x.ndim
    along[axis] = -1
    summed = x + bias.reshape(along)
    expected = reference_batch_norm(summed, gamma, beta, axis, *(() if training else moving))[0]
    assert (expected < 0).any() and (expected > 0).any()
    np.testing.assert_allclose(out.numpy(), np.maximum(expected, 0), rtol=1e-12, atol=1e-12)
    if np.abs(expected).min() < 1e-4:
        pytest.skip("an output at the kink: gradcheck's steps would cross it")

    def fn(x, bias, *params):
        params = list(params)
        g = params.pop(0) if scale else None
        b = params.pop(0) if center else None
        return batch_norm(x, g, b, axis, EPSILON, training, *moving, relu=True, bias=bias)[0]

    assert gradcheck(fn, [x, bias, *(p for p in (gamma, beta) if p is not None)])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("relu", "biased"), [(True, False), (False, True), (True, True)])
def test_batch_norm_fused_is_the_ops_one_by_one_bit_for_bit(
    device, training, dtype, relu, biased, rng
):
    """With ``relu`` and ``bias`` the op's output and its gradients of x, gamma and beta are
    the same bits as relu(batch_norm(x + bias)) (the backward finds the forward's mask again
    from x), zeros, a NaN (kept, as maximum keeps it) and outputs at the kink included; the
    bias's gradient is the sum of x's (the broadcast add's, within rounding)."""
    if device == "cuda":
        pytest.importorskip("numba_cuda")
    x, gamma, beta, moving_mean, moving_variance = draw_batch_norm((6, 5, 3), -1, rng)
    bias = rng.standard_normal(3) if biased else np.zeros(3)
    x[1, 1, 2] = np.nan
    moving = (moving_mean.astype(dtype), moving_variance.astype(dtype))
    x[2, :, 1] = moving[0][1] - bias.astype(dtype)[1]  # outputs exactly 0 in inference: a kink
    beta[1] = 0
    upstream = rng.standard_normal(x.shape).astype(dtype)
    results = []
    for fused in (True, False):
        tensors = [ac.Tensor(a.astype(dtype), device=device, requires_grad=True)
                   for a in (x, gamma, beta, bias)]  # fmt: skip
        x_t, gamma_t, beta_t, bias_t = tensors
        if fused:
            out, *_ = batch_norm(x_t, gamma_t, beta_t, -1, EPSILON, training, *moving,
                                 relu=relu, bias=bias_t if biased else None)  # fmt: skip
        else:
            summed = x_t + bias_t if biased else x_t
            out, *_ = batch_norm(summed, gamma_t, beta_t, -1, EPSILON, training, *moving)
            out = ac.ops.relu(out) if relu else out
        (out * ac.Tensor(upstream, device=device)).sum().backward()
        xp = ac.backends.namespace(device)
        results.append([out.numpy(), *(xp.to_numpy(t.grad) for t in tensors[:3])])
        results[-1].append(xp.to_numpy(bias_t.grad) if biased else None)
    for got, want in zip(results[0][:4], results[1][:4], strict=True):
        np.testing.assert_array_equal(got, want)
    if biased:
        tolerance = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(results[0][4], results[1][4], rtol=tolerance, atol=tolerance)
    assert np.isnan(results[0][0][1, 1, 2])


def test_batch_statistics_are_the_mean_and_biased_variance_over_all_but_axis(rng):
    x = rng.standard_normal((4, 3, 5, 2)) * 3 + 7
    out, mean, variance = batch_norm(x, axis=1)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(variance, x.var(axis=(0, 2, 3)), rtol=1e-12)  # ddof=0
    assert isinstance(mean, np.ndarray) and mean.shape == variance.shape == (3,)
    normalized = out.numpy()
    np.testing.assert_allclose(normalized.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(normalized.var(axis=(0, 2, 3)), variance / (variance + EPSILON))


def test_inference_returns_the_moving_statistics_it_used(rng):
    x, gamma, beta, moving_mean, moving_variance = draw_batch_norm((4, 3), -1, rng)
    _, mean, variance = batch_norm(
        x, gamma, beta, training=False, moving_mean=moving_mean, moving_variance=moving_variance
    )
    np.testing.assert_array_equal(mean, moving_mean)
    np.testing.assert_array_equal(variance, moving_variance)


def test_moving_statistics_may_be_tensors_and_get_no_gradient(rng):
    x, gamma, beta, moving_mean, moving_variance = draw_batch_norm((4, 3), -1, rng)
    mean_t = ac.Tensor(moving_mean, requires_grad=True)
    variance_t = ac.Tensor(moving_variance, requires_grad=True)
    xt = ac.Tensor(x, requires_grad=True)
    out, *_ = batch_norm(xt, gamma, beta, -1, EPSILON, False, mean_t, variance_t)
    out.sum().backward()
    assert mean_t.grad is None and variance_t.grad is None and xt.grad is not None
    expected = reference_batch_norm(x, gamma, beta, -1, moving_mean, moving_variance)[0]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5), (1, 2, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch_with_its_running_statistics(shape, training, rng, torch):
    """torch.nn.functional.batch_norm on the channels-first layout, momentum = 1 - Keras's."""
    momentum = 0.99  # Keras's BatchNormalization default
    x, gamma, beta, moving_mean, moving_variance = draw_batch_norm(shape, -1, rng)
    weights = rng.standard_normal(shape)
    leaves = [ac.Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out, mean, variance = batch_norm(*leaves, -1, EPSILON, training, moving_mean, moving_variance)
    out.backward(weights)

    def channels_first(a):
        return torch.tensor(np.ascontiguousarray(np.moveaxis(a, -1, 1)))

    theirs = [channels_first(x), torch.tensor(gamma), torch.tensor(beta)]
    for t in theirs:
        t.requires_grad_()
    running_mean, running_var = torch.tensor(moving_mean), torch.tensor(moving_variance)
    torch_out = torch.nn.functional.batch_norm(
        theirs[0], running_mean, running_var, *theirs[1:], training, 1 - momentum, EPSILON
    )
    torch_out.backward(channels_first(weights))
    np.testing.assert_allclose(
        out.numpy(), np.moveaxis(torch_out.detach().numpy(), 1, -1), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        leaves[0].grad, np.moveaxis(theirs[0].grad.numpy(), 1, -1), rtol=1e-9, atol=1e-11
    )
    for ours, theirs_grad in zip(leaves[1:], theirs[1:], strict=True):
        np.testing.assert_allclose(ours.grad, theirs_grad.grad.numpy(), rtol=1e-10, atol=1e-12)

    if not training:
        np.testing.assert_array_equal(running_mean.numpy(), moving_mean)  # untouched
        return
    # Keras's update of the moving statistics, from what batch_norm returns:
    keras_mean = moving_mean * momentum + mean * (1 - momentum)
    keras_variance = moving_variance * momentum + variance * (1 - momentum)
    np.testing.assert_allclose(running_mean.numpy(), keras_mean, rtol=1e-12)
    # PyTorch's running variance takes the unbiased batch variance, Keras's the biased one.
    count = x.size // shape[-1]
    unbiased = variance * count / (count - 1)
    torch_variance = moving_variance * momentum + unbiased * (1 - momentum)
    np.testing.assert_allclose(running_var.numpy(), torch_variance, rtol=1e-12)
    assert not np.allclose(keras_variance, torch_variance, rtol=1e-6)


def test_float32_stays_float32(rng):
    x, gamma, beta, moving_mean, moving_variance = (
        a.astype(np.float32) for a in draw_batch_norm((3, 4, 5, 2), -1, rng)
    )
    for training in (True, False):
        leaves = [ac.Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
        out, mean, variance = batch_norm(
            *leaves, -1, EPSILON, training, moving_mean, moving_variance
        )
        out.backward(np.ones(x.shape, np.float32))
        assert out.dtype == mean.dtype == variance.dtype == np.float32
        assert all(leaf.grad.dtype == np.float32 for leaf in leaves)
        expected = reference_batch_norm(
            x.astype(np.float64),
            gamma,
            beta,
            -1,
            *(() if training else (moving_mean, moving_variance)),
        )[0]
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_float32_statistics_are_accurate_on_a_large_offset_batch(rng):
    """16,384 rows near 1000: float32 running sums would be off by whole units; the statistics
    come out within float32 rounding of the float64 ones of the same data, also when the first
    row (the CPU's shift) lies 100 standard deviations out."""
    x = (1000 + rng.standard_normal((16384, 4)) * 0.5).astype(np.float32)
    x[0] += 50
    out, mean, variance = batch_norm(x)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-7)
    np.testing.assert_allclose(variance, x64.var(axis=0), rtol=1e-6)
    expected = reference_batch_norm(x64, None, None, -1)[0]
    np.testing.assert_allclose(out.numpy(), expected, atol=5e-4)  # x's own float32 rounding


def test_batch_of_one_normalizes_to_beta():
    out, mean, variance = batch_norm(np.array([[3.0, -1.0]]), beta=np.array([0.5, 2.0]))
    np.testing.assert_array_equal(out.numpy(), [[0.5, 2.0]])
    np.testing.assert_array_equal(mean, [3.0, -1.0])
    np.testing.assert_array_equal(variance, [0.0, 0.0])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"x": np.ones(3)}, ValueError, r"batch_norm: x needs a batch axis and a channel axis"),
        ({"axis": 2}, ValueError, r"batch_norm: axis 2 is out of range for a tensor with 2 dims"),
        ({"gamma": np.ones(4)}, ValueError, r"batch_norm: gamma must have shape \(3,\)"),
        ({"beta": np.ones((1, 3))}, ValueError, r"batch_norm: beta must have shape \(3,\)"),
        ({"training": False}, ValueError, r"training=False needs moving_mean and moving_var"),
        (
            {"training": False, "moving_mean": np.zeros(3), "moving_variance": np.ones(2)},
            ValueError,
            r"moving_variance must have shape \(3,\)",
        ),
        ({"x": np.ones((0, 3))}, ValueError, r"batch_norm: x is empty"),
        (
            {"gamma": ac.Tensor(np.ones(3, np.float32))},  # against a float64 x
            TypeError,
            r"batch_norm: operands have different dtypes",
        ),
    ],
)
def test_batch_norm_errors_name_the_op(kwargs, error, message):
    kwargs = {"x": np.ones((2, 3))} | kwargs
    with pytest.raises(error, match=message):
        batch_norm(**kwargs)


# ------------------------------------------------------------------------- layer_norm
# (shape, axis): the last axis, trailing axes, inner and scattered axes, negative ones.
LAYER_NORM_CASES = [
    ((4, 5), -1),
    ((2, 3, 4), -1),
    ((2, 3, 2, 3), (1, 2, 3)),
    ((2, 3, 2, 3), (-2, -1)),
    ((2, 3, 2, 3), 1),
    ((2, 3, 2, 3), (3, 1)),
]


def spanned_shape(shape, axis):
    axes = sorted(a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis))
    return tuple(shape[a] for a in axes), tuple(axes)


@pytest.mark.parametrize(("shape", "axis"), LAYER_NORM_CASES)
@pytest.mark.parametrize(("scale", "center"), PARAMETERS)
def test_layer_norm_values_and_gradcheck(shape, axis, scale, center, rng):
    spanned, axes = spanned_shape(shape, axis)
    x = rng.standard_normal(shape) * 2 - 1
    gamma = rng.uniform(0.5, 2.0, spanned) if scale else None
    beta = rng.standard_normal(spanned) if center else None
    out = layer_norm(x, gamma, beta, axis)
    expected = reference_layer_norm(x, gamma, beta, axes)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)

    def fn(x, *params):
        params = list(params)
        return layer_norm(
            x, params.pop(0) if scale else None, params.pop(0) if center else None, axis
        )

    assert gradcheck(fn, [x, *(p for p in (gamma, beta) if p is not None)])


@pytest.mark.parametrize(("shape", "axis"), LAYER_NORM_CASES[:3])
def test_layer_norm_rms_scaling_is_keras_deprecated_variance_scaling(shape, axis, rng):
    spanned, axes = spanned_shape(shape, axis)
    x = rng.standard_normal(shape) + 1
    gamma = rng.uniform(0.5, 2.0, spanned)
    beta = rng.standard_normal(spanned)  # ignored, as in Keras
    out = layer_norm(x, gamma, beta, axis, rms_scaling=True)
    np.testing.assert_allclose(
        out.numpy(), reference_layer_norm(x, gamma, None, axes, rms_scaling=True), rtol=1e-12
    )
    assert gradcheck(lambda x, g: layer_norm(x, g, None, axis, rms_scaling=True), [x, gamma])


def test_layer_norm_takes_gamma_in_the_broadcast_shape_too(rng):
    x = rng.standard_normal((2, 3, 4))
    gamma, beta = rng.uniform(0.5, 2, (3, 4)), rng.standard_normal((3, 4))
    out = layer_norm(x, gamma[None], beta[None], (1, 2))
    np.testing.assert_allclose(out.numpy(), layer_norm(x, gamma, beta, (1, 2)).numpy())


@pytest.mark.parametrize(("shape", "axis"), LAYER_NORM_CASES[:4])
def test_layer_norm_matches_torch(shape, axis, rng, torch):
    spanned, _ = spanned_shape(shape, axis)
    x = rng.standard_normal(shape) * 2 - 1
    gamma, beta = rng.uniform(0.5, 2.0, spanned), rng.standard_normal(spanned)
    weights = rng.standard_normal(shape)
    leaves = [ac.Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    layer_norm(*leaves, axis).backward(weights)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    torch_out = torch.nn.functional.layer_norm(theirs[0], spanned, theirs[1], theirs[2], EPSILON)
    torch_out.backward(torch.tensor(weights))
    np.testing.assert_allclose(
        layer_norm(x, gamma, beta, axis).numpy(), torch_out.detach().numpy(), rtol=1e-10, atol=1e-12
    )
    for ours, t in zip(leaves, theirs, strict=True):
        np.testing.assert_allclose(ours.grad, t.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_layer_norm_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    gamma, beta = np.ones(5, np.float32), np.zeros(5, np.float32)
    leaves = [ac.Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out = layer_norm(*leaves)
    out.backward(np.ones(x.shape, np.float32))
    assert out.dtype == np.float32 and all(leaf.grad.dtype == np.float32 for leaf in leaves)
    expected = reference_layer_norm(x.astype(np.float64), None, None, (2,))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"gamma": np.ones(4)}, ValueError, r"layer_norm: gamma must have shape \(3,\)"),
        (
            {"axis": (1, 2), "beta": np.ones(3)},
            ValueError,
            r"beta must have shape \(4, 3\) \(or \(1, 4, 3\)\)",
        ),
        ({"axis": (1, -2)}, ValueError, r"layer_norm: repeated axis"),
        ({"axis": 3}, ValueError, r"layer_norm: axis 3 is out of range"),
        ({"axis": None}, TypeError, r"layer_norm: axis must be an int or a tuple"),
    ],
)
def test_layer_norm_errors_name_the_op(kwargs, error, message):
    kwargs = {"x": np.ones((2, 4, 3)), "axis": -1} | kwargs
    with pytest.raises(error, match=message):
        layer_norm(**kwargs)
